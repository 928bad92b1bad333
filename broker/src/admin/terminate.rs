//! Terminating topics over the admin v2 API, as Pulsar has it:
//! `POST …/{topic}/terminate` answers the last message id (`-1:-1` for a
//! topic that holds none, as `lastMessageId` says) and is idempotent; on a
//! partitioned topic's base name it is refused (405). `POST
//! …/{topic}/terminate/partitions` terminates every partition and answers
//! a map from partition index to message id.
//!
//! Each termination runs where the topic is served: other brokers redirect
//! there (`307`), and an unowned topic is placed first, as a lookup would.
//! For the partitions of a partitioned topic, the broker at hand follows
//! those redirects itself, one request per partition served elsewhere.

use std::collections::BTreeMap;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::openapi::{ErrorBody, TopicPath};
use super::peers::{peer_client, peer_json, PeerClient};
use super::subscriptions::{loaded_topic, MessageIdBody};
use super::topics::topic_name;
use super::{AdminError, AdminState};
use crate::managed_ledger::Position;
use crate::namespace::{url_encode, TopicName};
use crate::topic::PersistentTopic;

/// `POST /admin/v2/persistent/{tenant}/{namespace}/{topic}/terminate`.
#[utoipa::path(post, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/terminate", tag = "topics",
    params(TopicPath),
    responses(
        (status = 200, description = "Terminated (or already): the last message's id, `-1:-1` when none", body = MessageIdBody),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such topic", body = ErrorBody),
        (status = 405, description = "A partitioned topic: terminate its partitions", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, or it is closing", body = ErrorBody),
    ))]
pub async fn terminate(
    State(state): State<AdminState>,
    Path((tenant, namespace, name)): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    let topic = topic_name(&tenant, &namespace, &name)?;
    if topic.partition_index().is_none() {
        let partitions = state
            .policies
            .partitioned_topic(&topic)
            .await?
            .map_or(0, |metadata| metadata.partitions);
        if partitions > 0 {
            return Err(AdminError::MethodNotAllowed(
                "Termination of a partitioned topic is not allowed".to_string(),
            ));
        }
    }
    match loaded_topic(&state, &topic, &uri).await? {
        Err(redirect) => Ok(redirect),
        Ok(loaded) => Ok(Json(terminate_here(&loaded).await?).into_response()),
    }
}

/// `POST /admin/v2/persistent/{tenant}/{namespace}/{topic}/terminate/partitions`.
#[utoipa::path(post, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/terminate/partitions", tag = "partitioned",
    params(TopicPath),
    responses(
        (status = 200, description = "Every partition terminated: each one's last message id, by partition index", body = BTreeMap<u32, MessageIdBody>),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such partitioned topic, or a partition does not exist", body = ErrorBody),
        (status = 503, description = "A partition is not served yet, or its broker failed", body = ErrorBody),
    ))]
pub async fn terminate_partitions(
    State(state): State<AdminState>,
    Path((tenant, namespace, name)): Path<(String, String, String)>,
) -> Result<Json<BTreeMap<u32, MessageIdBody>>, AdminError> {
    let topic = topic_name(&tenant, &namespace, &name)?;
    let partitions = state
        .policies
        .partitioned_topic(&topic)
        .await?
        .map_or(0, |metadata| metadata.partitions);
    if topic.partition_index().is_some() || partitions == 0 {
        return Err(AdminError::NotFound(format!(
            "partitioned topic {topic} not found"
        )));
    }
    let peers = peer_client(&state.security);
    let mut ids = BTreeMap::new();
    for index in 0..partitions {
        let partition = topic.partition(index);
        let path = terminate_path(&partition);
        let uri: axum::http::Uri = path
            .parse()
            .map_err(|e| AdminError::Internal(format!("{path}: {e}")))?;
        let id = match loaded_topic(&state, &partition, &uri).await? {
            Ok(loaded) => terminate_here(&loaded).await?,
            Err(redirect) => terminate_elsewhere(&peers, location(&redirect)?).await?,
        };
        ids.insert(index, id);
    }
    tracing::info!(%topic, partitions, "partitioned topic terminated");
    Ok(Json(ids))
}

/// Terminates a topic served here; its last message id as the API says it.
async fn terminate_here(topic: &PersistentTopic) -> Result<MessageIdBody, AdminError> {
    let position = topic.terminate().await?;
    Ok(message_id_body(topic.name(), position))
}

/// A position as `lastMessageId` renders it: `-1:-1` when the topic holds
/// no entry.
pub(super) fn message_id_body(topic: &TopicName, position: Position) -> MessageIdBody {
    let (ledger_id, entry_id) = if position.entry_id >= 0 {
        (position.ledger_id as i64, position.entry_id)
    } else {
        (-1, -1)
    };
    MessageIdBody {
        ledger_id,
        entry_id,
        partition_index: topic.partition_index().map_or(-1, |index| index as i32),
    }
}

/// This broker's path of a topic's terminate operation.
fn terminate_path(topic: &TopicName) -> String {
    format!(
        "/admin/v2/persistent/{}/{}/terminate",
        topic.namespace(),
        url_encode(topic.local_name()).replace('+', "%20")
    )
}

/// Where a redirect points.
fn location(redirect: &Response) -> Result<String, AdminError> {
    redirect
        .headers()
        .get(header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| AdminError::Internal("a redirect without a location".to_string()))
}

/// Terminates a partition on the broker at `location` (a redirect's).
async fn terminate_elsewhere(
    peers: &PeerClient,
    location: String,
) -> Result<MessageIdBody, AdminError> {
    peer_json(peers, Method::POST, &location, "message id").await
}
