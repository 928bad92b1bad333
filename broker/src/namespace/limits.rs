//! Namespace policies that limit topics, with Pulsar's JSON names and
//! meanings: retention of consumed messages, message TTL, backlog quotas,
//! and the most producers and consumers a topic takes. [`TopicLimits`] is
//! what a namespace's policies say for each of its topics; the topic layer
//! enforces it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::expiry::InactiveTopicPolicies;
use super::NamespaceError;

/// How long and how much consumed data is kept (Pulsar's
/// `RetentionPolicies`): `-1` is no limit, `0` keeps nothing. A consumed
/// ledger is deleted once it is past either limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionPolicies {
    pub retention_time_in_minutes: i32,
    #[serde(rename = "retentionSizeInMB")]
    pub retention_size_in_mb: i64,
}

impl RetentionPolicies {
    pub fn validate(&self) -> Result<(), NamespaceError> {
        if self.retention_time_in_minutes < -1 || self.retention_size_in_mb < -1 {
            return Err(NamespaceError::InvalidPolicy(
                "retention time and size must be -1 (no limit) or at least 0".to_string(),
            ));
        }
        // A zero limit releases everything at once, so the other limit
        // would mean nothing (Pulsar refuses this too).
        if (self.retention_time_in_minutes == 0) != (self.retention_size_in_mb == 0) {
            return Err(NamespaceError::InvalidPolicy(
                "retention time and size must be both zero or both non-zero".to_string(),
            ));
        }
        Ok(())
    }

    /// The time limit, `None` for none.
    pub fn time(&self) -> Option<Duration> {
        u64::try_from(self.retention_time_in_minutes)
            .ok()
            .map(|minutes| Duration::from_secs(minutes * 60))
    }

    /// The size limit in bytes, `None` for none.
    pub fn size_bytes(&self) -> Option<u64> {
        u64::try_from(self.retention_size_in_mb)
            .ok()
            .map(|mb| mb.saturating_mul(1024 * 1024))
    }
}

/// What a backlog quota limits (Pulsar's `BacklogQuotaType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BacklogQuotaType {
    /// The bytes of the slowest subscription's backlog.
    DestinationStorage,
    /// The age of the slowest subscription's oldest unacknowledged message.
    MessageAge,
}

impl BacklogQuotaType {
    pub fn parse(name: &str) -> Result<Self, NamespaceError> {
        match name {
            "destination_storage" => Ok(BacklogQuotaType::DestinationStorage),
            "message_age" => Ok(BacklogQuotaType::MessageAge),
            other => Err(NamespaceError::InvalidPolicy(format!(
                "unknown backlog quota type {other:?}: destination_storage or message_age"
            ))),
        }
    }
}

/// What happens when a backlog quota is exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BacklogQuotaPolicy {
    /// New producers wait (the client retries) until the backlog shrinks.
    ProducerRequestHold,
    /// Producers are disconnected and new ones refused.
    ProducerException,
    /// The slowest subscriptions skip their oldest messages.
    ConsumerBacklogEviction,
}

/// A backlog quota (Pulsar's `BacklogQuota`): `limitSize` in bytes,
/// `limitTime` in seconds; `-1` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BacklogQuota {
    #[serde(default = "no_limit")]
    pub limit_size: i64,
    #[serde(default = "no_limit_i32")]
    pub limit_time: i32,
    pub policy: BacklogQuotaPolicy,
}

fn no_limit() -> i64 {
    -1
}

fn no_limit_i32() -> i32 {
    -1
}

impl BacklogQuota {
    pub fn validate(&self, kind: BacklogQuotaType) -> Result<(), NamespaceError> {
        let (limit, name) = match kind {
            BacklogQuotaType::DestinationStorage => (self.limit_size, "limitSize"),
            BacklogQuotaType::MessageAge => (i64::from(self.limit_time), "limitTime"),
        };
        if limit < 0 {
            return Err(NamespaceError::InvalidPolicy(format!(
                "a {} quota needs {name} of at least 0",
                serde_json::to_value(kind).map_or_else(|_| String::new(), |v| v.to_string())
            )));
        }
        Ok(())
    }
}

/// Backlog quotas by type, as stored (`backlog_quota_map`).
pub type BacklogQuotaMap = BTreeMap<BacklogQuotaType, BacklogQuota>;

/// A backlog quota must fit in the retention size, or retention would
/// delete what the quota promises to keep (Pulsar refuses this too).
pub fn check_quota_within_retention(
    quotas: &BacklogQuotaMap,
    retention: Option<&RetentionPolicies>,
) -> Result<(), NamespaceError> {
    let (Some(quota), Some(retention)) =
        (quotas.get(&BacklogQuotaType::DestinationStorage), retention)
    else {
        return Ok(());
    };
    let retention_bytes = retention.retention_size_in_mb.saturating_mul(1024 * 1024);
    if retention.retention_size_in_mb >= 0
        && retention_bytes > 0
        && quota.limit_size > retention_bytes
    {
        return Err(NamespaceError::PolicyConflict(format!(
            "the backlog quota ({} bytes) exceeds the retention size ({} MB)",
            quota.limit_size, retention.retention_size_in_mb
        )));
    }
    Ok(())
}

/// What a namespace's policies say for each of its topics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicLimits {
    /// `None`: the broker's (nothing consumed is kept).
    pub retention: Option<RetentionPolicies>,
    /// Messages older than this leave every subscription's backlog.
    pub message_ttl: Option<Duration>,
    pub backlog_quotas: BacklogQuotaMap,
    pub max_producers: Option<u32>,
    pub max_consumers: Option<u32>,
    /// The clusters the namespace lives in; topics replicate to the others.
    pub replication_clusters: Vec<String>,
    /// `None`: the broker's setting; 0: no limit.
    pub max_unacked_per_consumer: Option<u64>,
    pub max_unacked_per_subscription: Option<u64>,
    /// `None`: the broker's setting (see [`super::ExpiryLimits`]).
    pub subscription_expiration_minutes: Option<u32>,
    pub inactive_topics: Option<InactiveTopicPolicies>,
    /// Compact once this many bytes are not compacted yet (`None`, 0: never).
    pub compaction_threshold: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_minus_one_is_no_limit() {
        let unlimited = RetentionPolicies {
            retention_time_in_minutes: -1,
            retention_size_in_mb: -1,
        };
        assert_eq!((unlimited.time(), unlimited.size_bytes()), (None, None));
        let some = RetentionPolicies {
            retention_time_in_minutes: 2,
            retention_size_in_mb: 3,
        };
        assert_eq!(some.time(), Some(Duration::from_secs(120)));
        assert_eq!(some.size_bytes(), Some(3 * 1024 * 1024));
        for (time, size) in [(-2, 5), (0, 5), (5, 0)] {
            let bad = RetentionPolicies {
                retention_time_in_minutes: time,
                retention_size_in_mb: size,
            };
            assert!(bad.validate().is_err(), "{time} {size}");
        }
    }

    #[test]
    fn quotas_parse_with_pulsar_names_and_must_fit_in_retention() {
        let quota: BacklogQuota =
            serde_json::from_str(r#"{"limitSize": 2097152, "policy": "producer_exception"}"#)
                .unwrap();
        assert_eq!(quota.limit_time, -1);
        assert_eq!(quota.policy, BacklogQuotaPolicy::ProducerException);
        assert!(quota.validate(BacklogQuotaType::DestinationStorage).is_ok());
        assert!(quota.validate(BacklogQuotaType::MessageAge).is_err());
        let quotas = BacklogQuotaMap::from([(BacklogQuotaType::DestinationStorage, quota)]);
        let small = RetentionPolicies {
            retention_time_in_minutes: 10,
            retention_size_in_mb: 1,
        };
        assert!(matches!(
            check_quota_within_retention(&quotas, Some(&small)),
            Err(NamespaceError::PolicyConflict(_))
        ));
        let large = RetentionPolicies {
            retention_size_in_mb: 2,
            ..small
        };
        assert!(check_quota_within_retention(&quotas, Some(&large)).is_ok());
        assert_eq!(
            serde_json::to_string(&quotas).unwrap(),
            r#"{"destination_storage":{"limitSize":2097152,"limitTime":-1,"policy":"producer_exception"}}"#
        );
    }
}
