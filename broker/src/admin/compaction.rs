//! Compaction over the admin v2 API, as Pulsar has it:
//!
//! - `PUT …/persistent/{tenant}/{ns}/{topic}/compaction` starts a run
//!   (204), 409 `Compaction already in progress` while one runs, 404 for a
//!   topic that does not exist. On a partitioned topic's base name it
//!   starts one on every partition (where each is served).
//! - `GET …/compaction` answers Pulsar's `LongRunningProcessStatus`,
//!   `{"status": "NOT_RUN"|"RUNNING"|"SUCCESS"|"ERROR", "lastError": …}`;
//!   405 on a partitioned topic's base name (ask a partition).
//! - `GET|POST|DELETE /admin/v2/namespaces/{tenant}/{ns}/compactionThreshold`:
//!   bytes not yet compacted at which the policy pass compacts a topic
//!   (0: never; negative: 400).
//!
//! The run happens where the topic is served: other brokers redirect
//! there (`307`).

use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::openapi::{ErrorBody, NamespacePath as NamespaceParams, TopicPath as TopicParams};
use super::peers::{peer_client, send, PeerClient};
use super::policies::{body, read_policy, try_write_policy, NamespacePath};
use super::subscriptions::loaded_topic;
use super::topics::topic_name;
use super::{AdminError, AdminState};
use crate::compaction::{CompactionError, CompactionStatus};
use crate::namespace::{url_encode, TopicName};

type TopicPath = Path<(String, String, String)>;

impl From<CompactionError> for AdminError {
    fn from(error: CompactionError) -> Self {
        match error {
            CompactionError::AlreadyRunning => AdminError::Conflict(error.to_string()),
            CompactionError::ManagedLedger(e) => e.into(),
            other => AdminError::Internal(other.to_string()),
        }
    }
}

/// The partitions of `topic` when it is a partitioned topic's base name.
async fn partitions_of(state: &AdminState, topic: &TopicName) -> Result<u32, AdminError> {
    if topic.partition_index().is_some() {
        return Ok(0);
    }
    Ok(state
        .policies
        .partitioned_topic(topic)
        .await?
        .map_or(0, |metadata| metadata.partitions))
}

/// `PUT /admin/v2/persistent/{tenant}/{namespace}/{topic}/compaction`.
#[utoipa::path(put, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/compaction", tag = "topics",
    params(TopicParams),
    responses(
        (status = 204, description = "Started; on a partitioned topic's base name, on every partition"),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such topic", body = ErrorBody),
        (status = 409, description = "Compaction already in progress", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, this broker serves no topics, or a partition's broker failed", body = ErrorBody),
    ))]
pub async fn trigger(
    State(state): State<AdminState>,
    Path((tenant, namespace, name)): TopicPath,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    let topic = topic_name(&tenant, &namespace, &name)?;
    let partitions = partitions_of(&state, &topic).await?;
    if partitions == 0 {
        return match loaded_topic(&state, &topic, &uri).await? {
            Err(redirect) => Ok(redirect),
            Ok(loaded) => {
                loaded.compaction().trigger()?;
                tracing::info!(%topic, "compaction triggered");
                Ok(StatusCode::NO_CONTENT.into_response())
            }
        };
    }
    // One client for the whole request: its connections to the owners are
    // reused from partition to partition.
    let peers = peer_client(&state.security);
    for index in 0..partitions {
        let partition = topic.partition(index);
        let path = format!(
            "/admin/v2/persistent/{}/{}/compaction",
            partition.namespace(),
            url_encode(partition.local_name()).replace('+', "%20")
        );
        let uri: axum::http::Uri = path
            .parse()
            .map_err(|e| AdminError::Internal(format!("{path}: {e}")))?;
        match loaded_topic(&state, &partition, &uri).await? {
            Ok(loaded) => match loaded.compaction().trigger() {
                Ok(()) | Err(CompactionError::AlreadyRunning) => {}
                Err(error) => return Err(error.into()),
            },
            Err(redirect) => {
                let location = redirect
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_string);
                trigger_elsewhere(&peers, location).await?
            }
        }
    }
    tracing::info!(%topic, partitions, "compaction triggered on every partition");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Starts compaction on the broker a redirect names.
async fn trigger_elsewhere(peers: &PeerClient, location: Option<String>) -> Result<(), AdminError> {
    let location = location
        .ok_or_else(|| AdminError::Internal("a redirect without a location".to_string()))?;
    let (status, _) = send(peers, Method::PUT, &location).await?;
    if status.is_success() || status == StatusCode::CONFLICT {
        Ok(())
    } else {
        Err(AdminError::Unavailable(format!("{location}: {status}")))
    }
}

/// `GET /admin/v2/persistent/{tenant}/{namespace}/{topic}/compaction`.
#[utoipa::path(get, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/compaction", tag = "topics",
    params(TopicParams),
    responses(
        (status = 200, description = "The last run's status: `NOT_RUN`, `RUNNING`, `SUCCESS` or `ERROR`", body = CompactionStatus),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such topic", body = ErrorBody),
        (status = 405, description = "A partitioned topic's base name: ask each partition", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, or this broker serves no topics", body = ErrorBody),
    ))]
pub async fn status(
    State(state): State<AdminState>,
    Path((tenant, namespace, name)): TopicPath,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    let topic = topic_name(&tenant, &namespace, &name)?;
    if partitions_of(&state, &topic).await? > 0 {
        return Err(AdminError::MethodNotAllowed(
            "Compaction status of a partitioned topic is not supported: ask each partition"
                .to_string(),
        ));
    }
    match loaded_topic(&state, &topic, &uri).await? {
        Err(redirect) => Ok(redirect),
        Ok(loaded) => {
            let status: CompactionStatus = loaded.compaction().status();
            Ok(Json(status).into_response())
        }
    }
}

#[utoipa::path(get, path = "/admin/v2/namespaces/{tenant}/{namespace}/compactionThreshold", tag = "policies", params(NamespaceParams),
    responses(
        (status = 200, description = "Bytes not yet compacted at which a topic is compacted (0: never); null: unset", body = Option<i64>),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ))]
pub async fn get_threshold(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<Option<i64>>, AdminError> {
    read_policy(&state, path, |p| p.compaction_threshold).await
}

#[utoipa::path(post, path = "/admin/v2/namespaces/{tenant}/{namespace}/compactionThreshold", tag = "policies", params(NamespaceParams),
    request_body(content = i64, description = "Bytes not yet compacted at which a topic is compacted; 0: never"),
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "Bad name or body, or a negative threshold", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
pub async fn set_threshold(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
    bytes: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let threshold: i64 = body(&bytes, "the compaction threshold in bytes")?;
    if threshold < 0 {
        return Err(AdminError::BadRequest(
            "compactionThreshold must be 0 or more bytes".to_string(),
        ));
    }
    try_write_policy(&state, path, "compactionThreshold", |p| {
        p.compaction_threshold = Some(threshold);
        Ok(())
    })
    .await
}

#[utoipa::path(delete, path = "/admin/v2/namespaces/{tenant}/{namespace}/compactionThreshold", tag = "policies", params(NamespaceParams),
    responses(
        (status = 204, description = "Removed: topics are not compacted by size"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
pub async fn remove_threshold(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<StatusCode, AdminError> {
    try_write_policy(&state, path, "compactionThreshold", |p| {
        p.compaction_threshold = None;
        Ok(())
    })
    .await
}
