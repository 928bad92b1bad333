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
use utoipa::IntoParams;

use super::openapi::{ErrorBody, NamespacePath as NamespaceParams};
use super::policies::{body, read_policy, try_write_policy, NamespacePath};
use super::{AdminError, AdminState};
use crate::namespace::{
    check_quota_within_retention, BacklogQuota, BacklogQuotaMap, BacklogQuotaType,
    InactiveTopicPolicies, RetentionPolicies,
};

#[utoipa::path(get, path = "/admin/v2/namespaces/{tenant}/{namespace}/retention", tag = "policies", params(NamespaceParams),
    responses(
        (status = 200, description = "Minutes and megabytes of consumed messages kept (-1: no limit); null: the broker's, which keeps nothing", body = Option<RetentionPolicies>),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ))]
pub async fn get_retention(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<Option<RetentionPolicies>>, AdminError> {
    read_policy(&state, path, |p| p.retention_policies).await
}

#[utoipa::path(post, path = "/admin/v2/namespaces/{tenant}/{namespace}/retention", tag = "policies", params(NamespaceParams),
    request_body = RetentionPolicies,
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "Bad name or body, a limit below -1, or only one limit zero", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
        (status = 412, description = "The backlog quota is larger than this retention size", body = ErrorBody),
    ))]
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

#[utoipa::path(delete, path = "/admin/v2/namespaces/{tenant}/{namespace}/retention", tag = "policies", params(NamespaceParams),
    responses(
        (status = 204, description = "Removed: nothing consumed is kept"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
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

#[utoipa::path(get, path = "/admin/v2/namespaces/{tenant}/{namespace}/messageTTL", tag = "policies", params(NamespaceParams),
    responses(
        (status = 200, description = "Seconds after which messages leave every backlog (0: never); null: unset", body = Option<u32>),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ))]
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

#[utoipa::path(post, path = "/admin/v2/namespaces/{tenant}/{namespace}/messageTTL", tag = "policies", params(NamespaceParams),
    request_body(content = u32, description = "Seconds; 0: messages never expire"),
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "Bad name, or not a number from 0 to 4294967295", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
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

#[utoipa::path(delete, path = "/admin/v2/namespaces/{tenant}/{namespace}/messageTTL", tag = "policies", params(NamespaceParams),
    responses(
        (status = 204, description = "Removed: messages never expire"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct QuotaQuery {
    /// Which quota: `destination_storage` (the default) or `message_age`.
    #[param(inline, value_type = Option<BacklogQuotaType>)]
    backlog_quota_type: Option<String>,
}

fn quota_type(query: &QuotaQuery) -> Result<BacklogQuotaType, AdminError> {
    Ok(match &query.backlog_quota_type {
        None => BacklogQuotaType::DestinationStorage,
        Some(name) => BacklogQuotaType::parse(name)?,
    })
}

/// `GET backlogQuotaMap`: the quotas by type.
#[utoipa::path(get, path = "/admin/v2/namespaces/{tenant}/{namespace}/backlogQuotaMap", tag = "policies", params(NamespaceParams),
    responses(
        (status = 200, description = "The quotas by type (`destination_storage`, `message_age`)", body = std::collections::BTreeMap<BacklogQuotaType, BacklogQuota>),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ))]
pub async fn get_backlog_quotas(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<BacklogQuotaMap>, AdminError> {
    read_policy(&state, path, |p| p.backlog_quota_map).await
}

#[utoipa::path(post, path = "/admin/v2/namespaces/{tenant}/{namespace}/backlogQuota", tag = "policies", params(NamespaceParams, QuotaQuery),
    request_body = BacklogQuota,
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "Bad name, type or body, or a negative limit for the type", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
        (status = 412, description = "The quota is larger than the retention size", body = ErrorBody),
    ))]
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

#[utoipa::path(delete, path = "/admin/v2/namespaces/{tenant}/{namespace}/backlogQuota", tag = "policies", params(NamespaceParams, QuotaQuery),
    responses(
        (status = 204, description = "Removed, or there was none of this type"),
        (status = 400, description = "Bad name or type", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
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
    (
        $get:ident, $set:ident, $remove:ident, $field:ident, $name:literal,
        $path:tt, $shown:tt, $value:tt, $removed:tt
    ) => {
        #[utoipa::path(get, path = $path, tag = "policies", params(NamespaceParams),
            responses(
                (status = 200, description = $shown, body = Option<u32>),
                (status = 400, description = "Bad name", body = ErrorBody),
                (status = 404, description = "No such namespace", body = ErrorBody),
            ))]
        pub async fn $get(
            State(state): State<AdminState>,
            Path(path): NamespacePath,
        ) -> Result<Json<Option<u32>>, AdminError> {
            read_policy(&state, path, |p| p.$field).await
        }

        #[utoipa::path(post, path = $path, tag = "policies", params(NamespaceParams),
            request_body(content = u32, description = $value),
            responses(
                (status = 204, description = "Set"),
                (status = 400, description = "Bad name, or not a number from 0 to 4294967295", body = ErrorBody),
                (status = 404, description = "No such namespace", body = ErrorBody),
                (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
            ))]
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

        #[utoipa::path(delete, path = $path, tag = "policies", params(NamespaceParams),
            responses(
                (status = 204, description = $removed),
                (status = 400, description = "Bad name", body = ErrorBody),
                (status = 404, description = "No such namespace", body = ErrorBody),
                (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
            ))]
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
    "maxProducersPerTopic",
    "/admin/v2/namespaces/{tenant}/{namespace}/maxProducersPerTopic",
    "Producers a topic takes at most (0: no cap); null: unset",
    "Producers a topic takes at most; 0: no cap",
    "Removed: no cap"
);
cap_handlers!(
    get_max_consumers,
    set_max_consumers,
    remove_max_consumers,
    max_consumers_per_topic,
    "maxConsumersPerTopic",
    "/admin/v2/namespaces/{tenant}/{namespace}/maxConsumersPerTopic",
    "Consumers a topic takes at most (0: no cap); null: unset",
    "Consumers a topic takes at most; 0: no cap",
    "Removed: no cap"
);
cap_handlers!(
    get_max_unacked_per_consumer,
    set_max_unacked_per_consumer,
    remove_max_unacked_per_consumer,
    max_unacked_messages_per_consumer,
    "maxUnackedMessagesPerConsumer",
    "/admin/v2/namespaces/{tenant}/{namespace}/maxUnackedMessagesPerConsumer",
    "Unacknowledged messages at which a consumer gets no more (0: no limit); null: the broker's",
    "Unacknowledged messages at which a consumer gets no more; 0: no limit",
    "Removed: the broker's setting applies"
);
cap_handlers!(
    get_max_unacked_per_subscription,
    set_max_unacked_per_subscription,
    remove_max_unacked_per_subscription,
    max_unacked_messages_per_subscription,
    "maxUnackedMessagesPerSubscription",
    "/admin/v2/namespaces/{tenant}/{namespace}/maxUnackedMessagesPerSubscription",
    "Unacknowledged messages at which a subscription's consumers together get no more (0: no limit); null: the broker's",
    "Unacknowledged messages at which a subscription's consumers together get no more; 0: no limit",
    "Removed: the broker's setting applies"
);
cap_handlers!(
    get_subscription_expiration,
    set_subscription_expiration,
    remove_subscription_expiration,
    subscription_expiration_time_minutes,
    "subscriptionExpirationTime",
    "/admin/v2/namespaces/{tenant}/{namespace}/subscriptionExpirationTime",
    "Minutes without consumers after which a subscription is deleted (0: never); null: the broker's",
    "Minutes without consumers after which a subscription is deleted; 0: never",
    "Removed: the broker's setting applies"
);

#[utoipa::path(get, path = "/admin/v2/namespaces/{tenant}/{namespace}/inactiveTopicPolicies", tag = "policies", params(NamespaceParams),
    responses(
        (status = 200, description = "Whether and when topics without clients are deleted; null: the broker's", body = Option<InactiveTopicPolicies>),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ))]
pub async fn get_inactive_topic_policies(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<Option<InactiveTopicPolicies>>, AdminError> {
    read_policy(&state, path, |p| p.inactive_topic_policies).await
}

#[utoipa::path(post, path = "/admin/v2/namespaces/{tenant}/{namespace}/inactiveTopicPolicies", tag = "policies", params(NamespaceParams),
    request_body = InactiveTopicPolicies,
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "Bad name or body, or deleteWhileInactive without a duration of 1 s or more", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
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

#[utoipa::path(delete, path = "/admin/v2/namespaces/{tenant}/{namespace}/inactiveTopicPolicies", tag = "policies", params(NamespaceParams),
    responses(
        (status = 204, description = "Removed: the broker's setting applies"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
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

#[utoipa::path(get, path = "/admin/v2/namespaces/{tenant}/{namespace}/replication", tag = "policies", params(NamespaceParams),
    responses(
        (status = 200, description = "The clusters the namespace lives in", body = Vec<String>),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ))]
pub async fn get_replication(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<Vec<String>>, AdminError> {
    read_policy(&state, path, |p| p.replication_clusters).await
}

/// `POST replication`: the clusters the namespace lives in; each must be
/// registered.
#[utoipa::path(post, path = "/admin/v2/namespaces/{tenant}/{namespace}/replication", tag = "policies", params(NamespaceParams),
    request_body(content = Vec<String>, description = "Cluster names, at least one, each registered"),
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "Bad name or body, or no cluster", body = ErrorBody),
        (status = 404, description = "No such namespace or cluster", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
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
