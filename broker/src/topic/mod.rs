//! Topics: the per-topic object (managed ledger, producers,
//! subscriptions), the registry of loaded topics and the ownership check
//! that decides which topics this broker may serve.

mod error;
pub mod ownership;
mod persistent;
mod registry;
mod subscription;

/// Topic names are parsed in one place, next to namespaces and bundles.
pub use crate::namespace::{TopicDomain, TopicName, TopicNameError};
pub use error::TopicError;
pub use ownership::{BrokerTarget, LocalOwnership, LookupAnswer, OwnershipError, TopicOwnership};
pub use persistent::{CursorStart, PersistentTopic};
pub use registry::TopicRegistry;
pub use subscription::Subscription;
