//! Per-topic operations of the admin v2 API on a topic's stored and
//! served state: its last message id, unload, and internal stats (ledgers
//! and cursors), as Pulsar has them. Each runs on the broker that serves
//! the topic; others redirect there (`307`).

use std::collections::BTreeMap;

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::cluster::serve_topic_here;
use super::openapi::{ErrorBody, TopicPath};
use super::subscriptions::{loaded_topic, on_topic, MessageIdBody};
use super::topics::{not_found_as_404, topic_name};
use super::{AdminError, AdminState};
use crate::managed_ledger::Position;

/// `GET …/{topic}/lastMessageId`: the last stored entry (`-1:-1` when the
/// topic holds none).
#[utoipa::path(get, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/lastMessageId", tag = "topics",
    params(TopicPath),
    responses(
        (status = 200, description = "The last stored message's id; `-1:-1` when none", body = MessageIdBody),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such topic", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, or this broker serves no topics", body = ErrorBody),
    ))]
pub async fn last_message_id(
    State(state): State<AdminState>,
    Path(path): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    on_topic!(state, path, uri, |topic| {
        let (ledger_id, entry_id) = match topic.ledger().last_confirmed() {
            Some(last) if last.entry_id >= 0 => (last.ledger_id as i64, last.entry_id),
            _ => (-1, -1),
        };
        Ok(Json(MessageIdBody {
            ledger_id,
            entry_id,
            partition_index: topic
                .name()
                .partition_index()
                .map_or(-1, |index| index as i32),
        })
        .into_response())
    })
}

/// `PUT …/{topic}/unload`: closes the topic here; clients reconnect and
/// it loads again on the broker their lookup picks.
#[utoipa::path(put, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/unload", tag = "topics",
    params(TopicPath),
    responses(
        (status = 204, description = "Unloaded"),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such topic", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet", body = ErrorBody),
    ))]
pub async fn unload_topic(
    State(state): State<AdminState>,
    Path((tenant, namespace, name)): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    let topic = topic_name(&tenant, &namespace, &name)?;
    if let Some(redirect) = serve_topic_here(&state, &topic, &uri).await? {
        return Ok(redirect);
    }
    state
        .managed_ledgers
        .storage_stats(&topic.persistence_name())
        .await
        .map_err(|e| not_found_as_404(&topic, e))?;
    if let Some(topics) = &state.topics {
        topics.unload(&topic).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A ledger in internal stats.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerInternalStats {
    pub ledger_id: u64,
    pub entries: i64,
    pub size: u64,
}

/// A cursor in internal stats.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CursorInternalStats {
    pub mark_delete_position: String,
    pub read_position: String,
    /// Pulsar's form: `[(l:e..l:e]]`, each range open at its start.
    pub individually_deleted_messages: String,
    pub number_of_entries_since_first_not_acked_message: u64,
    pub total_non_contiguous_deleted_messages_range: usize,
    pub properties: BTreeMap<String, String>,
}

/// Pulsar's `PersistentTopicInternalStats`, for the fields Magnetar has.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicInternalStats {
    pub number_of_entries: u64,
    pub total_size: u64,
    pub current_ledger_entries: i64,
    pub current_ledger_size: u64,
    pub last_confirmed_entry: String,
    pub state: &'static str,
    pub ledgers: Vec<LedgerInternalStats>,
    pub cursors: BTreeMap<String, CursorInternalStats>,
}

/// Pulsar writes a range of individually deleted entries as `(a..b]`,
/// open at the entry before the first.
fn deleted_ranges(ranges: &[(Position, Position)]) -> String {
    let parts: Vec<String> = ranges
        .iter()
        .map(|(first, last)| format!("({}:{}..{}]", first.ledger_id, first.entry_id - 1, last))
        .collect();
    format!("[{}]", parts.join(","))
}

/// `GET …/{topic}/internalStats`: ledgers and cursors.
#[utoipa::path(get, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/internalStats", tag = "topics",
    params(TopicPath),
    responses(
        (status = 200, description = "Its ledgers and cursors", body = TopicInternalStats),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such topic", body = ErrorBody),
        (status = 503, description = "No broker serves the topic yet, or this broker serves no topics", body = ErrorBody),
    ))]
pub async fn internal_stats(
    State(state): State<AdminState>,
    Path(path): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    on_topic!(state, path, uri, |topic| {
        let ledger = topic.ledger();
        let stats = ledger.stats();
        let ledgers: Vec<LedgerInternalStats> = ledger
            .ledgers()
            .into_iter()
            .map(|(ledger_id, entries, size)| LedgerInternalStats {
                ledger_id,
                entries,
                size,
            })
            .collect();
        let cursors = ledger
            .cursor_names()
            .into_iter()
            .filter_map(|name| ledger.cursor(&name).map(|c| (name, c)))
            .map(|(name, cursor)| {
                let ranges = cursor.acked_ranges();
                let stats = CursorInternalStats {
                    mark_delete_position: cursor.mark_delete_position().to_string(),
                    read_position: cursor.read_position().to_string(),
                    individually_deleted_messages: deleted_ranges(&ranges),
                    number_of_entries_since_first_not_acked_message: cursor.backlog(),
                    total_non_contiguous_deleted_messages_range: ranges.len(),
                    properties: cursor.properties(),
                };
                (name, stats)
            })
            .collect();
        let current = ledgers.last();
        Ok(Json(TopicInternalStats {
            number_of_entries: stats.entries,
            total_size: stats.size_bytes,
            current_ledger_entries: current.map_or(0, |l| l.entries),
            current_ledger_size: current.map_or(0, |l| l.size),
            last_confirmed_entry: stats
                .last_confirmed
                .map_or_else(|| "-1:-1".to_string(), |p| p.to_string()),
            state: if !ledger.is_open() {
                "Closed"
            } else if ledger.is_terminated() {
                "Terminated"
            } else {
                "LedgerOpened"
            },
            ledgers,
            cursors,
        })
        .into_response())
    })
}
