//! Cluster endpoints, with Pulsar's paths and JSON shapes: the HTTP lookup,
//! brokers and the leader, owned bundles, a namespace's bundles, and bundle
//! unload and split.
//!
//! An unload or split must run on the bundle's owner, and so must a topic's
//! stats and deletion. Sent to another broker, each is answered `307
//! Temporary Redirect` to the same path on the owner, as Pulsar does; unowned bundles have nothing to unload. A whole
//! namespace unload files a request per bundle owned elsewhere (the
//! owners poll for them) and waits, bounded, until they are carried out.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::openapi::{BundlePath, ClusterPath, ErrorBody, NamespacePath, TopicPath};
use super::{AdminError, AdminState};
use crate::cluster::requests::{self, BundleRequest, RequestKind};
use crate::cluster::{Cluster, LeaderInfo};
use crate::namespace::{
    url_encode, BundleRange, BundleRef, BundlesData, NamespaceName, OwnershipInfo, TopicDomain,
    TopicName, OWNERSHIP_ROOT,
};
use crate::topic::{LookupAnswer, TopicOwnership};

/// Longest wait of a namespace unload for the other owners.
const NAMESPACE_UNLOAD_WAIT: Duration = Duration::from_secs(30);
const NAMESPACE_UNLOAD_POLL: Duration = Duration::from_millis(100);

fn cluster(state: &AdminState) -> Result<&Arc<Cluster>, AdminError> {
    state
        .membership
        .as_ref()
        .ok_or_else(|| AdminError::Unavailable("this broker is not part of a cluster".into()))
}

/// Pulsar's `LookupData`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LookupData {
    pub broker_url: String,
    pub broker_url_tls: String,
    pub http_url: String,
    pub http_url_tls: String,
    pub native_url: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct LookupQuery {
    /// Set by a broker that redirected here: this broker decides.
    #[serde(default)]
    authoritative: bool,
    /// The advertised listener whose addresses the answer gives.
    listener_name: Option<String>,
}

/// `GET /lookup/v2/topic/{domain}/{tenant}/{namespace}/{topic}`.
#[utoipa::path(get, path = "/lookup/v2/topic/{domain}/{tenant}/{namespace}/{topic}", tag = "lookup",
    params(
        ("domain" = String, Path, description = "`persistent` or `non-persistent`"),
        TopicPath,
        LookupQuery,
    ),
    responses(
        (status = 200, description = "The broker that serves the topic", body = LookupData),
        (status = 307, description = "Another broker decides: the same lookup there"),
        (status = 400, description = "Bad domain or name", body = ErrorBody),
        (status = 503, description = "Not part of a cluster, or the lookup failed", body = ErrorBody),
    ))]
pub async fn lookup(
    State(state): State<AdminState>,
    Path((domain, tenant, namespace, topic)): Path<(String, String, String, String)>,
    Query(query): Query<LookupQuery>,
) -> Result<Response, AdminError> {
    let cluster = cluster(&state)?;
    let domain = TopicDomain::parse(&domain)
        .ok_or_else(|| AdminError::BadRequest(format!("unknown topic domain {domain:?}")))?;
    let topic = TopicName::new(domain, NamespaceName::new(&tenant, &namespace)?, &topic)
        .map_err(crate::namespace::NamespaceError::from)?;
    let answer = cluster
        .ownership()
        .lookup(&topic, query.authoritative, query.listener_name.as_deref())
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    Ok(match answer {
        LookupAnswer::Connect(target) => Json(LookupData {
            broker_url: target.service_url.clone(),
            broker_url_tls: String::new(),
            http_url: target.http_url,
            http_url_tls: String::new(),
            native_url: target.service_url,
        })
        .into_response(),
        LookupAnswer::Redirect {
            target,
            authoritative,
        } => {
            let mut location = format!(
                "{}/lookup/v2/topic/{}/{tenant}/{namespace}/{}?authoritative={authoritative}",
                target.http_url,
                domain.as_str(),
                url_encode(topic.local_name())
            );
            if let Some(listener) = &query.listener_name {
                location.push_str(&format!("&listenerName={listener}"));
            }
            redirect(&location)
        }
    })
}

fn redirect(location: &str) -> Response {
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

/// `GET /admin/v2/brokers/{cluster}`: ids of the live brokers.
#[utoipa::path(get, path = "/admin/v2/brokers/{cluster}", tag = "brokers", params(ClusterPath),
    responses(
        (status = 200, description = "The live brokers' ids, `host:port`", body = Vec<String>),
        (status = 404, description = "Not this broker's cluster", body = ErrorBody),
        (status = 503, description = "Not part of a cluster, or the registry cannot be read", body = ErrorBody),
    ))]
pub async fn list_brokers(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<String>>, AdminError> {
    let cluster = cluster(&state)?;
    if name != state.cluster {
        return Err(AdminError::NotFound(format!(
            "cluster {name} is not this cluster"
        )));
    }
    let brokers = cluster.registry().brokers().await.map_err(unavailable)?;
    Ok(Json(brokers.into_keys().collect()))
}

/// `GET /admin/v2/brokers/leaderBroker`.
#[utoipa::path(get, path = "/admin/v2/brokers/leaderBroker", tag = "brokers",
    responses(
        (status = 200, description = "The load-manager leader", body = LeaderInfo),
        (status = 404, description = "No leader is elected", body = ErrorBody),
        (status = 503, description = "Not part of a cluster, or the registry cannot be read", body = ErrorBody),
    ))]
pub async fn leader_broker(
    State(state): State<AdminState>,
) -> Result<Json<LeaderInfo>, AdminError> {
    let cluster = cluster(&state)?;
    cluster
        .registry()
        .leader()
        .await
        .map_err(unavailable)?
        .map(Json)
        .ok_or_else(|| AdminError::NotFound("no leader is elected".into()))
}

/// Pulsar's `NamespaceOwnershipStatus`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnershipStatus {
    pub broker_assignment: &'static str,
    pub is_controlled: bool,
    pub is_active: bool,
}

/// `GET /admin/v2/brokers/{cluster}/{broker}/ownedNamespaces`: the
/// bundles `broker` owns, by `tenant/ns/range`.
#[utoipa::path(get, path = "/admin/v2/brokers/{cluster}/{broker}/ownedNamespaces", tag = "brokers",
    params(
        ClusterPath,
        ("broker" = String, Path, description = "The broker's id, `host:port`"),
    ),
    responses(
        (status = 200, description = "The broker's bundles, by `tenant/namespace/range`", body = BTreeMap<String, OwnershipStatus>),
        (status = 404, description = "Not this broker's cluster, or no such broker", body = ErrorBody),
        (status = 503, description = "Not part of a cluster, or the metadata store cannot be read", body = ErrorBody),
    ))]
pub async fn owned_namespaces(
    State(state): State<AdminState>,
    Path((name, broker)): Path<(String, String)>,
) -> Result<Json<BTreeMap<String, OwnershipStatus>>, AdminError> {
    let cluster = cluster(&state)?;
    if name != state.cluster {
        return Err(AdminError::NotFound(format!(
            "cluster {name} is not this cluster"
        )));
    }
    let mut owned = BTreeMap::new();
    let entries = state
        .metadata
        .list_all(OWNERSHIP_ROOT)
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    for (key, stored) in &entries {
        let Ok(owner) = serde_json::from_slice::<OwnershipInfo>(&stored.value) else {
            continue;
        };
        if owner.broker_id == broker {
            owned.insert(
                key[OWNERSHIP_ROOT.len()..].to_string(),
                OwnershipStatus {
                    broker_assignment: "shared",
                    is_controlled: false,
                    is_active: !owner.disabled,
                },
            );
        }
    }
    // A broker that left may still hold bundles until its session ends;
    // one that holds none and is not registered is unknown.
    if owned.is_empty() {
        let brokers = cluster.registry().brokers().await.map_err(unavailable)?;
        if !brokers.contains_key(&broker) {
            return Err(AdminError::NotFound(format!(
                "no broker {broker} in {name}"
            )));
        }
    }
    Ok(Json(owned))
}

/// `GET /admin/v2/namespaces/{tenant}/{namespace}/bundles`.
#[utoipa::path(get, path = "/admin/v2/namespaces/{tenant}/{namespace}/bundles", tag = "namespaces",
    params(NamespacePath),
    responses(
        (status = 200, description = "The namespace's bundle boundaries", body = BundlesData),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ))]
pub async fn bundles(
    State(state): State<AdminState>,
    Path((tenant, namespace)): Path<(String, String)>,
) -> Result<Json<BundlesData>, AdminError> {
    let namespace = NamespaceName::new(&tenant, &namespace)?;
    Ok(Json(
        state
            .policies
            .namespace_bundles(&namespace)
            .await?
            .to_data(),
    ))
}

pub(super) fn bundle_ref(
    tenant: &str,
    namespace: &str,
    bundle: &str,
) -> Result<BundleRef, AdminError> {
    Ok(BundleRef {
        namespace: NamespaceName::new(tenant, namespace)?,
        range: BundleRange::parse(bundle)
            .ok_or_else(|| AdminError::BadRequest(format!("invalid bundle {bundle:?}")))?,
    })
}

/// Where a bundle operation must run.
pub(super) enum Route {
    /// This broker owns the bundle.
    Here,
    /// Another broker owns it: this redirect sends the request there.
    Owner(Response),
    /// Nobody owns it.
    Unowned,
}

/// Routes an operation on `bundle` by its owner record.
pub(super) async fn route(
    cluster: &Cluster,
    bundle: &BundleRef,
    uri: &axum::http::Uri,
) -> Result<Route, AdminError> {
    let namespaces = cluster.control().namespaces();
    if namespaces.owns(bundle) {
        return Ok(Route::Here);
    }
    match namespaces.owner(bundle).await? {
        Some(owner) if owner.broker_id != cluster.broker_id() => Ok(Route::Owner(redirect(
            &format!("{}{}", owner.http_url, uri),
        ))),
        Some(_) => Err(AdminError::Unavailable(format!(
            "bundle {bundle} is in transition on this broker"
        ))),
        None => Ok(Route::Unowned),
    }
}

/// How `topic`'s bundle is served now, with the cluster and the bundle;
/// `None` outside a cluster.
async fn topic_route<'a>(
    state: &'a AdminState,
    topic: &TopicName,
    uri: &axum::http::Uri,
) -> Result<Option<(&'a Cluster, BundleRef, Route)>, AdminError> {
    let Some(cluster) = state.membership.as_deref() else {
        return Ok(None);
    };
    let bundle = cluster.control().namespaces().bundle_of(topic).await?;
    let route = route(cluster, &bundle, uri).await?;
    Ok(Some((cluster, bundle, route)))
}

/// A redirect to the owner of `topic`'s bundle when another broker owns
/// it: topic operations (stats, delete) run where the topic is served.
/// `None` here, for an unowned bundle, and outside a cluster.
pub async fn redirect_to_topic_owner(
    state: &AdminState,
    topic: &TopicName,
    uri: &axum::http::Uri,
) -> Result<Option<Response>, AdminError> {
    Ok(match topic_route(state, topic, uri).await? {
        Some((_, _, Route::Owner(redirect))) => Some(redirect),
        _ => None,
    })
}

/// For operations that need the topic loaded: a redirect to the broker
/// that serves `topic`, or `None` once this broker does. An unowned bundle
/// is placed first, as a client's lookup would place it.
pub async fn serve_topic_here(
    state: &AdminState,
    topic: &TopicName,
    uri: &axum::http::Uri,
) -> Result<Option<Response>, AdminError> {
    let (cluster, bundle) = match topic_route(state, topic, uri).await? {
        None | Some((_, _, Route::Here)) => return Ok(None),
        Some((_, _, Route::Owner(redirect))) => return Ok(Some(redirect)),
        Some((cluster, bundle, Route::Unowned)) => (cluster, bundle),
    };
    cluster
        .ownership()
        .lookup(topic, false, None)
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    match route(cluster, &bundle, uri).await? {
        Route::Here => Ok(None),
        Route::Owner(redirect) => Ok(Some(redirect)),
        Route::Unowned => Err(AdminError::Unavailable(format!(
            "no broker serves {topic} yet; retry"
        ))),
    }
}

/// The admin URL (`http://host:port`) of the broker that serves `topic`
/// when it is another broker; `None` here, for an unowned bundle, and
/// outside a cluster.
pub async fn topic_owner_url(
    state: &AdminState,
    topic: &TopicName,
) -> Result<Option<String>, AdminError> {
    Ok(remote_topic_owner(state, topic).await?.map(|(url, _)| url))
}

/// [`topic_owner_url`] with the topic's bundle.
pub(super) async fn remote_topic_owner(
    state: &AdminState,
    topic: &TopicName,
) -> Result<Option<(String, BundleRef)>, AdminError> {
    let Some(cluster) = state.membership.as_ref() else {
        return Ok(None);
    };
    let namespaces = cluster.control().namespaces();
    let bundle = namespaces.bundle_of(topic).await?;
    if namespaces.owns(&bundle) {
        return Ok(None);
    }
    Ok(namespaces
        .owner(&bundle)
        .await?
        .filter(|owner| owner.broker_id != cluster.broker_id())
        .map(|owner| (owner.http_url, bundle)))
}

/// What a bundle endpoint does.
#[derive(Clone, Copy)]
enum BundleOp {
    Unload,
    Split,
}

/// Runs `op` on a bundle of the namespace: here when this broker owns it,
/// on the owner (redirect) when another does. An unowned bundle has no
/// topic loaded anywhere: unloading it is a no-op, splitting it changes
/// only the boundaries.
async fn bundle_operation(
    state: &AdminState,
    (tenant, namespace, bundle): (String, String, String),
    uri: &axum::http::Uri,
    op: BundleOp,
) -> Result<Response, AdminError> {
    let cluster = cluster(state)?;
    let bundle = bundle_ref(&tenant, &namespace, &bundle)?;
    let bundles = state.policies.namespace_bundles(&bundle.namespace).await?;
    if !bundles.contains_range(&bundle.range) {
        return Err(AdminError::NotFound(format!(
            "bundle {bundle} does not exist"
        )));
    }
    let control = cluster.control();
    match (route(cluster, &bundle, uri).await?, op) {
        (Route::Owner(redirect), _) => return Ok(redirect),
        (Route::Here, BundleOp::Unload) => {
            control.unload(&bundle).await.map_err(cluster_error)?;
        }
        (Route::Here, BundleOp::Split) => {
            control.split(&bundle).await.map_err(cluster_error)?;
        }
        (Route::Unowned, BundleOp::Unload) => {}
        (Route::Unowned, BundleOp::Split) => {
            state
                .policies
                .split_bundle(&bundle.namespace, &bundle.range)
                .await?;
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /admin/v2/namespaces/{tenant}/{namespace}/{bundle}/unload`.
#[utoipa::path(put, path = "/admin/v2/namespaces/{tenant}/{namespace}/{bundle}/unload", tag = "namespaces",
    params(BundlePath),
    responses(
        (status = 204, description = "Unloaded, or owned by no broker"),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name or bundle", body = ErrorBody),
        (status = 404, description = "No such namespace or bundle", body = ErrorBody),
        (status = 409, description = "This broker lost the bundle meanwhile", body = ErrorBody),
        (status = 503, description = "Not part of a cluster, or the bundle is in transition", body = ErrorBody),
    ))]
pub async fn unload_bundle(
    State(state): State<AdminState>,
    Path(path): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    bundle_operation(&state, path, &uri, BundleOp::Unload).await
}

/// `PUT /admin/v2/namespaces/{tenant}/{namespace}/{bundle}/split`.
#[utoipa::path(put, path = "/admin/v2/namespaces/{tenant}/{namespace}/{bundle}/split", tag = "namespaces",
    params(BundlePath),
    responses(
        (status = 204, description = "Split in two"),
        (status = 307, description = "Served by another broker: the same path there"),
        (status = 400, description = "Bad name, or a bundle too small to split", body = ErrorBody),
        (status = 404, description = "No such namespace or bundle", body = ErrorBody),
        (status = 409, description = "This broker lost the bundle, or the bundles changed meanwhile", body = ErrorBody),
        (status = 503, description = "Not part of a cluster, or the bundle is in transition", body = ErrorBody),
    ))]
pub async fn split_bundle(
    State(state): State<AdminState>,
    Path(path): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, AdminError> {
    bundle_operation(&state, path, &uri, BundleOp::Split).await
}

/// `PUT /admin/v2/namespaces/{tenant}/{namespace}/unload`: every bundle.
#[utoipa::path(put, path = "/admin/v2/namespaces/{tenant}/{namespace}/unload", tag = "namespaces",
    params(NamespacePath),
    responses(
        (status = 204, description = "Every owned bundle was unloaded"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "This broker lost a bundle meanwhile", body = ErrorBody),
        (status = 503, description = "Not part of a cluster, no metadata session, or another owner did not unload in time", body = ErrorBody),
    ))]
pub async fn unload_namespace(
    State(state): State<AdminState>,
    Path((tenant, namespace)): Path<(String, String)>,
) -> Result<StatusCode, AdminError> {
    let cluster = cluster(&state)?;
    let namespace = NamespaceName::new(&tenant, &namespace)?;
    let bundles = state.policies.namespace_bundles(&namespace).await?;
    let session = cluster
        .control()
        .namespaces()
        .session_id()
        .ok_or_else(|| AdminError::Unavailable("no metadata session".into()))?;
    let mut filed = Vec::new();
    for range in bundles.ranges() {
        let bundle = BundleRef {
            namespace: namespace.clone(),
            range,
        };
        if cluster.control().namespaces().owns(&bundle) {
            cluster
                .control()
                .unload(&bundle)
                .await
                .map_err(cluster_error)?;
            continue;
        }
        let Some(owner) = cluster.control().namespaces().owner(&bundle).await? else {
            continue;
        };
        let request = BundleRequest {
            kind: RequestKind::Unload,
            bundle: bundle.to_string(),
            owner: owner.broker_id,
            reason: "namespace unload through the admin API".into(),
        };
        requests::file(state.metadata.as_ref(), &request, session)
            .await
            .map_err(cluster_error)?;
        filed.push(bundle);
    }
    let deadline = tokio::time::Instant::now() + NAMESPACE_UNLOAD_WAIT;
    for bundle in filed {
        loop {
            let owner = cluster.control().namespaces().owner(&bundle).await?;
            if owner.is_none() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(AdminError::Unavailable(format!(
                    "bundle {bundle} was not unloaded within {}s",
                    NAMESPACE_UNLOAD_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(NAMESPACE_UNLOAD_POLL).await;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

fn unavailable(error: crate::cluster::ClusterError) -> AdminError {
    AdminError::Unavailable(error.to_string())
}

fn cluster_error(error: crate::cluster::ClusterError) -> AdminError {
    use crate::cluster::ClusterError;
    match error {
        ClusterError::Namespace(error) => error.into(),
        ClusterError::NotOwner(reason) => AdminError::Conflict(reason),
        other => AdminError::Unavailable(other.to_string()),
    }
}
