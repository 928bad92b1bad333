//! Which topics exist, and which may be created on first use.
//!
//! A client asks PARTITIONED_METADATA before it looks a topic up, and a
//! topic is loaded on its first PRODUCER or SUBSCRIBE. Both go through
//! [`TopicCatalog`]:
//!
//! - a topic of a tenant or namespace that does not exist is
//!   `TopicNotFound` at once (not retryable), never "try again";
//! - a partitioned topic answers its count; a topic that does not exist is
//!   created as the auto-creation rules say (the namespace's override, else
//!   the broker's default): as a partitioned topic of the default count, as
//!   a non-partitioned one, or not at all (`TopicNotFound` when it is used);
//! - a partition loads only while its index is below the count, never
//!   created on its own, and the base name of a partitioned topic is not a
//!   topic of its own.

use std::sync::Arc;

use crate::managed_ledger::ManagedLedgerFactory;
use crate::namespace::{
    AutoTopicCreation, CompatibilityStrategy, ExpiryDefaults, NamespaceError, PolicyStore,
};
use crate::schema::SchemaRegistry;

use super::{TopicError, TopicName};

/// The broker's defaults for topic policies a namespace may override.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicDefaults {
    /// Whether and how topics are created on first use.
    pub auto_topic_creation: AutoTopicCreation,
    /// Message deduplication (Pulsar's `brokerDeduplicationEnabled`, off).
    pub deduplication: bool,
    /// A deduplicating topic that took messages since its last snapshot
    /// and none for this long is snapshotted (Pulsar's
    /// `brokerDeduplicationSnapshotIntervalSeconds`); `None`: only every
    /// [`crate::producer::SNAPSHOT_INTERVAL`] entries.
    pub deduplication_snapshot_interval: Option<std::time::Duration>,
    /// How new schema versions are checked (Pulsar's
    /// `schemaCompatibilityStrategy`, FULL).
    pub schema_compatibility: CompatibilityStrategy,
    /// Subscription expiry and inactive-topic deletion (off by default).
    pub expiry: ExpiryDefaults,
}

pub struct TopicCatalog {
    policies: PolicyStore,
    factory: Arc<ManagedLedgerFactory>,
    defaults: TopicDefaults,
    schemas: SchemaRegistry,
}

impl TopicCatalog {
    pub fn new(
        policies: PolicyStore,
        factory: Arc<ManagedLedgerFactory>,
        defaults: TopicDefaults,
    ) -> Self {
        TopicCatalog {
            schemas: SchemaRegistry::new(policies.clone(), defaults.schema_compatibility),
            policies,
            factory,
            defaults,
        }
    }

    /// The topics' schemas.
    pub fn schemas(&self) -> &SchemaRegistry {
        &self.schemas
    }

    /// Whether `topic`'s producers are deduplicated: the namespace's
    /// `deduplicationEnabled`, else the broker's default.
    pub async fn deduplication(&self, topic: &TopicName) -> Result<bool, TopicError> {
        let policies = self
            .policies
            .namespace_policies(topic.namespace())
            .await
            .map_err(|e| namespace_error(topic, e))?;
        Ok(policies
            .deduplication_enabled
            .unwrap_or(self.defaults.deduplication))
    }

    /// The broker's defaults for what namespaces do not set.
    pub fn defaults(&self) -> &TopicDefaults {
        &self.defaults
    }

    pub fn policies(&self) -> &PolicyStore {
        &self.policies
    }

    /// The auto-creation rules for `topic`'s namespace; `TopicNotFound`
    /// when the namespace does not exist.
    pub async fn auto_creation(&self, topic: &TopicName) -> Result<AutoTopicCreation, TopicError> {
        self.policies
            .auto_topic_creation(topic.namespace(), self.defaults.auto_topic_creation)
            .await
            .map_err(|e| namespace_error(topic, e))
    }

    /// The answer to PARTITIONED_METADATA: the partition count, 0 for a
    /// non-partitioned topic (or a partition). With `create`, a topic that
    /// does not exist becomes partitioned here when the rules say so.
    pub async fn partitions(&self, topic: &TopicName, create: bool) -> Result<u32, TopicError> {
        let rules = self.auto_creation(topic).await?;
        if topic.partition_index().is_some() {
            return Ok(0);
        }
        if let Some(stored) = self.stored_partitions(topic).await? {
            return Ok(stored);
        }
        let Some(count) = rules.partitions_on_create().filter(|&n| n > 0 && create) else {
            return Ok(0);
        };
        if self.factory.exists(&topic.persistence_name()).await? {
            return Ok(0);
        }
        match self.policies.create_partitioned_topic(topic, count).await {
            Ok(()) => {
                tracing::info!(%topic, partitions = count, "auto-created partitioned topic");
                Ok(count)
            }
            // Created concurrently by another client or broker.
            Err(NamespaceError::AlreadyExists(_)) => {
                Ok(self.stored_partitions(topic).await?.unwrap_or(0))
            }
            Err(error) => Err(namespace_error(topic, error)),
        }
    }

    /// Checks that `topic` may be loaded: it exists, or the rules let it be
    /// created now.
    pub async fn admit(&self, topic: &TopicName) -> Result<(), TopicError> {
        let rules = self.auto_creation(topic).await?;
        if let Some(index) = topic.partition_index() {
            // A partition loads only while its partitioned topic has it:
            // never created on its own, and a partitioned topic being
            // deleted is not brought back by its clients reconnecting.
            let base = topic.partitioned_topic();
            return match self.stored_partitions(&base).await? {
                Some(count) if index < count => Ok(()),
                Some(count) => Err(TopicError::TopicNotFound(format!(
                    "{topic}: {base} has {count} partitions"
                ))),
                None => Err(TopicError::TopicNotFound(format!(
                    "{topic}: {base} is not a partitioned topic"
                ))),
            };
        }
        if self.stored_partitions(topic).await?.is_some() {
            return Err(TopicError::InvalidRequest(format!(
                "{topic} is a partitioned topic: use its partitions"
            )));
        }
        if rules.allow_auto_topic_creation || self.factory.exists(&topic.persistence_name()).await?
        {
            Ok(())
        } else {
            Err(TopicError::TopicNotFound(format!(
                "topic {topic} does not exist and auto-creation is off in {}",
                topic.namespace()
            )))
        }
    }

    async fn stored_partitions(&self, topic: &TopicName) -> Result<Option<u32>, TopicError> {
        Ok(self
            .policies
            .partitioned_topic(topic)
            .await
            .map_err(|e| namespace_error(topic, e))?
            .map(|metadata| metadata.partitions))
    }
}

/// A missing tenant or namespace is the client's `TopicNotFound`.
fn namespace_error(topic: &TopicName, error: NamespaceError) -> TopicError {
    match error {
        NamespaceError::TenantNotFound(_) | NamespaceError::NamespaceNotFound(_) => {
            TopicError::TopicNotFound(format!("{topic}: {error}"))
        }
        other => TopicError::Namespace(other),
    }
}
