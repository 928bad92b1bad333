//! Persistent-topic endpoints of the admin v2 API: list, create
//! (non-partitioned), delete and stats (Pulsar's shape). In a cluster, delete and stats run
//! on the topic's owner (`307` there from other brokers).

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use magnetar_metadata::{Expected, MetadataError, PutOptions};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::cluster::redirect_to_topic_owner;
use super::openapi::{ErrorBody, NamespacePath, TopicPath};
use super::subscriptions::ForceQuery;
use super::{AdminError, AdminState};
use crate::compaction::compacted_ledgers;
use crate::managed_ledger::{ManagedLedgerError, StoredLedgerList, LEDGER_LIST_ROOT};
use crate::namespace::{NamespaceName, TopicDomain, TopicName};
use crate::replication::ReplicatorSnapshot;
use crate::topic::{is_internal_cursor, PublisherStats, SubscriptionStats};

/// Pulsar's topic stats: traffic (rates per second over the last
/// sampling interval, counters since the topic was loaded here), clients
/// and storage. Traffic and clients come from the broker that has the
/// topic loaded; elsewhere they are zero and empty.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicStats {
    pub msg_rate_in: f64,
    pub msg_throughput_in: f64,
    pub msg_rate_out: f64,
    pub msg_throughput_out: f64,
    pub msg_in_counter: u64,
    pub bytes_in_counter: u64,
    pub msg_out_counter: u64,
    pub bytes_out_counter: u64,
    pub average_msg_size: f64,
    pub producer_count: u64,
    pub publishers: Vec<PublisherStats>,
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
    /// Replication to each remote cluster (Pulsar's `replication`).
    pub replication: std::collections::BTreeMap<String, ReplicatorSnapshot>,
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
#[utoipa::path(get, path = "/admin/v2/persistent/{tenant}/{namespace}", tag = "topics",
    params(NamespacePath),
    responses(
        (status = 200, description = "The topics' full names, `persistent://tenant/namespace/topic`", body = Vec<String>),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ))]
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
#[utoipa::path(put, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}", tag = "topics",
    params(TopicPath),
    responses(
        (status = 204, description = "Created"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "The topic exists, or is a partitioned topic", body = ErrorBody),
    ))]
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

/// `DELETE /admin/v2/persistent/{tenant}/{namespace}/{topic}[?force=true]`.
/// Deletes the topic on the broker that serves it (others redirect there).
/// Refused (412) while producers or consumers are attached, unless forced:
/// they are closed first.
#[utoipa::path(delete, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}", tag = "topics",
    params(TopicPath, ForceQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such topic", body = ErrorBody),
        (status = 412, description = "Producers or consumers are attached and force is not set", body = ErrorBody),
    ))]
pub async fn delete_topic(
    State(state): State<AdminState>,
    Path((tenant, namespace, topic)): Path<(String, String, String)>,
    Query(query): Query<ForceQuery>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    let topic = topic_name(&tenant, &namespace, &topic)?;
    if let Some(redirect) = redirect_to_topic_owner(&state, &topic, &uri).await? {
        return Ok(redirect);
    }
    if let Some(loaded) = state.topics.as_ref().and_then(|t| t.get(&topic)) {
        let sessions = loaded.session_count().await;
        if sessions > 0 && !query.force {
            return Err(AdminError::PreconditionFailed(format!(
                "topic {topic} has {sessions} producers and consumers attached; delete with force=true to close them"
            )));
        }
    }
    delete_here(&state, &topic).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Closes `topic` here if loaded and deletes its ledgers and cursors.
pub(super) async fn delete_here(state: &AdminState, topic: &TopicName) -> Result<(), AdminError> {
    if let Some(topics) = &state.topics {
        topics.unload(topic).await;
    }
    state
        .managed_ledgers
        .delete_with(&topic.persistence_name(), compacted_ledgers)
        .await
        .map_err(|e| not_found_as_404(topic, e))?;
    tracing::info!(topic = %topic, "deleted topic");
    Ok(())
}

/// `GET /admin/v2/persistent/{tenant}/{namespace}/{topic}/stats`.
/// Stats from the broker that serves the topic (others redirect there).
#[utoipa::path(get, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/stats", tag = "topics",
    params(TopicPath),
    responses(
        (status = 200, description = "Traffic, clients, subscriptions and storage", body = TopicStats),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such topic", body = ErrorBody),
    ))]
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
    let loaded = match &state.topics {
        Some(topics) => match topics.get(topic) {
            Some(loaded) => Some(loaded.snapshot().await),
            None => None,
        },
        None => None,
    };
    // Stored cursors first, so that durable subscriptions show with no
    // consumer attached; the loaded topic's view replaces them.
    let mut subscriptions: std::collections::BTreeMap<String, SubscriptionStats> = storage
        .cursors
        .into_iter()
        .filter(|c| !is_internal_cursor(&c.name))
        .map(|c| {
            let stats = SubscriptionStats {
                msg_backlog: c.backlog,
                is_durable: true,
                mark_delete_position: c.mark_delete.to_string(),
                individually_acked_ranges: c.individually_acked_ranges,
                ..Default::default()
            };
            (c.name, stats)
        })
        .collect();
    let mut stats = TopicStats::default();
    if let Some(snapshot) = loaded {
        subscriptions.extend(snapshot.subscriptions);
        stats = TopicStats {
            msg_rate_in: snapshot.msg_rate_in,
            msg_throughput_in: snapshot.msg_throughput_in,
            msg_rate_out: snapshot.msg_rate_out,
            msg_throughput_out: snapshot.msg_throughput_out,
            msg_in_counter: snapshot.totals.msgs_in,
            bytes_in_counter: snapshot.totals.bytes_in,
            msg_out_counter: snapshot.totals.msgs_out,
            bytes_out_counter: snapshot.totals.bytes_out,
            average_msg_size: if snapshot.totals.msgs_in == 0 {
                0.0
            } else {
                snapshot.totals.bytes_in as f64 / snapshot.totals.msgs_in as f64
            },
            producer_count: snapshot.publishers.len() as u64,
            publishers: snapshot.publishers,
            replication: snapshot.replication.into_iter().collect(),
            ..stats
        };
    }
    let writability = storage.writability.unwrap_or_default();
    let loaded = storage.loaded;
    let not_writable = loaded && !writability.is_writable();
    Ok(TopicStats {
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
        ..stats
    })
}
