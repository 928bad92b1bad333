//! `GET /admin/v2/persistent/{tenant}/{namespace}/{topic}/rateHistory`
//! (Magnetar's own path): the topic's last 15 minutes of rates, storage
//! size and backlogs, as the broker that serves it recorded them
//! ([`crate::topic::RateHistory`]). Other brokers redirect there; a topic
//! loaded nowhere has an empty history.

use axum::extract::{OriginalUri, Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::cluster::redirect_to_topic_owner;
use super::openapi::{ErrorBody, TopicPath};
use super::topics::topic_name;
use super::{AdminError, AdminState};
use crate::topic::RateHistory;

/// The topic's recent history, as the broker that serves it recorded it.
#[utoipa::path(get, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/rateHistory", tag = "topics",
    params(TopicPath),
    responses(
        (status = 200, description = "The last 15 minutes of rates, storage size and backlogs; empty series when the topic is loaded nowhere", body = RateHistory),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such topic", body = ErrorBody),
    ))]
pub async fn rate_history(
    State(state): State<AdminState>,
    Path((tenant, namespace, topic)): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    let topic = topic_name(&tenant, &namespace, &topic)?;
    if let Some(redirect) = redirect_to_topic_owner(&state, &topic, &uri).await? {
        return Ok(redirect);
    }
    if !state
        .managed_ledgers
        .exists(&topic.persistence_name())
        .await?
    {
        return Err(AdminError::NotFound(format!(
            "topic {topic} does not exist"
        )));
    }
    let history = state
        .topics
        .as_ref()
        .and_then(|topics| topics.get(&topic))
        .map(|loaded| loaded.history().lock().report())
        .unwrap_or_default();
    Ok(Json(history).into_response())
}
