//! Persistent-topic endpoints of the admin v2 API: list, create
//! (non-partitioned), delete and stats. In a cluster, delete and stats run
//! on the topic's owner (`307` there from other brokers).

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use magnetar_metadata::{Expected, MetadataError, PutOptions};
use serde::{Deserialize, Serialize};

use super::cluster::redirect_to_topic_owner;
use super::{AdminError, AdminState};
use crate::managed_ledger::{ManagedLedgerError, StoredLedgerList, LEDGER_LIST_ROOT};
use crate::namespace::{NamespaceName, TopicDomain, TopicName};
use crate::producer::DEDUP_CURSOR;

/// Message counters of a topic, kept by the protocol side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicCounters {
    pub msg_in: u64,
    pub bytes_in: u64,
    pub msg_out: u64,
    pub bytes_out: u64,
    pub producers: u64,
    pub consumers: u64,
}

/// Implemented by the protocol side to expose per-topic counters.
pub trait TopicStatsSource: Send + Sync + 'static {
    /// Counters of a loaded topic (full name), `None` if not loaded here.
    fn topic_counters(&self, topic: &str) -> Option<TopicCounters>;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionStats {
    pub msg_backlog: u64,
    pub mark_delete_position: String,
    pub individually_acked_ranges: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicStats {
    pub msg_in_counter: u64,
    pub bytes_in_counter: u64,
    pub msg_out_counter: u64,
    pub bytes_out_counter: u64,
    pub producer_count: u64,
    pub storage_size: u64,
    pub entries: u64,
    pub ledgers: usize,
    pub subscriptions: std::collections::BTreeMap<String, SubscriptionStats>,
    /// Whether adds can be written now; `null` when the topic is not loaded here.
    pub writable: Option<bool>,
    /// Why adds cannot be written (`null` while writable).
    pub not_writable_reason: Option<String>,
    /// Since when adds cannot be written, in milliseconds since the Unix epoch.
    pub not_writable_since: Option<u64>,
    /// Whether new entries skip some bookies of the ensemble.
    pub under_replicated: bool,
    /// The bookies new entries skip.
    pub missing_bookies: Vec<String>,
    /// Adds waiting for a writable ledger.
    pub held_adds: usize,
}

pub(super) fn topic_name(
    tenant: &str,
    namespace: &str,
    topic: &str,
) -> Result<TopicName, AdminError> {
    let namespace = NamespaceName::new(tenant, namespace)?;
    Ok(TopicName::new(TopicDomain::Persistent, namespace, topic)
        .map_err(crate::namespace::NamespaceError::from)?)
}

/// `GET /admin/v2/persistent/{tenant}/{namespace}`: full names of the topics.
pub async fn list_topics(
    State(state): State<AdminState>,
    Path((tenant, namespace)): Path<(String, String)>,
) -> Result<Json<Vec<String>>, AdminError> {
    let namespace = NamespaceName::new(&tenant, &namespace)?;
    state.policies.namespace_policies(&namespace).await?;
    let prefix = format!("{namespace}/persistent/");
    let names = state.managed_ledgers.list(&prefix).await?;
    let topics = names
        .iter()
        .filter_map(|name| TopicName::from_persistence_name(name).ok())
        .map(|topic| topic.to_string())
        .collect();
    Ok(Json(topics))
}

/// `PUT /admin/v2/persistent/{tenant}/{namespace}/{topic}`: creates a
/// non-partitioned topic by storing its empty ledger list. Refused (409)
/// when it exists or is a partitioned topic.
pub async fn create_topic(
    State(state): State<AdminState>,
    Path((tenant, namespace, topic)): Path<(String, String, String)>,
) -> Result<StatusCode, AdminError> {
    let topic = topic_name(&tenant, &namespace, &topic)?;
    state.policies.namespace_policies(topic.namespace()).await?;
    if state.policies.partitioned_topic(&topic).await?.is_some() {
        return Err(AdminError::Conflict(format!(
            "{topic} is a partitioned topic"
        )));
    }
    if !create_ledger_list(&state, &topic).await? {
        return Err(AdminError::Conflict(format!(
            "topic {topic} already exists"
        )));
    }
    tracing::info!(topic = %topic, "created topic");
    Ok(StatusCode::NO_CONTENT)
}

/// Stores an empty ledger list for `topic`: the topic exists from then on,
/// with no bundle ownership needed. False when it existed already.
pub(super) async fn create_ledger_list(
    state: &AdminState,
    topic: &TopicName,
) -> Result<bool, AdminError> {
    let key = format!("{LEDGER_LIST_ROOT}{}", topic.persistence_name());
    let empty = serde_json::to_vec(&StoredLedgerList::default())
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    match state
        .metadata
        .put(
            &key,
            Bytes::from(empty),
            PutOptions::expect(Expected::Absent),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(MetadataError::BadVersion { .. }) => Ok(false),
        Err(e) => Err(AdminError::Unavailable(e.to_string())),
    }
}

/// A missing managed ledger is a topic that does not exist (404); any other
/// error maps as usual.
pub(super) fn not_found_as_404(topic: &TopicName, error: ManagedLedgerError) -> AdminError {
    match error {
        ManagedLedgerError::NoSuchManagedLedger(_) => {
            AdminError::NotFound(format!("topic {topic} not found"))
        }
        other => other.into(),
    }
}

/// `DELETE /admin/v2/persistent/{tenant}/{namespace}/{topic}`.
/// Deletes the topic on the broker that serves it (others redirect there):
/// its producers and consumers are closed first.
pub async fn delete_topic(
    State(state): State<AdminState>,
    Path((tenant, namespace, topic)): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    let topic = topic_name(&tenant, &namespace, &topic)?;
    if let Some(redirect) = redirect_to_topic_owner(&state, &topic, &uri).await? {
        return Ok(redirect);
    }
    if let Some(cluster) = &state.membership {
        cluster.control().topics().unload(&topic).await;
    }
    state
        .managed_ledgers
        .delete(&topic.persistence_name())
        .await
        .map_err(|e| not_found_as_404(&topic, e))?;
    tracing::info!(topic = %topic, "deleted topic");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /admin/v2/persistent/{tenant}/{namespace}/{topic}/stats`.
/// Stats from the broker that serves the topic (others redirect there).
pub async fn topic_stats(
    State(state): State<AdminState>,
    Path((tenant, namespace, topic)): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    let topic = topic_name(&tenant, &namespace, &topic)?;
    if let Some(redirect) = redirect_to_topic_owner(&state, &topic, &uri).await? {
        return Ok(redirect);
    }
    Ok(Json(local_topic_stats(&state, &topic).await?).into_response())
}

/// The stats of `topic` as this broker knows them: storage from the
/// metadata store, counters when the topic is loaded here.
pub(super) async fn local_topic_stats(
    state: &AdminState,
    topic: &TopicName,
) -> Result<TopicStats, AdminError> {
    let storage = state
        .managed_ledgers
        .storage_stats(&topic.persistence_name())
        .await
        .map_err(|e| not_found_as_404(topic, e))?;
    let counters = state
        .topic_stats
        .as_ref()
        .and_then(|source: &Arc<dyn TopicStatsSource>| source.topic_counters(&topic.to_string()))
        .unwrap_or_default();
    let subscriptions = storage
        .cursors
        .into_iter()
        .filter(|c| c.name != DEDUP_CURSOR)
        .map(|c| {
            let stats = SubscriptionStats {
                msg_backlog: c.backlog,
                mark_delete_position: c.mark_delete.to_string(),
                individually_acked_ranges: c.individually_acked_ranges,
            };
            (c.name, stats)
        })
        .collect();
    let writability = storage.writability.unwrap_or_default();
    let loaded = storage.loaded;
    let not_writable = loaded && !writability.is_writable();
    Ok(TopicStats {
        msg_in_counter: counters.msg_in,
        bytes_in_counter: counters.bytes_in,
        msg_out_counter: counters.msg_out,
        bytes_out_counter: counters.bytes_out,
        producer_count: counters.producers,
        storage_size: storage.size_bytes,
        entries: storage.entries,
        ledgers: storage.ledgers,
        subscriptions,
        writable: loaded.then_some(!not_writable),
        not_writable_reason: writability.reason.clone().filter(|_| not_writable),
        not_writable_since: writability.since_ms.filter(|_| not_writable),
        under_replicated: writability.is_degraded(),
        missing_bookies: writability.missing_bookies,
        held_adds: writability.held_adds,
    })
}
