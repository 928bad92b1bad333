//! Namespace policies that override the broker's settings, each with get,
//! set and remove (Pulsar's paths and bodies):
//!
//! | path under `/admin/v2/namespaces/{tenant}/{ns}/` | body | removed |
//! |---|---|---|
//! | `autoTopicCreation` (POST) | `{allowAutoTopicCreation, topicType, defaultNumPartitions}` | `null` |
//! | `deduplication` (POST) | `true` or `false` | `null` |
//! | `schemaCompatibilityStrategy` (PUT or POST) | a strategy name as a JSON string | `"UNDEFINED"` |
//!
//! A removed policy follows the broker's setting. Each change is one
//! compare-and-set of the namespace's policies. The policies that limit
//! topics (retention, TTL, quotas, caps) are in `limits.rs`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;

use super::openapi::{ErrorBody, NamespacePath as NamespaceParams};
use super::tenants::parse_optional_json;
use super::{AdminError, AdminState};
use crate::namespace::{
    AutoTopicCreation, CompatibilityStrategy, NamespaceError, NamespaceName, NamespacePolicies,
};

pub(super) type NamespacePath = Path<(String, String)>;

/// One policy of the namespace, as `read` picks it.
pub(super) async fn read_policy<T>(
    state: &AdminState,
    (tenant, namespace): (String, String),
    read: impl FnOnce(NamespacePolicies) -> T,
) -> Result<Json<T>, AdminError> {
    let name = NamespaceName::new(&tenant, &namespace)?;
    Ok(Json(read(state.policies.namespace_policies(&name).await?)))
}

/// Changes the namespace's policies with `write` (one CAS).
async fn write_policy(
    state: &AdminState,
    path: (String, String),
    what: &str,
    write: impl FnOnce(&mut NamespacePolicies),
) -> Result<StatusCode, AdminError> {
    try_write_policy(state, path, what, |policies| {
        write(policies);
        Ok(())
    })
    .await
}

/// Changes the namespace's policies with `write`, which may refuse (one
/// CAS), then applies the topic limits to the namespace's topics loaded
/// here at once (other brokers read them at their next policy check).
pub(super) async fn try_write_policy(
    state: &AdminState,
    (tenant, namespace): (String, String),
    what: &str,
    write: impl FnOnce(&mut NamespacePolicies) -> Result<(), NamespaceError>,
) -> Result<StatusCode, AdminError> {
    let name = NamespaceName::new(&tenant, &namespace)?;
    let limits = state
        .policies
        .update_namespace_policies(&name, |policies| {
            write(policies)?;
            Ok(policies.topic_limits())
        })
        .await?;
    tracing::info!(namespace = %name, policy = what, "changed namespace policy");
    if let Some(topics) = &state.topics {
        for topic in topics.loaded() {
            if topic.name().namespace() == &name {
                topic.set_limits(limits.clone());
                topic.enforce_limits().await;
            }
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A required JSON body.
pub(super) fn body<T: DeserializeOwned>(bytes: &[u8], expected: &str) -> Result<T, AdminError> {
    parse_optional_json(bytes)?
        .ok_or_else(|| AdminError::BadRequest(format!("the body must be {expected}")))
}

#[utoipa::path(get, path = "/admin/v2/namespaces/{tenant}/{namespace}/autoTopicCreation", tag = "policies", params(NamespaceParams),
    responses(
        (status = 200, description = "The namespace's rules; null: the broker's", body = Option<AutoTopicCreation>),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ))]
pub async fn get_auto_topic_creation(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<Option<AutoTopicCreation>>, AdminError> {
    read_policy(&state, path, |p| p.auto_topic_creation_override).await
}

#[utoipa::path(post, path = "/admin/v2/namespaces/{tenant}/{namespace}/autoTopicCreation", tag = "policies", params(NamespaceParams),
    request_body = AutoTopicCreation,
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "Bad name or body, or rules that contradict each other", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
pub async fn set_auto_topic_creation(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
    bytes: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let rules: AutoTopicCreation = body(&bytes, "the auto-creation rules")?;
    rules.validate()?;
    write_policy(&state, path, "autoTopicCreation", |p| {
        p.auto_topic_creation_override = Some(rules)
    })
    .await
}

#[utoipa::path(delete, path = "/admin/v2/namespaces/{tenant}/{namespace}/autoTopicCreation", tag = "policies", params(NamespaceParams),
    responses(
        (status = 204, description = "Removed: the broker's setting applies"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
pub async fn remove_auto_topic_creation(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<StatusCode, AdminError> {
    write_policy(&state, path, "autoTopicCreation", |p| {
        p.auto_topic_creation_override = None
    })
    .await
}

#[utoipa::path(get, path = "/admin/v2/namespaces/{tenant}/{namespace}/deduplication", tag = "policies", params(NamespaceParams),
    responses(
        (status = 200, description = "Whether deduplication is on; null: the broker's setting", body = Option<bool>),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ))]
pub async fn get_deduplication(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<Option<bool>>, AdminError> {
    read_policy(&state, path, |p| p.deduplication_enabled).await
}

/// Takes effect for producers created from then on.
#[utoipa::path(post, path = "/admin/v2/namespaces/{tenant}/{namespace}/deduplication", tag = "policies", params(NamespaceParams),
    request_body(content = bool, description = "`true` or `false`"),
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "Bad name or body", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
pub async fn set_deduplication(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
    bytes: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let enabled: bool = body(&bytes, "true or false")?;
    write_policy(&state, path, "deduplication", |p| {
        p.deduplication_enabled = Some(enabled)
    })
    .await
}

#[utoipa::path(delete, path = "/admin/v2/namespaces/{tenant}/{namespace}/deduplication", tag = "policies", params(NamespaceParams),
    responses(
        (status = 204, description = "Removed: the broker's setting applies"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
pub async fn remove_deduplication(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<StatusCode, AdminError> {
    write_policy(&state, path, "deduplication", |p| {
        p.deduplication_enabled = None
    })
    .await
}

/// The namespace's strategy, `"UNDEFINED"` when it follows the broker.
#[utoipa::path(get, path = "/admin/v2/namespaces/{tenant}/{namespace}/schemaCompatibilityStrategy", tag = "policies", params(NamespaceParams),
    responses(
        (status = 200, description = "A strategy name such as `FULL`, or `UNDEFINED`", body = String),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ))]
pub async fn get_strategy(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<String>, AdminError> {
    read_policy(&state, path, |p| match p.schema_compatibility_strategy {
        Some(strategy) => strategy.to_string(),
        None => "UNDEFINED".to_string(),
    })
    .await
}

#[utoipa::path(method(put, post), path = "/admin/v2/namespaces/{tenant}/{namespace}/schemaCompatibilityStrategy", tag = "policies", params(NamespaceParams),
    request_body(content = String, description = "A strategy name as a JSON string (`\"BACKWARD\"`, any case); `UNDEFINED` follows the broker"),
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "Bad name or body, or an unknown strategy", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
pub async fn set_strategy(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
    bytes: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let text: String = body(&bytes, "a strategy name as a JSON string")?;
    let strategy = if text.eq_ignore_ascii_case("UNDEFINED") {
        None
    } else {
        Some(
            text.parse::<CompatibilityStrategy>()
                .map_err(AdminError::BadRequest)?,
        )
    };
    write_policy(&state, path, "schemaCompatibilityStrategy", |p| {
        p.schema_compatibility_strategy = strategy
    })
    .await
}

#[utoipa::path(delete, path = "/admin/v2/namespaces/{tenant}/{namespace}/schemaCompatibilityStrategy", tag = "policies", params(NamespaceParams),
    responses(
        (status = 204, description = "Removed: the broker's strategy applies"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
pub async fn remove_strategy(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<StatusCode, AdminError> {
    write_policy(&state, path, "schemaCompatibilityStrategy", |p| {
        p.schema_compatibility_strategy = None
    })
    .await
}
