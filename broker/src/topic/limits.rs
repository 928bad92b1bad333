//! A namespace's topic limits on a loaded topic: retention handed to the
//! managed ledger, the message TTL, backlog quotas, and the caps on
//! producers and consumers; and the policy task that reads every loaded
//! topic's namespace policies periodically and enforces them.
//!
//! Caps and quotas are checked when a producer or consumer attaches. The
//! task also expires messages past the TTL (every durable subscription
//! acknowledges them) and acts on an exceeded backlog quota: producers are
//! disconnected (their reconnect is refused until the backlog shrinks), or
//! with `consumer_backlog_eviction` the slowest subscriptions skip their
//! oldest messages. The same pass applies the expiry policies
//! (`expiry.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::compaction::COMPACTION_CURSOR;
use crate::managed_ledger::{now_millis, ManagedCursor, Retention};
use crate::namespace::{
    BacklogQuota, BacklogQuotaPolicy, BacklogQuotaType, RetentionPolicies, TopicLimits,
};
use crate::producer::DEDUP_CURSOR;

use super::{PersistentTopic, TopicError, TopicRegistry};

/// The managed ledger's retention for a namespace's policy (`None`: keep
/// nothing consumed).
pub fn retention_of(policies: Option<RetentionPolicies>) -> Retention {
    policies.map_or_else(Retention::default, |p| Retention {
        time: p.time(),
        size_bytes: p.size_bytes(),
    })
}

/// An exceeded quota and why.
#[derive(Debug, Clone)]
pub struct QuotaBreach {
    pub kind: BacklogQuotaType,
    pub quota: BacklogQuota,
    pub reason: String,
}

impl PersistentTopic {
    /// The durable subscriptions' cursors (not the deduplication or the
    /// compaction cursor).
    fn subscription_cursors(&self) -> Vec<Arc<ManagedCursor>> {
        self.ledger()
            .cursor_names()
            .into_iter()
            .filter(|name| name != DEDUP_CURSOR && name != COMPACTION_CURSOR)
            .filter_map(|name| self.ledger().cursor(&name))
            .collect()
    }

    /// Applies the namespace's limits (retention and replication at once,
    /// the rest at the next check).
    pub fn set_limits(&self, limits: TopicLimits) {
        self.ledger().set_retention(retention_of(limits.retention));
        if !self.is_closing() {
            self.replicators().reconcile(&limits.replication_clusters);
        }
        *self.limits_cell().lock() = limits;
    }

    pub fn limits(&self) -> TopicLimits {
        self.limits_cell().lock().clone()
    }

    /// Refuses a producer beyond `maxProducersPerTopic` or while a
    /// producer-blocking backlog quota is exceeded.
    pub(super) async fn admit_producer(&self) -> Result<(), TopicError> {
        let limits = self.limits();
        if limits
            .max_producers
            .is_some_and(|max| self.producer_count() >= max as usize)
        {
            return Err(TopicError::ProducerLimit(self.name().to_string()));
        }
        let blocks_producers =
            |q: &BacklogQuota| q.policy != BacklogQuotaPolicy::ConsumerBacklogEviction;
        if let Some(breach) = self.quota_breach(&limits, blocks_producers).await {
            let hold = breach.quota.policy == BacklogQuotaPolicy::ProducerRequestHold;
            return Err(TopicError::BacklogQuotaExceeded {
                topic: self.name().to_string(),
                reason: breach.reason,
                hold,
            });
        }
        Ok(())
    }

    /// Refuses a consumer beyond `maxConsumersPerTopic`.
    pub(super) async fn admit_consumer(&self) -> Result<(), TopicError> {
        let Some(max) = self.limits().max_consumers else {
            return Ok(());
        };
        let attached: usize = self
            .subscriptions()
            .await
            .iter()
            .map(|s| s.consumers().iter().filter(|c| !c.is_closed()).count())
            .sum();
        if attached >= max as usize {
            return Err(TopicError::ConsumerLimit(self.name().to_string()));
        }
        Ok(())
    }

    /// The first backlog quota, among those `applies` picks, that the
    /// slowest subscription exceeds.
    pub async fn quota_breach(
        &self,
        limits: &TopicLimits,
        applies: impl Fn(&BacklogQuota) -> bool,
    ) -> Option<QuotaBreach> {
        if limits.backlog_quotas.is_empty() {
            return None;
        }
        let cursors = self.subscription_cursors();
        for (&kind, &quota) in limits.backlog_quotas.iter().filter(|(_, q)| applies(q)) {
            let reason = match kind {
                BacklogQuotaType::DestinationStorage => {
                    let Ok(limit) = u64::try_from(quota.limit_size) else {
                        continue;
                    };
                    let largest = cursors.iter().map(|c| c.backlog_bytes()).max().unwrap_or(0);
                    (largest > limit)
                        .then(|| format!("backlog of {largest} bytes over the limit of {limit}"))
                }
                BacklogQuotaType::MessageAge => {
                    let Ok(limit) = u64::try_from(quota.limit_time) else {
                        continue;
                    };
                    let Some(oldest) = self.oldest_unacked_publish_time(&cursors).await else {
                        continue;
                    };
                    let age = now_millis().saturating_sub(oldest) / 1000;
                    (age > limit).then(|| {
                        format!("oldest unacknowledged message is {age} s old, over {limit} s")
                    })
                }
            };
            if let Some(reason) = reason {
                return Some(QuotaBreach {
                    kind,
                    quota,
                    reason,
                });
            }
        }
        None
    }

    async fn oldest_unacked_publish_time(&self, cursors: &[Arc<ManagedCursor>]) -> Option<u64> {
        let first = cursors.iter().filter_map(|c| c.first_unacked()).min()?;
        let entry = self.ledger().read_entry(first).await.ok()?;
        magnetar_proto::pulsar::decode_metadata(&entry.data)
            .ok()
            .map(|metadata| metadata.publish_time)
    }

    /// Applies the unacknowledged limit to the subscriptions, expires
    /// unused subscriptions and messages past the TTL, and acts on an
    /// exceeded quota.
    pub async fn enforce_limits(&self) {
        let max_unacked = self.max_unacked_per_subscription();
        for subscription in self.subscriptions().await {
            subscription.dispatcher().set_max_unacked(max_unacked);
        }
        self.expire_subscriptions().await;
        let limits = self.limits();
        if let Some(ttl) = limits.message_ttl {
            self.expire_older_than(ttl).await;
        }
        let Some(breach) = self.quota_breach(&limits, |_| true).await else {
            return;
        };
        match breach.quota.policy {
            BacklogQuotaPolicy::ProducerRequestHold | BacklogQuotaPolicy::ProducerException => {
                let producers = self.producers();
                if !producers.is_empty() {
                    tracing::info!(topic = %self.name(), reason = %breach.reason, "backlog quota exceeded: disconnecting producers");
                }
                for producer in producers {
                    producer.close_by_broker();
                    self.remove_producer(&producer);
                }
            }
            BacklogQuotaPolicy::ConsumerBacklogEviction => {
                tracing::info!(topic = %self.name(), reason = %breach.reason, "backlog quota exceeded: evicting the oldest backlog");
                match breach.kind {
                    BacklogQuotaType::DestinationStorage => {
                        let limit = u64::try_from(breach.quota.limit_size).unwrap_or(0);
                        for cursor in self.subscription_cursors() {
                            cursor.evict_to_size(limit);
                        }
                    }
                    BacklogQuotaType::MessageAge => {
                        let age = u64::try_from(breach.quota.limit_time).unwrap_or(0);
                        self.expire_older_than(Duration::from_secs(age)).await;
                    }
                }
            }
        }
    }

    /// Every durable subscription acknowledges the messages published
    /// more than `age` ago.
    async fn expire_older_than(&self, age: Duration) {
        let cursors = self.subscription_cursors();
        if cursors.iter().all(|c| c.backlog() == 0) {
            return;
        }
        let before = now_millis().saturating_sub(age.as_millis() as u64);
        match self.ledger().find_by_publish_time(before).await {
            Ok(first_kept) => {
                for cursor in cursors {
                    cursor.ack_before(first_kept);
                }
            }
            Err(error) => {
                tracing::warn!(topic = %self.name(), %error, "message expiry could not read the topic");
            }
        }
    }
}

impl TopicRegistry {
    /// Reads the namespace policies of every loaded topic and enforces
    /// them, each `interval`, until the registry is dropped.
    pub fn start_policy_task(self: &Arc<Self>, interval: Duration) {
        let registry: Weak<TopicRegistry> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(registry) = registry.upgrade() else {
                    return;
                };
                registry.apply_policies().await;
            }
        });
    }

    /// One pass of the policy task: each namespace's policies are read
    /// once.
    pub async fn apply_policies(&self) {
        let mut by_namespace: HashMap<String, Option<TopicLimits>> = HashMap::new();
        for topic in self.loaded() {
            let namespace = topic.name().namespace().clone();
            let key = namespace.to_string();
            if !by_namespace.contains_key(&key) {
                let limits = match self
                    .catalog()
                    .policies()
                    .namespace_policies(&namespace)
                    .await
                {
                    Ok(policies) => Some(policies.topic_limits()),
                    Err(error) => {
                        tracing::debug!(%namespace, %error, "namespace policies unreadable; limits unchanged");
                        None
                    }
                };
                by_namespace.insert(key.clone(), limits);
            }
            if let Some(Some(limits)) = by_namespace.get(&key) {
                topic.set_limits(limits.clone());
            }
            topic.enforce_limits().await;
            topic.compact_if_over_threshold();
            self.delete_if_inactive(&topic).await;
        }
    }
}
