//! Subscription and per-topic operations of the admin v2 API, as Pulsar
//! has them: list, create at a position, delete, skip N, skip all
//! (clear the backlog), reset the cursor to a time or a message id,
//! expire messages by age. (The namespace's and bundle's `clearBacklog`
//! are in `backlog.rs`; the last message id, unload and internal stats in
//! `topic_state.rs`.)
//!
//! Each runs on the broker that serves the topic: others redirect there
//! (`307`), and an unowned topic is placed first, as a lookup would. The
//! topic is loaded for the operation, so a subscription's dispatcher sees
//! the change at once.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cluster::serve_topic_here;
use super::openapi::{ErrorBody, SubscriptionPath, TopicPath};
use super::topics::{not_found_as_404, topic_name};
use super::{AdminError, AdminState};
use crate::managed_ledger::{now_millis, InitialPosition, ManagedCursor, Position};
use crate::namespace::TopicName;
use crate::topic::{is_internal_cursor, PersistentTopic, TopicError};

/// Pulsar's `MessageIdImpl` as admin requests carry it: `-1:-1` is the
/// earliest position, `Long.MAX_VALUE` the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageIdBody {
    /// The ledger; `-1` for the earliest position, `9223372036854775807`
    /// (`Long.MAX_VALUE`) for the latest.
    pub ledger_id: i64,
    /// The entry within the ledger.
    pub entry_id: i64,
    /// The partition; `-1` (the default) for a non-partitioned topic.
    #[serde(default = "no_partition")]
    #[schema(default = -1)]
    pub partition_index: i32,
}

fn no_partition() -> i32 {
    -1
}

/// Where a message id puts a cursor: its first entry read is the first at
/// or after the position.
enum Start {
    Earliest,
    Latest,
    At(Position),
}

impl MessageIdBody {
    fn start(&self) -> Start {
        if self.ledger_id < 0 {
            Start::Earliest
        } else if self.ledger_id == i64::MAX {
            Start::Latest
        } else {
            Start::At(Position::new(self.ledger_id as u64, self.entry_id.max(0)))
        }
    }
}

impl From<TopicError> for AdminError {
    fn from(error: TopicError) -> Self {
        let reason = error.to_string();
        match error {
            TopicError::InvalidName(_) | TopicError::InvalidRequest(_) => {
                AdminError::BadRequest(reason)
            }
            TopicError::SubscriptionNotFound(_) | TopicError::TopicNotFound(_) => {
                AdminError::NotFound(reason)
            }
            TopicError::SubscriptionBusy { .. } | TopicError::ConsumerBusy { .. } => {
                AdminError::PreconditionFailed(reason)
            }
            TopicError::NotSupported(_) => AdminError::BadRequest(reason),
            TopicError::Storage(storage) => storage.into(),
            TopicError::Namespace(namespace) => namespace.into(),
            _ => AdminError::Unavailable(reason),
        }
    }
}

/// A subscription name an admin may use: not empty, and not a cursor the
/// broker keeps for itself.
pub(super) fn subscription_name(name: &str) -> Result<&str, AdminError> {
    if name.is_empty() || is_internal_cursor(name) || name.contains('/') {
        return Err(AdminError::BadRequest(format!(
            "invalid subscription name {name:?}"
        )));
    }
    Ok(name)
}

/// The topic loaded on this broker, or a redirect to the broker that
/// serves it. A topic that does not exist is a 404 (never created here).
pub(super) async fn loaded_topic(
    state: &AdminState,
    topic: &TopicName,
    uri: &axum::http::Uri,
) -> Result<Result<Arc<PersistentTopic>, Response>, AdminError> {
    if let Some(redirect) = serve_topic_here(state, topic, uri).await? {
        return Ok(Err(redirect));
    }
    state
        .managed_ledgers
        .storage_stats(&topic.persistence_name())
        .await
        .map_err(|e| not_found_as_404(topic, e))?;
    let topics = state
        .topics
        .as_ref()
        .ok_or_else(|| AdminError::Unavailable("this broker serves no topics".to_string()))?;
    Ok(Ok(topics.get_or_load(topic).await?))
}

/// Resolves the topic of a request and runs `operation` on it where it is
/// served; a redirect otherwise.
macro_rules! on_topic {
    ($state:expr, $path:expr, $uri:expr, |$topic:ident| $body:expr) => {{
        let (tenant, namespace, name) = $path;
        let topic_name = topic_name(&tenant, &namespace, &name)?;
        match loaded_topic(&$state, &topic_name, &$uri).await? {
            Err(redirect) => Ok(redirect),
            Ok($topic) => $body,
        }
    }};
}
pub(super) use on_topic;

/// The path of a subscription operation with one argument: tenant,
/// namespace, topic, subscription, argument.
type WithArgument = (String, String, String, String, String);

/// A path argument that must be a non-negative integer.
fn number(text: &str, what: &str) -> Result<u64, AdminError> {
    text.parse()
        .map_err(|_| AdminError::BadRequest(format!("invalid {what} {text:?}")))
}

/// A durable cursor of the loaded topic.
fn cursor(topic: &PersistentTopic, name: &str) -> Result<Arc<ManagedCursor>, AdminError> {
    topic
        .ledger()
        .cursor(name)
        .ok_or_else(|| AdminError::NotFound(format!("subscription {name:?} not found")))
}

/// `GET …/{topic}/subscriptions`: the names of the topic's subscriptions.
#[utoipa::path(get, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscriptions", tag = "subscriptions",
    params(TopicPath),
    responses(
        (status = 200, description = "The subscriptions' names, sorted", body = Vec<String>),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such topic", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, or this broker serves no topics", body = ErrorBody),
    ))]
pub async fn list_subscriptions(
    State(state): State<AdminState>,
    Path(path): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    on_topic!(state, path, uri, |topic| {
        let mut names: Vec<String> = topic.ledger().cursor_names();
        names.extend(topic.subscription_names().await);
        names.retain(|n| !is_internal_cursor(n));
        names.sort();
        names.dedup();
        Ok(Json(names).into_response())
    })
}

/// `PUT …/{topic}/subscription/{subscription}`, body an optional message
/// id (the latest position by default): creates a durable subscription.
#[utoipa::path(put, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}", tag = "subscriptions",
    params(SubscriptionPath),
    request_body(content = Option<MessageIdBody>, description = "Where it starts: its first message is the first at or after this id; empty: the latest position"),
    responses(
        (status = 204, description = "Created"),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name or message id", body = ErrorBody),
        (status = 404, description = "No such topic", body = ErrorBody),
        (status = 409, description = "The subscription exists", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, or this broker serves no topics", body = ErrorBody),
    ))]
pub async fn create_subscription(
    State(state): State<AdminState>,
    Path((tenant, namespace, name, subscription)): Path<(String, String, String, String)>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Result<Response, AdminError> {
    let subscription = subscription_name(&subscription)?.to_string();
    let start = if body.is_empty() {
        Start::Latest
    } else {
        serde_json::from_slice::<MessageIdBody>(&body)
            .map_err(|e| AdminError::BadRequest(format!("invalid message id: {e}")))?
            .start()
    };
    on_topic!(state, (tenant, namespace, name), uri, |topic| {
        if topic.ledger().cursor(&subscription).is_some() {
            return Err(AdminError::Conflict(format!(
                "subscription {subscription:?} already exists"
            )));
        }
        // At a message id: created at the earliest position first, so that
        // no ledger it is about to need can be trimmed in between.
        let initial = match start {
            Start::Earliest | Start::At(_) => InitialPosition::Earliest,
            Start::Latest => InitialPosition::Latest,
        };
        let cursor = topic.ledger().open_cursor(&subscription, initial).await?;
        if let Start::At(position) = start {
            cursor.reset_to(position);
            cursor.flush().await?;
        }
        tracing::info!(topic = %topic.name(), subscription, "created subscription (admin)");
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForceQuery {
    /// Proceed even when it is in use or not empty: the clients attached
    /// are closed, or the topics it holds deleted, first.
    #[serde(default)]
    pub(super) force: bool,
}

/// `DELETE …/{topic}/subscription/{subscription}[?force=true]`: refused
/// (412) while consumers are attached, unless forced.
#[utoipa::path(delete, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}", tag = "subscriptions",
    params(SubscriptionPath, ForceQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such topic or subscription", body = ErrorBody),
        (status = 412, description = "Consumers are attached and force is not set", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, or this broker serves no topics", body = ErrorBody),
    ))]
pub async fn delete_subscription(
    State(state): State<AdminState>,
    Path((tenant, namespace, name, subscription)): Path<(String, String, String, String)>,
    Query(query): Query<ForceQuery>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    let subscription = subscription_name(&subscription)?.to_string();
    on_topic!(state, (tenant, namespace, name), uri, |topic| {
        topic
            .delete_subscription(&subscription, query.force)
            .await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

/// `POST …/subscription/{subscription}/skip_all`: acknowledges the whole
/// backlog.
#[utoipa::path(post, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}/skip_all", tag = "subscriptions",
    params(SubscriptionPath),
    responses(
        (status = 204, description = "The backlog is acknowledged"),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such topic or subscription", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, or this broker serves no topics", body = ErrorBody),
    ))]
pub async fn skip_all(
    State(state): State<AdminState>,
    Path((tenant, namespace, name, subscription)): Path<(String, String, String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    subscription_name(&subscription)?;
    on_topic!(state, (tenant, namespace, name), uri, |topic| {
        let cursor = cursor(&topic, &subscription)?;
        cursor.ack_before(Position::new(u64::MAX, 0));
        cursor.flush().await?;
        tracing::info!(topic = %topic.name(), subscription, "backlog cleared (admin)");
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

/// `POST …/subscription/{subscription}/skip/{count}`: acknowledges the
/// next `count` entries not yet acknowledged.
#[utoipa::path(post, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}/skip/{count}", tag = "subscriptions",
    params(SubscriptionPath,
        ("count" = u64, Path, description = "How many entries not yet acknowledged to skip")),
    responses(
        (status = 204, description = "Skipped (fewer when the backlog is shorter)"),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name or count", body = ErrorBody),
        (status = 404, description = "No such topic or subscription", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, or this broker serves no topics", body = ErrorBody),
    ))]
pub async fn skip(
    State(state): State<AdminState>,
    Path((tenant, namespace, name, subscription, count)): Path<WithArgument>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    subscription_name(&subscription)?;
    let count = number(&count, "count")?;
    on_topic!(state, (tenant, namespace, name), uri, |topic| {
        let cursor = cursor(&topic, &subscription)?;
        let skipped = cursor.skip(count);
        cursor.flush().await?;
        tracing::info!(topic = %topic.name(), subscription, skipped, "entries skipped (admin)");
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

/// `POST …/subscription/{subscription}/expireMessages/{seconds}`:
/// acknowledges every message published more than `seconds` ago.
#[utoipa::path(post, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}/expireMessages/{seconds}", tag = "subscriptions",
    params(SubscriptionPath,
        ("seconds" = u64, Path, description = "Messages published more than this many seconds ago are acknowledged")),
    responses(
        (status = 204, description = "Expired"),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name or expiry time", body = ErrorBody),
        (status = 404, description = "No such topic or subscription", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, or this broker serves no topics", body = ErrorBody),
    ))]
pub async fn expire_messages(
    State(state): State<AdminState>,
    Path((tenant, namespace, name, subscription, seconds)): Path<WithArgument>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    subscription_name(&subscription)?;
    let seconds = number(&seconds, "expiry time")?;
    let before = now_millis().saturating_sub(seconds.saturating_mul(1000));
    on_topic!(state, (tenant, namespace, name), uri, |topic| {
        let cursor = cursor(&topic, &subscription)?;
        let first_kept = topic.ledger().find_by_publish_time(before).await?;
        cursor.ack_before(first_kept);
        cursor.flush().await?;
        tracing::info!(topic = %topic.name(), subscription, seconds, "messages expired (admin)");
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

/// Moves a subscription so that its next message is the first at or after
/// `position`: through its dispatcher when consumers may be attached
/// (they are closed and come back there), else on the cursor.
async fn reset(
    topic: &PersistentTopic,
    subscription: &str,
    position: Position,
) -> Result<(), AdminError> {
    match topic.subscription(subscription).await {
        Some(attached) => attached.dispatcher().reset(position).await?,
        None => {
            let cursor = cursor(topic, subscription)?;
            cursor.reset_to(position);
            cursor.flush().await?;
        }
    }
    tracing::info!(topic = %topic.name(), subscription, %position, "subscription reset (admin)");
    Ok(())
}

/// `POST …/subscription/{subscription}/resetcursor/{timestamp}`: to the
/// first message published at or after `timestamp` (ms since the epoch).
#[utoipa::path(post, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}/resetcursor/{timestamp}", tag = "subscriptions",
    params(SubscriptionPath,
        ("timestamp" = u64, Path, description = "Publish time, in milliseconds since the Unix epoch, of the first message to deliver again")),
    responses(
        (status = 204, description = "Reset; attached consumers reconnect there"),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name or timestamp", body = ErrorBody),
        (status = 404, description = "No such topic or subscription", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, or this broker serves no topics", body = ErrorBody),
    ))]
pub async fn reset_to_time(
    State(state): State<AdminState>,
    Path((tenant, namespace, name, subscription, timestamp)): Path<WithArgument>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    subscription_name(&subscription)?;
    let timestamp = number(&timestamp, "timestamp")?;
    on_topic!(state, (tenant, namespace, name), uri, |topic| {
        cursor(&topic, &subscription)?;
        let position = topic.ledger().find_by_publish_time(timestamp).await?;
        reset(&topic, &subscription, position).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

/// `POST …/subscription/{subscription}/resetcursor`, body a message id.
#[utoipa::path(post, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}/resetcursor", tag = "subscriptions",
    params(SubscriptionPath),
    request_body(content = MessageIdBody, description = "The first message to deliver (the first at or after this id)"),
    responses(
        (status = 204, description = "Reset; attached consumers reconnect there"),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name or message id", body = ErrorBody),
        (status = 404, description = "No such topic or subscription", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, or this broker serves no topics", body = ErrorBody),
    ))]
pub async fn reset_to_message_id(
    State(state): State<AdminState>,
    Path((tenant, namespace, name, subscription)): Path<(String, String, String, String)>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Result<Response, AdminError> {
    subscription_name(&subscription)?;
    let id: MessageIdBody = serde_json::from_slice(&body)
        .map_err(|e| AdminError::BadRequest(format!("invalid message id: {e}")))?;
    on_topic!(state, (tenant, namespace, name), uri, |topic| {
        cursor(&topic, &subscription)?;
        let position = match id.start() {
            Start::Earliest => Position::before_ledger(0),
            Start::Latest => Position::new(u64::MAX, 0),
            Start::At(position) => position,
        };
        reset(&topic, &subscription, position).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}
