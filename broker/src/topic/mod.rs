//! Topics: the per-topic object (managed ledger, producers,
//! subscriptions), the catalog of which topics exist or may be created,
//! the registry of loaded topics, their stats, the namespace policies
//! they enforce (`limits.rs`, `expiry.rs`), termination (`terminate.rs`),
//! compaction (`compaction.rs`), the recent history the console plots
//! (`history.rs`)
//! and the ownership check that decides which topics this broker may serve.

mod catalog;
mod compaction;
mod error;
mod expiry;
mod history;
mod limits;
pub mod ownership;
mod persistent;
mod producers;
mod registry;
mod stats;
mod subscription;
mod terminate;

use crate::compaction::COMPACTION_CURSOR;
use crate::producer::DEDUP_CURSOR;
use crate::replication::is_replicator_name;

/// Topic names are parsed in one place, next to namespaces and bundles.
pub use crate::namespace::{TopicDomain, TopicName, TopicNameError};
pub use catalog::{TopicCatalog, TopicDefaults};
pub use error::TopicError;
pub use history::{
    RateHistory, SubscriptionHistory, TopicHistory, HISTORY_INTERVAL, HISTORY_POINTS,
};
pub use limits::{retention_of, QuotaBreach};
pub use ownership::{BrokerTarget, LocalOwnership, LookupAnswer, OwnershipError, TopicOwnership};
pub use persistent::{CursorStart, PersistentTopic, ProducerAdmission, TOPIC_EPOCH_PROPERTY};
pub use producers::AccessMode;
pub use registry::TopicRegistry;
pub use stats::{
    subscription_stats, ConsumerStats, PublisherStats, SubscriptionStats, TopicSnapshot,
    RATE_INTERVAL,
};
pub use subscription::Subscription;

/// Whether a cursor is the broker's own (deduplication snapshots, a
/// replicator, compaction) rather than a subscription: never listed, never subscribed to.
pub fn is_internal_cursor(name: &str) -> bool {
    name == DEDUP_CURSOR || name == COMPACTION_CURSOR || is_replicator_name(name)
}
