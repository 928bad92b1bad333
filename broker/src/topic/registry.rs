//! The topics loaded on this broker.
//!
//! Topics load lazily on first use, once the catalog admits them
//! (`catalog.rs`: they exist, or auto-creation allows them): loading opens the
//! topic's managed ledger through the factory, which is where recovery and
//! fencing of the previous owner happen. Concurrent first uses of a topic
//! share one load; a failed load is not cached and is retried on next use.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::OnceCell;

use crate::compaction::TopicCompaction;
use crate::dispatch::DispatchConfig;
use crate::managed_ledger::ManagedLedgerFactory;
use crate::namespace::PolicyStore;
use crate::replication::{ReplicationConfig, ReplicationContext};

use super::{
    retention_of, PersistentTopic, TopicCatalog, TopicDefaults, TopicDomain, TopicError, TopicName,
};

type TopicSlot = Arc<OnceCell<Arc<PersistentTopic>>>;

/// Topics closed at once by an unload.
const CLOSE_CONCURRENCY: usize = 64;

pub struct TopicRegistry {
    factory: Arc<ManagedLedgerFactory>,
    catalog: TopicCatalog,
    topics: parking_lot::Mutex<HashMap<String, TopicSlot>>,
    dispatch: DispatchConfig,
    replication: Arc<ReplicationContext>,
}

impl TopicRegistry {
    /// Topics follow `defaults` (auto-creation, deduplication) unless
    /// their namespace overrides them, and replicate as `replication` says.
    pub fn new(
        factory: Arc<ManagedLedgerFactory>,
        dispatch: DispatchConfig,
        defaults: TopicDefaults,
        replication: ReplicationConfig,
    ) -> Self {
        let policies = PolicyStore::new(factory.metadata().clone());
        TopicRegistry {
            replication: Arc::new(ReplicationContext {
                config: replication,
                policies: policies.clone(),
            }),
            catalog: TopicCatalog::new(policies, factory.clone(), defaults),
            factory,
            topics: parking_lot::Mutex::new(HashMap::new()),
            dispatch,
        }
    }

    pub fn factory(&self) -> &Arc<ManagedLedgerFactory> {
        &self.factory
    }

    /// How topics replicate to other clusters.
    pub fn replication(&self) -> &ReplicationConfig {
        &self.replication.config
    }

    /// Which topics exist and may be created.
    pub fn catalog(&self) -> &TopicCatalog {
        &self.catalog
    }

    /// The loaded topic, loading (and creating) it if needed.
    pub async fn get_or_load(&self, name: &TopicName) -> Result<Arc<PersistentTopic>, TopicError> {
        if name.domain() != TopicDomain::Persistent {
            return Err(TopicError::NotSupported("non-persistent topics"));
        }
        let key = name.to_string();
        let slot = self.topics.lock().entry(key.clone()).or_default().clone();
        let topic = slot
            .get_or_try_init(|| async {
                self.catalog.admit(name).await?;
                let limits = self
                    .catalog
                    .policies()
                    .namespace_policies(name.namespace())
                    .await
                    .map(|policies| policies.topic_limits())
                    .map_err(TopicError::Namespace)?;
                let ledger = self
                    .factory
                    .open_with(&name.persistence_name(), retention_of(limits.retention))
                    .await?;
                tracing::info!(topic = %name, "loaded topic");
                let compaction = TopicCompaction::open(
                    ledger.clone(),
                    self.factory.ledger_store().clone(),
                    self.factory.config(),
                )
                .await;
                let topic = PersistentTopic::new(
                    name.clone(),
                    ledger,
                    self.dispatch,
                    self.catalog.defaults().expiry,
                    self.replication.clone(),
                    compaction,
                );
                topic
                    .replicators()
                    .open_cursors(&limits.replication_clusters)
                    .await?;
                topic.set_limits(limits);
                Ok::<_, TopicError>(Arc::new(topic))
            })
            .await?
            .clone();
        if topic.is_closing() {
            self.forget(&key, &topic);
            return Err(TopicError::Closing(key));
        }
        Ok(topic)
    }

    /// The topic if it is loaded.
    pub fn get(&self, name: &TopicName) -> Option<Arc<PersistentTopic>> {
        self.topics
            .lock()
            .get(&name.to_string())
            .and_then(|slot| slot.get().cloned())
    }

    pub fn loaded(&self) -> Vec<Arc<PersistentTopic>> {
        self.topics
            .lock()
            .values()
            .filter_map(|slot| slot.get().cloned())
            .collect()
    }

    /// Closes and forgets a topic (unload); `false` when it was not loaded.
    pub async fn unload(&self, name: &TopicName) -> bool {
        let Some(topic) = self.get(name) else {
            return false;
        };
        topic.close().await;
        self.forget(&name.to_string(), &topic);
        true
    }

    /// Unloads every loaded topic matching `predicate` (bundle unload),
    /// closing them concurrently.
    pub async fn unload_matching(&self, predicate: impl Fn(&TopicName) -> bool) -> usize {
        let doomed: Vec<_> = self
            .loaded()
            .into_iter()
            .filter(|t| predicate(t.name()))
            .collect();
        futures::stream::iter(&doomed)
            .for_each_concurrent(CLOSE_CONCURRENCY, |topic| async move {
                topic.close().await;
                self.forget(&topic.name().to_string(), topic);
            })
            .await;
        doomed.len()
    }

    /// Unloads everything (broker shutdown).
    pub async fn close_all(&self) -> usize {
        self.unload_matching(|_| true).await
    }

    pub(super) fn forget(&self, key: &str, topic: &Arc<PersistentTopic>) {
        let mut topics = self.topics.lock();
        let same = topics
            .get(key)
            .and_then(|slot| slot.get())
            .is_some_and(|t| Arc::ptr_eq(t, topic));
        if same {
            topics.remove(key);
        }
    }
}
