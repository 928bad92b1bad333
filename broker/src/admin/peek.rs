//! Reading messages over the admin API, as Pulsar's peek and examine do:
//! the body is the stored payload (a batch's payload whole, with
//! `X-Pulsar-num-batch-message`), and the message's metadata travels in
//! `X-Pulsar-*` headers: `X-Pulsar-Message-ID` (`ledger:entry`),
//! `X-Pulsar-publish-time` (RFC 3339), `X-Pulsar-event-time`,
//! `X-Pulsar-producer-name`, `X-Pulsar-sequence-id`,
//! `X-Pulsar-partition-key`, `X-Pulsar-replicated-from`,
//! `X-Pulsar-schema-version` and one `X-Pulsar-PROPERTY-<key>` per
//! property.
//!
//! - `GET …/{topic}/subscription/{sub}/position/{n}`: the `n`-th message
//!   the subscription has not acknowledged (1 is the next);
//! - `GET …/{topic}/examinemessage?initialPosition=earliest|latest&messagePosition=n`:
//!   the `n`-th stored message from the oldest or from the newest.

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::header::{HeaderMap, HeaderName, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat};
use magnetar_proto::pulsar::{decode_metadata, split_body};
use serde::Deserialize;
use utoipa::IntoParams;

use super::openapi::{ErrorBody, SubscriptionPath, TopicPath};
use super::subscriptions::{loaded_topic, subscription_name};
use super::topics::topic_name;
use super::{AdminError, AdminState};
use crate::managed_ledger::Position;
use crate::topic::PersistentTopic;

fn rfc3339(millis: u64) -> Option<String> {
    DateTime::from_timestamp_millis(i64::try_from(millis).ok()?)
        .map(|time| time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn header(headers: &mut HeaderMap, name: &str, value: impl AsRef<[u8]>) {
    // A name or value HTTP cannot carry (a property's odd key) is left out.
    if let (Ok(name), Ok(value)) = (
        HeaderName::try_from(name),
        HeaderValue::from_bytes(value.as_ref()),
    ) {
        headers.insert(name, value);
    }
}

/// The stored message at `position` as a peek answer.
async fn message_response(
    topic: &PersistentTopic,
    position: Position,
) -> Result<Response, AdminError> {
    let entry = topic.ledger().read_entry(position).await?;
    let corrupt = |e: magnetar_proto::pulsar::FrameError| {
        AdminError::Internal(format!("stored entry {position} is unreadable: {e}"))
    };
    let metadata = decode_metadata(&entry.data).map_err(corrupt)?;
    let (_, payload) = split_body(&entry.data).map_err(corrupt)?;
    let mut headers = HeaderMap::new();
    header(&mut headers, "X-Pulsar-Message-ID", position.to_string());
    if let Some(time) = rfc3339(metadata.publish_time) {
        header(&mut headers, "X-Pulsar-publish-time", time);
    }
    if let Some(time) = metadata.event_time.filter(|&t| t > 0).and_then(rfc3339) {
        header(&mut headers, "X-Pulsar-event-time", time);
    }
    header(
        &mut headers,
        "X-Pulsar-producer-name",
        &metadata.producer_name,
    );
    header(
        &mut headers,
        "X-Pulsar-sequence-id",
        metadata.sequence_id.to_string(),
    );
    if let Some(count) = metadata.num_messages_in_batch {
        header(
            &mut headers,
            "X-Pulsar-num-batch-message",
            count.to_string(),
        );
        header(
            &mut headers,
            "X-Pulsar-batch-size",
            payload.len().to_string(),
        );
    }
    if let Some(key) = &metadata.partition_key {
        header(&mut headers, "X-Pulsar-partition-key", key);
    }
    if let Some(origin) = &metadata.replicated_from {
        header(&mut headers, "X-Pulsar-replicated-from", origin);
    }
    if let Some(version) = &metadata.schema_version {
        header(&mut headers, "X-Pulsar-schema-version", hex(version));
    }
    for property in &metadata.properties {
        header(
            &mut headers,
            &format!("X-Pulsar-PROPERTY-{}", property.key),
            &property.value,
        );
    }
    Ok((StatusCode::OK, headers, Bytes::copy_from_slice(&payload)).into_response())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn position_number(text: &str) -> Result<u64, AdminError> {
    text.parse::<u64>().ok().filter(|&n| n >= 1).ok_or_else(|| {
        AdminError::BadRequest(format!("invalid message position {text:?}: 1 or more"))
    })
}

/// `GET …/subscription/{sub}/position/{n}`.
#[utoipa::path(get, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}/position/{position}", tag = "subscriptions",
    params(SubscriptionPath,
        ("position" = u64, Path, minimum = 1, description = "Which message the subscription has not acknowledged: 1 is the next")),
    responses(
        (status = 200, description = "The message's stored payload (a batch's whole); its metadata in `X-Pulsar-*` headers, and each property `k` in `X-Pulsar-PROPERTY-k`",
            body = Vec<u8>, content_type = "application/octet-stream",
            headers(
                ("X-Pulsar-Message-ID" = String, description = "Its position, `ledger:entry`"),
                ("X-Pulsar-publish-time" = String, description = "When it was published (RFC 3339)"),
                ("X-Pulsar-event-time" = String, description = "Its event time (RFC 3339), when set"),
                ("X-Pulsar-producer-name" = String, description = "The producer that published it"),
                ("X-Pulsar-sequence-id" = u64, description = "The producer's sequence id"),
                ("X-Pulsar-num-batch-message" = u32, description = "Messages in the batch, for a batch"),
                ("X-Pulsar-batch-size" = u64, description = "The batch payload's size in bytes, for a batch"),
                ("X-Pulsar-partition-key" = String, description = "Its key, when set"),
                ("X-Pulsar-replicated-from" = String, description = "The cluster it was replicated from, if any"),
                ("X-Pulsar-schema-version" = String, description = "Its schema version, in hex, when set"),
            )),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name or position", body = ErrorBody),
        (status = 404, description = "No such topic or subscription, or fewer messages to deliver", body = ErrorBody),
        (status = 500, description = "The stored entry is unreadable", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, or this broker serves no topics", body = ErrorBody),
    ))]
pub async fn peek(
    State(state): State<AdminState>,
    Path((tenant, namespace, name, subscription, n)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    subscription_name(&subscription)?;
    let n = position_number(&n)?;
    let topic = topic_name(&tenant, &namespace, &name)?;
    let topic = match loaded_topic(&state, &topic, &uri).await? {
        Ok(topic) => topic,
        Err(redirect) => return Ok(redirect),
    };
    let cursor = topic
        .ledger()
        .cursor(&subscription)
        .ok_or_else(|| AdminError::NotFound(format!("subscription {subscription:?} not found")))?;
    let position = cursor.nth_unacked(n).ok_or_else(|| {
        AdminError::NotFound(format!(
            "subscription {subscription:?} has fewer than {n} messages to deliver"
        ))
    })?;
    message_response(&topic, position).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ExamineQuery {
    /// Count from the oldest stored message (`earliest`) or the newest (`latest`).
    #[serde(default = "latest")]
    #[param(default = "latest", pattern = "^(earliest|latest)$")]
    initial_position: String,
    /// Which message: 1 is the oldest, or the newest.
    #[serde(default = "first")]
    #[param(value_type = u64, minimum = 1, default = 1)]
    message_position: String,
}

fn latest() -> String {
    "latest".to_string()
}

fn first() -> String {
    "1".to_string()
}

/// `GET …/{topic}/examinemessage`.
#[utoipa::path(get, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/examinemessage", tag = "topics",
    params(TopicPath, ExamineQuery),
    responses(
        (status = 200, description = "The message's stored payload (a batch's whole); its metadata in `X-Pulsar-*` headers, and each property `k` in `X-Pulsar-PROPERTY-k`",
            body = Vec<u8>, content_type = "application/octet-stream",
            headers(
                ("X-Pulsar-Message-ID" = String, description = "Its position, `ledger:entry`"),
                ("X-Pulsar-publish-time" = String, description = "When it was published (RFC 3339)"),
                ("X-Pulsar-event-time" = String, description = "Its event time (RFC 3339), when set"),
                ("X-Pulsar-producer-name" = String, description = "The producer that published it"),
                ("X-Pulsar-sequence-id" = u64, description = "The producer's sequence id"),
                ("X-Pulsar-num-batch-message" = u32, description = "Messages in the batch, for a batch"),
                ("X-Pulsar-batch-size" = u64, description = "The batch payload's size in bytes, for a batch"),
                ("X-Pulsar-partition-key" = String, description = "Its key, when set"),
                ("X-Pulsar-replicated-from" = String, description = "The cluster it was replicated from, if any"),
                ("X-Pulsar-schema-version" = String, description = "Its schema version, in hex, when set"),
            )),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name, initialPosition or messagePosition", body = ErrorBody),
        (status = 404, description = "No such topic, or it holds fewer messages", body = ErrorBody),
        (status = 500, description = "The stored entry is unreadable", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, or this broker serves no topics", body = ErrorBody),
    ))]
pub async fn examine(
    State(state): State<AdminState>,
    Path((tenant, namespace, name)): Path<(String, String, String)>,
    Query(query): Query<ExamineQuery>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    let from_end = match query.initial_position.as_str() {
        "latest" => true,
        "earliest" => false,
        other => {
            return Err(AdminError::BadRequest(format!(
                "initialPosition {other:?}: earliest or latest"
            )))
        }
    };
    let n = position_number(&query.message_position)?;
    let topic = topic_name(&tenant, &namespace, &name)?;
    let topic = match loaded_topic(&state, &topic, &uri).await? {
        Ok(topic) => topic,
        Err(redirect) => return Ok(redirect),
    };
    let position = topic
        .ledger()
        .nth_entry(n, from_end)
        .ok_or_else(|| AdminError::NotFound(format!("the topic holds fewer than {n} messages")))?;
    message_response(&topic, position).await
}
