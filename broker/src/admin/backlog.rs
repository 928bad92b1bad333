//! Clearing backlogs in bulk, with Pulsar's paths: every subscription of
//! every topic of a namespace (`…/{namespace}/clearBacklog`) or of one of
//! its bundles (`…/{namespace}/{bundle}/clearBacklog`) acknowledges all it
//! has not yet acknowledged.
//!
//! A topic's cursors can only be moved where the topic is served, so a
//! namespace clear runs bundle by bundle: the bundles that this broker
//! serves, or that no broker serves yet (their topics are placed here
//! first), are cleared here; each bundle that another broker serves is
//! cleared by a request to that broker's bundle path, carrying this
//! broker's own credential. One call thus clears the whole cluster, and
//! fails (503, retryable) rather than report a bundle it did not reach.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{OriginalUri, Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::cluster::{bundle_ref, remote_topic_owner, route, serve_topic_here, Route};
use super::openapi::{BundlePath, ErrorBody, NamespacePath};
use super::peers::{peer_client, send};
use super::{AdminError, AdminState};
use crate::managed_ledger::Position;
use crate::namespace::{NamespaceName, TopicName};
use crate::topic::is_internal_cursor;

/// `POST /admin/v2/namespaces/{tenant}/{namespace}/clearBacklog`.
#[utoipa::path(post, path = "/admin/v2/namespaces/{tenant}/{namespace}/clearBacklog",
    tag = "subscriptions", params(NamespacePath),
    responses(
        (status = 204, description = "Every subscription of every topic is at the end"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 503, description = "A bundle's owner could not be reached, or a topic moved meanwhile: retry", body = ErrorBody),
    ))]
pub async fn clear_namespace_backlog(
    State(state): State<AdminState>,
    Path((tenant, namespace)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<StatusCode, AdminError> {
    let namespace = NamespaceName::new(&tenant, &namespace)?;
    state.policies.namespace_policies(&namespace).await?;
    let mut here = Vec::new();
    // Owner's admin URL → the bundles it serves that hold topics.
    let mut elsewhere: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for topic in namespace_topics(&state, &namespace).await? {
        match remote_topic_owner(&state, &topic).await? {
            Some((owner, bundle)) => {
                elsewhere
                    .entry(owner)
                    .or_default()
                    .insert(bundle.range.to_string());
            }
            None => here.push(topic),
        }
    }
    let cleared = clear_here(&state, &here, &uri).await?;
    let peers = peer_client(&state.security);
    let mut forwarded = 0;
    for (owner, bundles) in &elsewhere {
        for bundle in bundles {
            let url = format!("{owner}/admin/v2/namespaces/{namespace}/{bundle}/clearBacklog");
            let (status, body) = send(&peers, Method::POST, &url).await?;
            if !status.is_success() {
                return Err(AdminError::Unavailable(format!(
                    "{url}: {status}: {}",
                    String::from_utf8_lossy(&body)
                )));
            }
            forwarded += 1;
        }
    }
    tracing::info!(%namespace, cleared, forwarded_bundles = forwarded, "backlog cleared (admin)");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/v2/namespaces/{tenant}/{namespace}/{bundle}/clearBacklog`:
/// on the bundle's owner (307 to it from elsewhere).
#[utoipa::path(post, path = "/admin/v2/namespaces/{tenant}/{namespace}/{bundle}/clearBacklog",
    tag = "subscriptions", params(BundlePath),
    responses(
        (status = 204, description = "Every subscription of every topic of the bundle is at the end"),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name or bundle", body = ErrorBody),
        (status = 404, description = "No such namespace or bundle", body = ErrorBody),
        (status = 503, description = "A topic moved meanwhile: retry", body = ErrorBody),
    ))]
pub async fn clear_bundle_backlog(
    State(state): State<AdminState>,
    Path((tenant, namespace, bundle)): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    let bundle = bundle_ref(&tenant, &namespace, &bundle)?;
    let bundles = state.policies.namespace_bundles(&bundle.namespace).await?;
    if !bundles.contains_range(&bundle.range) {
        return Err(AdminError::NotFound(format!(
            "bundle {bundle} does not exist"
        )));
    }
    if let Some(cluster) = state.membership.as_deref() {
        if let Route::Owner(redirect) = route(cluster, &bundle, &uri).await? {
            return Ok(redirect);
        }
    }
    let topics: Vec<TopicName> = namespace_topics(&state, &bundle.namespace)
        .await?
        .into_iter()
        .filter(|topic| bundles.range_for_topic(topic) == bundle.range)
        .collect();
    let cleared = clear_here(&state, &topics, &uri).await?;
    tracing::info!(%bundle, cleared, "bundle backlog cleared (admin)");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The namespace's persistent topics, from their stored ledger lists.
async fn namespace_topics(
    state: &AdminState,
    namespace: &NamespaceName,
) -> Result<Vec<TopicName>, AdminError> {
    Ok(state
        .managed_ledgers
        .list(&format!("{namespace}/persistent/"))
        .await?
        .iter()
        .filter_map(|stored| TopicName::from_persistence_name(stored).ok())
        .collect())
}

/// Moves every subscription of each of `topics` to its end; each topic is
/// loaded here first (placed here when unowned). Returns how many topics
/// were cleared; a topic that another broker took meanwhile is a 503.
async fn clear_here(
    state: &AdminState,
    topics: &[TopicName],
    uri: &axum::http::Uri,
) -> Result<usize, AdminError> {
    let Some(registry) = &state.topics else {
        return Ok(0);
    };
    for name in topics {
        if serve_topic_here(state, name, uri).await?.is_some() {
            return Err(AdminError::Unavailable(format!(
                "{name} moved to another broker while its backlog was cleared; retry"
            )));
        }
        let topic = registry.get_or_load(name).await?;
        for cursor_name in topic.ledger().cursor_names() {
            if is_internal_cursor(&cursor_name) {
                continue;
            }
            if let Some(cursor) = topic.ledger().cursor(&cursor_name) {
                cursor.ack_before(Position::new(u64::MAX, 0));
                cursor.flush().await?;
            }
        }
    }
    Ok(topics.len())
}
