//! Namespace policies that limit topics (Pulsar's paths and bodies under
//! `/admin/v2/namespaces/{tenant}/{ns}/`), each with get, set (POST) and
//! remove (DELETE):
//!
//! | path | body | removed |
//! |---|---|---|
//! | `retention` | `{"retentionTimeInMinutes": m, "retentionSizeInMB": s}`, `-1` no limit | `null` |
//! | `messageTTL` | seconds, `0` none | `null` |
//! | `backlogQuota?backlogQuotaType=destination_storage\|message_age` | `{"limitSize": bytes, "limitTime": s, "policy": …}` | read at `backlogQuotaMap` |
//! | `maxProducersPerTopic`, `maxConsumersPerTopic` | a count, `0` no cap | `null` |
//! | `maxUnackedMessagesPerConsumer`, `maxUnackedMessagesPerSubscription` | a count, `0` no limit | `null` (the broker's) |
//! | `subscriptionExpirationTime` | minutes, `0` never | `null` (the broker's) |
//! | `inactiveTopicPolicies` | `{"inactiveTopicDeleteMode": …, "maxInactiveDurationSeconds": s, "deleteWhileInactive": b}` | `null` (the broker's) |
//! | `replication` | cluster names (each registered) | never empty |
//!
//! A backlog quota larger than the retention size is refused (412), in
//! either order of setting them. Each takes effect at once on this
//! broker's topics of the namespace (see `topic/limits.rs`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::policies::{body, read_policy, try_write_policy, NamespacePath};
use super::{AdminError, AdminState};
use crate::namespace::{
    check_quota_within_retention, BacklogQuota, BacklogQuotaMap, BacklogQuotaType,
    InactiveTopicPolicies, RetentionPolicies,
};

pub async fn get_retention(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<Option<RetentionPolicies>>, AdminError> {
    read_policy(&state, path, |p| p.retention_policies).await
}

pub async fn set_retention(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
    bytes: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let retention: RetentionPolicies = body(&bytes, "the retention policies")?;
    retention.validate()?;
    try_write_policy(&state, path, "retention", |p| {
        check_quota_within_retention(&p.backlog_quota_map, Some(&retention))?;
        p.retention_policies = Some(retention);
        Ok(())
    })
    .await
}

pub async fn remove_retention(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<StatusCode, AdminError> {
    try_write_policy(&state, path, "retention", |p| {
        p.retention_policies = None;
        Ok(())
    })
    .await
}

pub async fn get_message_ttl(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<Option<u32>>, AdminError> {
    read_policy(&state, path, |p| p.message_ttl_in_seconds).await
}

/// A count or a number of seconds: not negative.
fn non_negative(bytes: &[u8], what: &str) -> Result<u32, AdminError> {
    let value: i64 = body(bytes, what)?;
    u32::try_from(value)
        .map_err(|_| AdminError::BadRequest(format!("{what} must be between 0 and {}", u32::MAX)))
}

pub async fn set_message_ttl(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
    bytes: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let seconds = non_negative(&bytes, "the TTL in seconds")?;
    try_write_policy(&state, path, "messageTTL", |p| {
        p.message_ttl_in_seconds = Some(seconds);
        Ok(())
    })
    .await
}

pub async fn remove_message_ttl(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<StatusCode, AdminError> {
    try_write_policy(&state, path, "messageTTL", |p| {
        p.message_ttl_in_seconds = None;
        Ok(())
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaQuery {
    backlog_quota_type: Option<String>,
}

fn quota_type(query: &QuotaQuery) -> Result<BacklogQuotaType, AdminError> {
    Ok(match &query.backlog_quota_type {
        None => BacklogQuotaType::DestinationStorage,
        Some(name) => BacklogQuotaType::parse(name)?,
    })
}

/// `GET backlogQuotaMap`: the quotas by type.
pub async fn get_backlog_quotas(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<BacklogQuotaMap>, AdminError> {
    read_policy(&state, path, |p| p.backlog_quota_map).await
}

pub async fn set_backlog_quota(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
    Query(query): Query<QuotaQuery>,
    bytes: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let kind = quota_type(&query)?;
    let quota: BacklogQuota = body(&bytes, "a backlog quota")?;
    quota.validate(kind)?;
    try_write_policy(&state, path, "backlogQuota", |p| {
        let mut quotas = p.backlog_quota_map.clone();
        quotas.insert(kind, quota);
        check_quota_within_retention(&quotas, p.retention_policies.as_ref())?;
        p.backlog_quota_map = quotas;
        Ok(())
    })
    .await
}

pub async fn remove_backlog_quota(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
    Query(query): Query<QuotaQuery>,
) -> Result<StatusCode, AdminError> {
    let kind = quota_type(&query)?;
    try_write_policy(&state, path, "backlogQuota", |p| {
        p.backlog_quota_map.remove(&kind);
        Ok(())
    })
    .await
}

/// Get, set and remove of a cap on producers or consumers per topic.
macro_rules! cap_handlers {
    ($get:ident, $set:ident, $remove:ident, $field:ident, $name:literal) => {
        pub async fn $get(
            State(state): State<AdminState>,
            Path(path): NamespacePath,
        ) -> Result<Json<Option<u32>>, AdminError> {
            read_policy(&state, path, |p| p.$field).await
        }

        pub async fn $set(
            State(state): State<AdminState>,
            Path(path): NamespacePath,
            bytes: axum::body::Bytes,
        ) -> Result<StatusCode, AdminError> {
            let cap = non_negative(&bytes, $name)?;
            try_write_policy(&state, path, $name, |p| {
                p.$field = Some(cap);
                Ok(())
            })
            .await
        }

        pub async fn $remove(
            State(state): State<AdminState>,
            Path(path): NamespacePath,
        ) -> Result<StatusCode, AdminError> {
            try_write_policy(&state, path, $name, |p| {
                p.$field = None;
                Ok(())
            })
            .await
        }
    };
}

cap_handlers!(
    get_max_producers,
    set_max_producers,
    remove_max_producers,
    max_producers_per_topic,
    "maxProducersPerTopic"
);
cap_handlers!(
    get_max_consumers,
    set_max_consumers,
    remove_max_consumers,
    max_consumers_per_topic,
    "maxConsumersPerTopic"
);
cap_handlers!(
    get_max_unacked_per_consumer,
    set_max_unacked_per_consumer,
    remove_max_unacked_per_consumer,
    max_unacked_messages_per_consumer,
    "maxUnackedMessagesPerConsumer"
);
cap_handlers!(
    get_max_unacked_per_subscription,
    set_max_unacked_per_subscription,
    remove_max_unacked_per_subscription,
    max_unacked_messages_per_subscription,
    "maxUnackedMessagesPerSubscription"
);
cap_handlers!(
    get_subscription_expiration,
    set_subscription_expiration,
    remove_subscription_expiration,
    subscription_expiration_time_minutes,
    "subscriptionExpirationTime"
);

pub async fn get_inactive_topic_policies(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<Option<InactiveTopicPolicies>>, AdminError> {
    read_policy(&state, path, |p| p.inactive_topic_policies).await
}

pub async fn set_inactive_topic_policies(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
    bytes: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let policies: InactiveTopicPolicies = body(&bytes, "the inactive topic policies")?;
    policies.validate()?;
    try_write_policy(&state, path, "inactiveTopicPolicies", |p| {
        p.inactive_topic_policies = Some(policies);
        Ok(())
    })
    .await
}

pub async fn remove_inactive_topic_policies(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<StatusCode, AdminError> {
    try_write_policy(&state, path, "inactiveTopicPolicies", |p| {
        p.inactive_topic_policies = None;
        Ok(())
    })
    .await
}

pub async fn get_replication(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<Vec<String>>, AdminError> {
    read_policy(&state, path, |p| p.replication_clusters).await
}

/// `POST replication`: the clusters the namespace lives in; each must be
/// registered.
pub async fn set_replication(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
    bytes: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let mut clusters: Vec<String> = body(&bytes, "a list of cluster names")?;
    clusters.sort();
    clusters.dedup();
    if clusters.is_empty() {
        return Err(AdminError::BadRequest(
            "a namespace lives in at least one cluster".to_string(),
        ));
    }
    for cluster in &clusters {
        state.policies.cluster(cluster).await?;
    }
    try_write_policy(&state, path, "replication", |p| {
        p.replication_clusters = clusters;
        Ok(())
    })
    .await
}
