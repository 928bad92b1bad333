//! Topics: the per-topic object (managed ledger, producers,
//! subscriptions), the catalog of which topics exist or may be created,
//! the registry of loaded topics and the ownership check
//! that decides which topics this broker may serve.

mod catalog;
mod error;
pub mod ownership;
mod persistent;
mod producers;
mod registry;
mod subscription;

/// Topic names are parsed in one place, next to namespaces and bundles.
pub use crate::namespace::{TopicDomain, TopicName, TopicNameError};
pub use catalog::{TopicCatalog, TopicDefaults};
pub use error::TopicError;
pub use ownership::{BrokerTarget, LocalOwnership, LookupAnswer, OwnershipError, TopicOwnership};
pub use persistent::{CursorStart, PersistentTopic, ProducerAdmission, TOPIC_EPOCH_PROPERTY};
pub use producers::AccessMode;
pub use registry::TopicRegistry;
pub use subscription::Subscription;
