//! The expiry policies on a loaded topic (`namespace/expiry.rs`): durable
//! subscriptions without consumers for longer than the expiration time are
//! deleted, and a topic without clients for longer than its inactive-topic
//! policy allows is deleted by the registry's policy pass.
//!
//! Deleting an inactive topic never drops what a client was promised: the
//! topic is closed first (nothing attaches or writes after that), and it
//! is deleted only if no entry was added since it was found inactive and
//! its subscriptions still allow it. A retention time keeps the topic
//! until the messages it holds are past it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::compaction::compacted_ledgers;
use crate::managed_ledger::now_millis;
use crate::namespace::{ExpiryLimits, InactiveTopicDeleteMode};
use crate::producer::DEDUP_CURSOR;
use crate::replication::REPLICATED_PROPERTY;

use super::{is_internal_cursor, PersistentTopic, TopicError, TopicRegistry};

impl PersistentTopic {
    /// The namespace's expiry policies, with the broker's where it sets none.
    pub fn expiry(&self) -> ExpiryLimits {
        let limits = self.limits();
        ExpiryLimits::resolve(
            limits.subscription_expiration_minutes,
            limits.inactive_topics,
            self.expiry_defaults(),
        )
    }

    /// A producer or consumer attached or left.
    pub(super) fn mark_used(&self) {
        self.last_used().store(now_millis(), Ordering::Relaxed);
    }

    /// Deletes the durable subscriptions (not the broker's own cursors, not
    /// replicated ones) that had no consumer for longer than the
    /// expiration time.
    pub async fn expire_subscriptions(&self) {
        let Some(expiration) = self.expiry().subscription_expiration else {
            return;
        };
        let now = now_millis();
        for name in self.ledger().cursor_names() {
            let Some(cursor) = self.ledger().cursor(&name) else {
                continue;
            };
            let replicated = cursor
                .properties()
                .get(REPLICATED_PROPERTY)
                .is_some_and(|v| v == "true");
            if is_internal_cursor(&name) || !cursor.is_durable() || replicated {
                continue;
            }
            if let Some(subscription) = self.subscription(&name).await {
                if subscription.consumers().iter().any(|c| !c.is_closed()) {
                    continue;
                }
            }
            let idle = now.saturating_sub(cursor.last_active());
            if u128::from(idle) <= expiration.as_millis() {
                continue;
            }
            match self.delete_subscription(&name, false).await {
                Ok(()) => {
                    tracing::info!(topic = %self.name(), subscription = name, idle_ms = idle, "subscription expired");
                }
                // A consumer attached meanwhile.
                Err(TopicError::SubscriptionBusy { .. }) => {}
                Err(error) => {
                    tracing::warn!(topic = %self.name(), subscription = name, %error, "expiring a subscription failed");
                }
            }
        }
    }

    /// Whether the subscriptions let `mode` delete the topic: none at all,
    /// or (caught up) none with a backlog. The deduplication cursor is the
    /// broker's own and does not count.
    fn subscriptions_allow(&self, mode: InactiveTopicDeleteMode) -> bool {
        let mut cursors = self
            .ledger()
            .cursor_names()
            .into_iter()
            .filter(|name| name != DEDUP_CURSOR)
            .filter_map(|name| self.ledger().cursor(&name));
        match mode {
            InactiveTopicDeleteMode::DeleteWhenNoSubscriptions => cursors.next().is_none(),
            InactiveTopicDeleteMode::DeleteWhenSubscriptionsCaughtUp => {
                cursors.all(|c| c.backlog() == 0)
            }
        }
    }

    /// Whether the topic is due for deletion as inactive: no producer or
    /// consumer for longer than the policy's time, subscriptions that
    /// allow it, and no retention time holding its messages.
    async fn inactive_and_due(&self) -> Option<InactiveTopicDeleteMode> {
        let policy = self.expiry().inactive_topics;
        let max_inactive = policy.max_inactive()?;
        if self.is_closing() {
            return None;
        }
        if self.session_count().await > 0 {
            self.mark_used();
            return None;
        }
        let idle = now_millis().saturating_sub(self.last_used().load(Ordering::Relaxed));
        if u128::from(idle) <= max_inactive.as_millis() {
            return None;
        }
        if let Some(retention) = self.limits().retention {
            let held = match retention.time() {
                // Kept for ever.
                None => retention.retention_time_in_minutes < 0,
                Some(time) => u128::from(idle) <= time.as_millis(),
            };
            if held {
                return None;
            }
        }
        let mode = policy.inactive_topic_delete_mode;
        self.subscriptions_allow(mode).then_some(mode)
    }
}

impl TopicRegistry {
    /// Deletes `topic` if its inactive-topic policy says so. The topic is
    /// closed first; it is deleted only if nothing was added meanwhile and
    /// its subscriptions still allow it, and it stays in the registry
    /// (closing) until then, so a client that comes meanwhile is asked to
    /// retry rather than given the topic being deleted.
    pub(super) async fn delete_if_inactive(&self, topic: &Arc<PersistentTopic>) {
        let Some(mode) = topic.inactive_and_due().await else {
            return;
        };
        let before = topic.ledger().last_confirmed();
        topic.close().await;
        let name = topic.name().clone();
        if topic.ledger().last_confirmed() != before || !topic.subscriptions_allow(mode) {
            tracing::info!(topic = %name, "inactive topic was used while closing: unloaded, kept");
        } else {
            let deleted = self
                .factory()
                .delete_with(&name.persistence_name(), compacted_ledgers)
                .await;
            match deleted {
                Ok(()) => tracing::info!(topic = %name, "deleted inactive topic"),
                Err(error) => {
                    tracing::warn!(topic = %name, %error, "deleting an inactive topic failed")
                }
            }
        }
        self.forget(&name.to_string(), topic);
    }
}
