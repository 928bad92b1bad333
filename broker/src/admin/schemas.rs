//! Schema endpoints of the admin v2 API, with Pulsar's paths and shapes:
//! `GET|POST|DELETE /admin/v2/schemas/{tenant}/{ns}/{topic}/schema`,
//! and `GET …/schema/{version}` (the namespace's compatibility strategy is
//! with the other policies, in `policies.rs`).
//!
//! A schema's `data` is text: the definition for AVRO, JSON and the
//! protobuf types, `{"key": …, "value": …}` for KEY_VALUE (stored as the
//! two halves, each with its length, as the clients send it), empty for
//! the primitive types.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::openapi::{ErrorBody, TopicPath};
use super::topics::topic_name;
use super::{AdminError, AdminState};
use crate::namespace::TopicName;
use crate::schema::{SchemaDefinition, SchemaError, SchemaKind, SchemaRegistry, StoredSchema};

/// Pulsar's `GetSchemaResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SchemaResponse {
    pub version: u64,
    #[serde(rename = "type")]
    pub kind: SchemaKind,
    /// When the version was registered, in milliseconds since the epoch.
    pub timestamp: u64,
    /// The definition as text: empty for the primitive types,
    /// `{"key": …, "value": …}` for KEY_VALUE.
    pub data: String,
    pub properties: BTreeMap<String, String>,
}

/// Pulsar's `PostSchemaPayload`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostSchemaPayload {
    #[serde(rename = "type")]
    kind: SchemaKind,
    /// The definition as text: empty for the primitive types,
    /// `{"key": …, "value": …}` for KEY_VALUE.
    #[serde(default)]
    schema: String,
    #[serde(default)]
    properties: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionResponse {
    pub version: u64,
}

fn registry(state: &AdminState) -> SchemaRegistry {
    SchemaRegistry::new(state.policies.clone(), state.schema_compatibility)
}

async fn schema_topic(
    state: &AdminState,
    (tenant, namespace, topic): &(String, String, String),
) -> Result<TopicName, AdminError> {
    let topic = topic_name(tenant, namespace, topic)?;
    state.policies.namespace_policies(topic.namespace()).await?;
    Ok(topic)
}

/// `GET /admin/v2/schemas/{tenant}/{ns}/{topic}/schema`: the latest version.
#[utoipa::path(get, path = "/admin/v2/schemas/{tenant}/{namespace}/{topic}/schema", tag = "schemas", params(TopicPath),
    responses(
        (status = 200, description = "The topic's latest schema", body = SchemaResponse),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace, or the topic has no schema", body = ErrorBody),
    ))]
pub async fn get_schema(
    State(state): State<AdminState>,
    Path(path): Path<(String, String, String)>,
) -> Result<Json<SchemaResponse>, AdminError> {
    let topic = schema_topic(&state, &path).await?;
    let stored = registry(&state)
        .latest(&topic)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("topic {topic} has no schema")))?;
    Ok(Json(response(&stored)))
}

/// `GET …/schema/{version}`.
#[utoipa::path(get, path = "/admin/v2/schemas/{tenant}/{namespace}/{topic}/schema/{version}", tag = "schemas",
    params(TopicPath, ("version" = u64, Path, description = "The schema version")),
    responses(
        (status = 200, description = "That version of the topic's schema", body = SchemaResponse),
        (status = 400, description = "Bad name or version", body = ErrorBody),
        (status = 404, description = "No such namespace, or the topic has no such version", body = ErrorBody),
    ))]
pub async fn get_schema_version(
    State(state): State<AdminState>,
    Path((tenant, namespace, topic, version)): Path<(String, String, String, String)>,
) -> Result<Json<SchemaResponse>, AdminError> {
    let topic = schema_topic(&state, &(tenant, namespace, topic)).await?;
    let version: u64 = version
        .parse()
        .map_err(|_| AdminError::BadRequest(format!("invalid schema version {version:?}")))?;
    let stored = registry(&state)
        .version(&topic, version)
        .await?
        .ok_or_else(|| {
            AdminError::NotFound(format!("topic {topic} has no schema version {version}"))
        })?;
    Ok(Json(response(&stored)))
}

/// `POST …/schema`: registers the schema (or finds the identical
/// version); 409 when the namespace's strategy refuses it.
#[utoipa::path(post, path = "/admin/v2/schemas/{tenant}/{namespace}/{topic}/schema", tag = "schemas", params(TopicPath),
    request_body = PostSchemaPayload,
    responses(
        (status = 200, description = "The schema's version: new, or the identical one registered before", body = VersionResponse),
        (status = 400, description = "Bad name, payload or definition", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "The compatibility strategy refuses it, or concurrent changes: retry", body = ErrorBody),
    ))]
pub async fn post_schema(
    State(state): State<AdminState>,
    Path(path): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<VersionResponse>, AdminError> {
    let topic = schema_topic(&state, &path).await?;
    let payload: PostSchemaPayload = serde_json::from_slice(&body)
        .map_err(|e| AdminError::BadRequest(format!("invalid schema payload: {e}")))?;
    let definition = SchemaDefinition {
        kind: payload.kind,
        data: definition_bytes(payload.kind, &payload.schema)?,
        properties: payload.properties,
    };
    let version = registry(&state).get_or_create(&topic, &definition).await?;
    Ok(Json(VersionResponse { version }))
}

/// `DELETE …/schema`: the topic has no schema from then on.
#[utoipa::path(delete, path = "/admin/v2/schemas/{tenant}/{namespace}/{topic}/schema", tag = "schemas", params(TopicPath),
    responses(
        (status = 200, description = "The version that records the deletion", body = VersionResponse),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace, or the topic has no schema", body = ErrorBody),
        (status = 409, description = "Concurrent changes: retry", body = ErrorBody),
    ))]
pub async fn delete_schema(
    State(state): State<AdminState>,
    Path(path): Path<(String, String, String)>,
) -> Result<Json<VersionResponse>, AdminError> {
    let topic = schema_topic(&state, &path).await?;
    let version = registry(&state)
        .delete(&topic)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("topic {topic} has no schema")))?;
    Ok(Json(VersionResponse { version }))
}

fn response(stored: &StoredSchema) -> SchemaResponse {
    let definition = stored.definition();
    SchemaResponse {
        version: stored.version,
        kind: stored.kind,
        timestamp: stored.timestamp,
        data: definition_text(definition.kind, &definition.data),
        properties: definition.properties,
    }
}

/// The stored bytes as the admin API shows them.
fn definition_text(kind: SchemaKind, data: &[u8]) -> String {
    if kind == SchemaKind::KeyValue {
        if let Some((key, value)) = crate::schema::split_key_value(data) {
            let half = |bytes: &[u8]| {
                let text = String::from_utf8_lossy(bytes).into_owned();
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
            };
            return serde_json::json!({ "key": half(key), "value": half(value) }).to_string();
        }
    }
    String::from_utf8_lossy(data).into_owned()
}

/// The bytes the registry stores for an admin-given definition.
fn definition_bytes(kind: SchemaKind, schema: &str) -> Result<Vec<u8>, AdminError> {
    if kind != SchemaKind::KeyValue {
        return Ok(schema.as_bytes().to_vec());
    }
    #[derive(Deserialize)]
    struct Halves {
        key: serde_json::Value,
        value: serde_json::Value,
    }
    let halves: Halves = serde_json::from_str(schema).map_err(|e| {
        AdminError::BadRequest(format!(
            "a KEY_VALUE schema is {{\"key\": …, \"value\": …}}: {e}"
        ))
    })?;
    let text = |value: serde_json::Value| match value {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    };
    let mut data = Vec::new();
    for half in [text(halves.key), text(halves.value)] {
        let length = u32::try_from(half.len())
            .map_err(|_| AdminError::BadRequest("a KEY_VALUE half is too large".into()))?;
        data.extend_from_slice(&length.to_be_bytes());
        data.extend_from_slice(half.as_bytes());
    }
    Ok(data)
}

impl From<SchemaError> for AdminError {
    fn from(error: SchemaError) -> Self {
        let reason = error.to_string();
        match error {
            SchemaError::Invalid(_) => AdminError::BadRequest(reason),
            SchemaError::Incompatible(_) | SchemaError::Conflict(_) => AdminError::Conflict(reason),
            SchemaError::Namespace(error) => error.into(),
            SchemaError::Metadata(_) => AdminError::Unavailable(reason),
            SchemaError::Corrupt { .. } => AdminError::Internal(reason),
        }
    }
}
