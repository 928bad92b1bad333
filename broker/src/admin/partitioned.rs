//! Partitioned-topic endpoints of the admin v2 API, with Pulsar's paths and
//! shapes: create (`PUT …/partitions` with the count as the body), grow
//! (`POST`), read (`GET`, `{"partitions": N}`), delete, the list of a
//! namespace's partitioned topics, and `partitioned-stats`.
//!
//! Creating or growing a partitioned topic stores the count, then an empty
//! ledger list per new partition, so the partitions exist (and are listed)
//! before any client uses them. Each partition is its own topic in its own
//! bundle: deleting and stats visit every partition where it is served.
//! A delete runs the partitions this broker serves (or nobody does), then
//! sends the request on to the next owner (`307`), which does the same;
//! the last one removes the count. So a delete takes at most one hop per
//! broker.

use std::collections::BTreeMap;

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cluster::{redirect_to_topic_owner, topic_owner_url};
use super::openapi::{ErrorBody, NamespacePath, TopicPath};
use super::peers::{peer_client, peer_json, PeerClient};
use super::topics::{create_ledger_list, local_topic_stats, topic_name, TopicStats};
use super::{AdminError, AdminState};
use crate::managed_ledger::ManagedLedgerError;
use crate::namespace::{
    url_encode, NamespaceError, NamespaceName, PartitionedTopicMetadata, TopicName,
};

/// `PUT /admin/v2/persistent/{tenant}/{namespace}/{topic}/partitions`,
/// body: the partition count. 409 when the topic exists (partitioned or
/// not).
#[utoipa::path(put, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/partitions", tag = "partitioned",
    params(TopicPath),
    request_body(content = u32, content_type = "application/json", description = "The number of partitions, 1 to 10000"),
    responses(
        (status = 204, description = "Created, with its partitions"),
        (status = 400, description = "Bad name or count, or the name is a partition's", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "The topic exists, partitioned or not", body = ErrorBody),
    ))]
pub async fn create_partitioned(
    State(state): State<AdminState>,
    Path((tenant, namespace, topic)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<StatusCode, AdminError> {
    let topic = partitioned_name(&tenant, &namespace, &topic)?;
    let partitions = parse_count(&body)?;
    state.policies.namespace_policies(topic.namespace()).await?;
    if state
        .managed_ledgers
        .exists(&topic.persistence_name())
        .await?
    {
        return Err(AdminError::Conflict(format!(
            "{topic} exists as a non-partitioned topic"
        )));
    }
    state
        .policies
        .create_partitioned_topic(&topic, partitions)
        .await?;
    create_partitions(&state, &topic, 0..partitions).await?;
    tracing::info!(%topic, partitions, "created partitioned topic");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/partitions`, body: the new, larger count.
#[utoipa::path(post, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/partitions", tag = "partitioned",
    params(TopicPath),
    request_body(content = u32, content_type = "application/json", description = "The new number of partitions: more than now, at most 10000"),
    responses(
        (status = 204, description = "Grown, with its new partitions"),
        (status = 400, description = "Bad name, or a count that is not larger", body = ErrorBody),
        (status = 404, description = "No such partitioned topic", body = ErrorBody),
        (status = 409, description = "The count changed meanwhile", body = ErrorBody),
    ))]
pub async fn update_partitioned(
    State(state): State<AdminState>,
    Path((tenant, namespace, topic)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<StatusCode, AdminError> {
    let topic = partitioned_name(&tenant, &namespace, &topic)?;
    let partitions = parse_count(&body)?;
    let previous = state
        .policies
        .update_partitioned_topic(&topic, partitions)
        .await?;
    create_partitions(&state, &topic, previous..partitions).await?;
    tracing::info!(%topic, previous, partitions, "grew partitioned topic");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET …/partitions`: `{"partitions": N}`; 0 for a non-partitioned topic,
/// 404 for a topic that does not exist.
#[utoipa::path(get, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/partitions", tag = "partitioned",
    params(TopicPath),
    responses(
        (status = 200, description = "Its number of partitions; 0 for a non-partitioned topic", body = PartitionedTopicMetadata),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace or topic", body = ErrorBody),
    ))]
pub async fn get_partitioned(
    State(state): State<AdminState>,
    Path((tenant, namespace, topic)): Path<(String, String, String)>,
) -> Result<Json<PartitionedTopicMetadata>, AdminError> {
    let topic = topic_name(&tenant, &namespace, &topic)?;
    state.policies.namespace_policies(topic.namespace()).await?;
    if let Some(metadata) = state.policies.partitioned_topic(&topic).await? {
        return Ok(Json(metadata));
    }
    if state
        .managed_ledgers
        .exists(&topic.persistence_name())
        .await?
    {
        return Ok(Json(PartitionedTopicMetadata { partitions: 0 }));
    }
    Err(AdminError::NotFound(format!("topic {topic} not found")))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Close the partitions' producers and consumers instead of refusing.
    force: bool,
}

/// `DELETE …/partitions[?force=true]`: removes the count (from then on no
/// partition loads), then deletes the partitions. Without `force`, a
/// partition with producers or consumers on the broker at hand refuses the
/// delete (412). Partitions served elsewhere are deleted there: the request
/// goes on (`307`) and, the count being gone, the next broker deletes the
/// partitions that are left (refusing in turn, without `force`, when one of
/// its partitions is busy: those partitions stay until a forced delete).
#[utoipa::path(delete, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/partitions", tag = "partitioned",
    params(TopicPath, DeleteQuery),
    responses(
        (status = 204, description = "Deleted, with every partition"),
        (status = 307, description = "Partitions are served by another broker: the same path there, which deletes those"),
        (status = 400, description = "Bad name, or the name is a partition's", body = ErrorBody),
        (status = 404, description = "No such partitioned topic", body = ErrorBody),
        (status = 412, description = "A partition has producers or consumers and force is not set", body = ErrorBody),
    ))]
pub async fn delete_partitioned(
    State(state): State<AdminState>,
    Path((tenant, namespace, topic)): Path<(String, String, String)>,
    Query(query): Query<DeleteQuery>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    let topic = partitioned_name(&tenant, &namespace, &topic)?;
    let registry = state.membership.as_ref().map(|c| c.control().topics());
    let stored = state.policies.partitioned_topic(&topic).await?;
    let partitions = match stored {
        Some(metadata) => (0..metadata.partitions)
            .map(|i| topic.partition(i))
            .collect(),
        // A delete that another broker began: the partitions left.
        None => remaining_partitions(&state, &topic).await?,
    };
    if stored.is_none() && partitions.is_empty() {
        return Err(AdminError::NotFound(format!(
            "partitioned topic {topic} not found"
        )));
    }
    if !query.force {
        for partition in &partitions {
            if let Some(loaded) = registry.and_then(|r| r.get(partition)) {
                if loaded.session_count().await > 0 {
                    return Err(AdminError::PreconditionFailed(format!(
                        "{partition} has producers or consumers; delete with force=true to close them"
                    )));
                }
            }
        }
    }
    if stored.is_some() {
        match state.policies.delete_partitioned_topic(&topic).await {
            Ok(()) | Err(NamespaceError::PartitionedTopicNotFound(_)) => {}
            Err(error) => return Err(error.into()),
        }
        tracing::info!(%topic, "deleting partitioned topic");
    }
    let mut elsewhere = None;
    for partition in &partitions {
        if !state
            .managed_ledgers
            .exists(&partition.persistence_name())
            .await?
        {
            continue;
        }
        if let Some(redirect) = redirect_to_topic_owner(&state, partition, &uri).await? {
            elsewhere.get_or_insert(redirect);
            continue;
        }
        if let Some(registry) = registry {
            registry.unload(partition).await;
        }
        match state
            .managed_ledgers
            .delete(&partition.persistence_name())
            .await
        {
            Ok(()) | Err(ManagedLedgerError::NoSuchManagedLedger(_)) => {}
            Err(error) => return Err(error.into()),
        }
        tracing::info!(%partition, "deleted partition");
    }
    Ok(elsewhere.unwrap_or_else(|| StatusCode::NO_CONTENT.into_response()))
}

/// The partitions of `topic` that still have a managed ledger.
async fn remaining_partitions(
    state: &AdminState,
    topic: &TopicName,
) -> Result<Vec<TopicName>, AdminError> {
    let prefix = format!("{}-partition-", topic.persistence_name());
    let names = state.managed_ledgers.list(&prefix).await?;
    Ok(names
        .iter()
        .filter_map(|name| TopicName::from_persistence_name(name).ok())
        .filter(|partition| {
            partition.partition_index().is_some() && partition.partitioned_topic() == *topic
        })
        .collect())
}

/// `GET /admin/v2/persistent/{tenant}/{namespace}/partitioned`.
#[utoipa::path(get, path = "/admin/v2/persistent/{tenant}/{namespace}/partitioned", tag = "partitioned",
    params(NamespacePath),
    responses(
        (status = 200, description = "The partitioned topics' full names", body = Vec<String>),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ))]
pub async fn list_partitioned(
    State(state): State<AdminState>,
    Path((tenant, namespace)): Path<(String, String)>,
) -> Result<Json<Vec<String>>, AdminError> {
    let namespace = NamespaceName::new(&tenant, &namespace)?;
    state.policies.namespace_policies(&namespace).await?;
    Ok(Json(state.policies.partitioned_topics(&namespace).await?))
}

/// A subscription summed over the partitions.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartitionedSubscriptionStats {
    pub msg_backlog: u64,
}

/// Pulsar's `PartitionedTopicStats`: the sums, and each partition's stats.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartitionedTopicStats {
    pub metadata: PartitionedTopicMetadata,
    pub msg_in_counter: u64,
    pub bytes_in_counter: u64,
    pub msg_out_counter: u64,
    pub bytes_out_counter: u64,
    pub producer_count: u64,
    pub storage_size: u64,
    pub entries: u64,
    pub subscriptions: BTreeMap<String, PartitionedSubscriptionStats>,
    /// Each partition's stats by its full name (left out with `perPartition=false`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub partitions: BTreeMap<String, TopicStats>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Include each partition's stats.
    #[serde(default = "yes")]
    #[param(default = true)]
    per_partition: bool,
}

fn yes() -> bool {
    true
}

/// `GET …/partitioned-stats[?perPartition=false]`: every partition's stats
/// from the broker that serves it, summed.
#[utoipa::path(get, path = "/admin/v2/persistent/{tenant}/{namespace}/{topic}/partitioned-stats", tag = "partitioned",
    params(TopicPath, StatsQuery),
    responses(
        (status = 200, description = "The partitions' stats summed, and each one's", body = PartitionedTopicStats),
        (status = 400, description = "Bad name, or the name is a partition's", body = ErrorBody),
        (status = 404, description = "No such partitioned topic", body = ErrorBody),
        (status = 503, description = "The broker of a partition failed to answer", body = ErrorBody),
    ))]
pub async fn partitioned_stats(
    State(state): State<AdminState>,
    Path((tenant, namespace, topic)): Path<(String, String, String)>,
    Query(query): Query<StatsQuery>,
) -> Result<Json<PartitionedTopicStats>, AdminError> {
    let topic = partitioned_name(&tenant, &namespace, &topic)?;
    let metadata = state
        .policies
        .partitioned_topic(&topic)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("partitioned topic {topic} not found")))?;
    let mut total = PartitionedTopicStats {
        metadata,
        msg_in_counter: 0,
        bytes_in_counter: 0,
        msg_out_counter: 0,
        bytes_out_counter: 0,
        producer_count: 0,
        storage_size: 0,
        entries: 0,
        subscriptions: BTreeMap::new(),
        partitions: BTreeMap::new(),
    };
    // One client for the whole request: its connections to the owners are
    // reused from partition to partition.
    let peers = peer_client(&state.security);
    for index in 0..metadata.partitions {
        let partition = topic.partition(index);
        let stats = match topic_owner_url(&state, &partition).await? {
            Some(owner) => remote_stats(&peers, &owner, &partition).await?,
            None => match local_topic_stats(&state, &partition).await {
                Ok(stats) => stats,
                // Not created yet (a partition of a topic that grew).
                Err(AdminError::NotFound(_)) => continue,
                Err(error) => return Err(error),
            },
        };
        total.msg_in_counter += stats.msg_in_counter;
        total.bytes_in_counter += stats.bytes_in_counter;
        total.msg_out_counter += stats.msg_out_counter;
        total.bytes_out_counter += stats.bytes_out_counter;
        total.producer_count += stats.producer_count;
        total.storage_size += stats.storage_size;
        total.entries += stats.entries;
        for (name, subscription) in &stats.subscriptions {
            total
                .subscriptions
                .entry(name.clone())
                .or_default()
                .msg_backlog += subscription.msg_backlog;
        }
        if query.per_partition {
            total.partitions.insert(partition.to_string(), stats);
        }
    }
    Ok(Json(total))
}

/// A partition's stats from the broker that serves it.
async fn remote_stats(
    peers: &PeerClient,
    owner: &str,
    partition: &TopicName,
) -> Result<TopicStats, AdminError> {
    let url = format!(
        "{owner}/admin/v2/persistent/{}/{}/stats",
        partition.namespace(),
        url_encode(partition.local_name()).replace('+', "%20")
    );
    peer_json(peers, Method::GET, &url, "stats").await
}

/// A partitioned topic's name: not itself a partition.
fn partitioned_name(tenant: &str, namespace: &str, topic: &str) -> Result<TopicName, AdminError> {
    let name = topic_name(tenant, namespace, topic)?;
    if name.partition_index().is_some() {
        return Err(AdminError::BadRequest(format!(
            "{name} names a partition; a partitioned topic's name must not end in -partition-N"
        )));
    }
    Ok(name)
}

/// The body of a create or update: a JSON number from 1 up.
fn parse_count(body: &[u8]) -> Result<u32, AdminError> {
    let count: i64 = serde_json::from_slice(body).map_err(|e| {
        AdminError::BadRequest(format!("the body must be the number of partitions: {e}"))
    })?;
    let count = u32::try_from(count)
        .map_err(|_| AdminError::BadRequest(format!("invalid number of partitions {count}")))?;
    crate::namespace::check_partitions(count)?;
    Ok(count)
}

/// Stores the empty ledger lists of partitions `range` (existing ones are
/// left as they are).
async fn create_partitions(
    state: &AdminState,
    topic: &TopicName,
    range: std::ops::Range<u32>,
) -> Result<(), AdminError> {
    for index in range {
        create_ledger_list(state, &topic.partition(index)).await?;
    }
    Ok(())
}
