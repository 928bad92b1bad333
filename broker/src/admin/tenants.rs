//! Clusters, tenants and namespaces endpoints of the admin v2 API: list,
//! get, create, update and delete (a tenant only without namespaces, a
//! namespace only without topics unless forced, a cluster only while no
//! tenant allows it).

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::cluster::serve_topic_here;
use super::openapi::{ClusterPath, ErrorBody, NamespacePath, TenantPath};
use super::subscriptions::ForceQuery;
use super::topics::delete_here;
use super::{AdminError, AdminState};
use crate::namespace::{
    ClusterData, NamespaceError, NamespaceName, NamespacePolicies, TenantInfo, TopicName,
    DEFAULT_BUNDLE_COUNT,
};
use crate::security::credentials::ClientCredential;

#[utoipa::path(get, path = "/admin/v2/clusters", tag = "clusters",
    responses((status = 200, description = "The clusters' names", body = Vec<String>)))]
pub async fn list_clusters(
    State(state): State<AdminState>,
) -> Result<Json<Vec<String>>, AdminError> {
    Ok(Json(state.policies.clusters().await?))
}

/// `GET /admin/v2/clusters/{cluster}`. The replication credential's
/// parameters are never shown: they hold a secret.
#[utoipa::path(get, path = "/admin/v2/clusters/{cluster}", tag = "clusters", params(ClusterPath),
    responses(
        (status = 200, description = "The cluster's URLs", body = ClusterData),
        (status = 404, description = "No such cluster", body = ErrorBody),
    ))]
pub async fn get_cluster(
    State(state): State<AdminState>,
    Path(cluster): Path<String>,
) -> Result<Json<ClusterData>, AdminError> {
    let mut data = state.policies.cluster(&cluster).await?;
    data.authentication_parameters = None;
    Ok(Json(data))
}

/// Refuses cluster data whose replication credential cannot be used.
fn check_credential(data: &ClusterData) -> Result<(), AdminError> {
    match &data.authentication_plugin {
        Some(plugin) => ClientCredential::from_plugin(
            plugin,
            data.authentication_parameters.as_deref().unwrap_or(""),
        )
        .map(drop)
        .map_err(|error| AdminError::BadRequest(error.to_string())),
        None if data.authentication_parameters.is_some() => Err(AdminError::BadRequest(
            "authenticationParameters needs authenticationPlugin".into(),
        )),
        None => Ok(()),
    }
}

/// `PUT /admin/v2/clusters/{cluster}`: registers a cluster, body
/// `{serviceUrl, brokerServiceUrl}`, optionally with the credential that
/// replicators present there (`authenticationPlugin`, `authenticationParameters`).
#[utoipa::path(put, path = "/admin/v2/clusters/{cluster}", tag = "clusters", params(ClusterPath),
    request_body(content = Option<ClusterData>, description = "Its URLs and replication credential; empty for none"),
    responses(
        (status = 204, description = "Registered"),
        (status = 400, description = "Bad name, body or credential", body = ErrorBody),
        (status = 409, description = "The cluster exists", body = ErrorBody),
    ))]
pub async fn create_cluster(
    State(state): State<AdminState>,
    Path(cluster): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let data: ClusterData = parse_optional_json(&body)?.unwrap_or_default();
    check_credential(&data)?;
    state.policies.create_cluster(&cluster, &data).await?;
    tracing::info!(%cluster, "created cluster");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/v2/clusters/{cluster}`: replaces its URLs.
#[utoipa::path(post, path = "/admin/v2/clusters/{cluster}", tag = "clusters", params(ClusterPath),
    request_body = ClusterData,
    responses(
        (status = 204, description = "Updated"),
        (status = 400, description = "Bad body or credential", body = ErrorBody),
        (status = 404, description = "No such cluster", body = ErrorBody),
    ))]
pub async fn update_cluster(
    State(state): State<AdminState>,
    Path(cluster): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let data: ClusterData = parse_optional_json(&body)?
        .ok_or_else(|| AdminError::BadRequest("the body must be the cluster's data".into()))?;
    check_credential(&data)?;
    state.policies.update_cluster(&cluster, &data).await?;
    tracing::info!(%cluster, "updated cluster");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /admin/v2/clusters/{cluster}`: refused (412) while a tenant
/// allows it, and for the cluster this broker serves.
#[utoipa::path(delete, path = "/admin/v2/clusters/{cluster}", tag = "clusters", params(ClusterPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such cluster", body = ErrorBody),
        (status = 412, description = "A tenant allows it, or this broker serves it", body = ErrorBody),
    ))]
pub async fn delete_cluster(
    State(state): State<AdminState>,
    Path(cluster): Path<String>,
) -> Result<StatusCode, AdminError> {
    if cluster == state.cluster {
        return Err(AdminError::PreconditionFailed(format!(
            "{cluster} is the cluster this broker serves"
        )));
    }
    state.policies.delete_cluster(&cluster).await?;
    tracing::info!(%cluster, "deleted cluster");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/admin/v2/tenants", tag = "tenants",
    responses((status = 200, description = "The tenants' names", body = Vec<String>)))]
pub async fn list_tenants(
    State(state): State<AdminState>,
) -> Result<Json<Vec<String>>, AdminError> {
    Ok(Json(state.policies.tenants().await?))
}

#[utoipa::path(get, path = "/admin/v2/tenants/{tenant}", tag = "tenants", params(TenantPath),
    responses(
        (status = 200, description = "Admin roles and allowed clusters", body = TenantInfo),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn get_tenant(
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
) -> Result<Json<TenantInfo>, AdminError> {
    Ok(Json(state.policies.tenant(&tenant).await?))
}

/// `PUT /admin/v2/tenants/{tenant}`; an empty body means default settings
/// (allowed in this cluster).
#[utoipa::path(put, path = "/admin/v2/tenants/{tenant}", tag = "tenants", params(TenantPath),
    request_body(content = Option<TenantInfo>, description = "Admin roles and allowed clusters; empty: this cluster"),
    responses(
        (status = 204, description = "Created"),
        (status = 400, description = "Bad name or body", body = ErrorBody),
        (status = 404, description = "An allowed cluster is unknown", body = ErrorBody),
        (status = 409, description = "The tenant exists", body = ErrorBody),
    ))]
pub async fn create_tenant(
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let mut info: TenantInfo = parse_optional_json(&body)?.unwrap_or_default();
    if info.allowed_clusters.is_empty() {
        info.allowed_clusters.push(state.cluster.clone());
    }
    state.policies.check_clusters(&info).await?;
    state.policies.create_tenant(&tenant, &info).await?;
    tracing::info!(tenant = %tenant, "created tenant");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/v2/tenants/{tenant}`: replaces admin roles and allowed
/// clusters (each registered).
#[utoipa::path(post, path = "/admin/v2/tenants/{tenant}", tag = "tenants", params(TenantPath),
    request_body = TenantInfo,
    responses(
        (status = 204, description = "Updated"),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 404, description = "No such tenant or cluster", body = ErrorBody),
    ))]
pub async fn update_tenant(
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let info: TenantInfo = parse_optional_json(&body)?
        .ok_or_else(|| AdminError::BadRequest("the body must be the tenant's info".into()))?;
    state.policies.update_tenant(&tenant, &info).await?;
    tracing::info!(%tenant, "updated tenant");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /admin/v2/tenants/{tenant}`: refused (409) while it has
/// namespaces.
#[utoipa::path(delete, path = "/admin/v2/tenants/{tenant}", tag = "tenants", params(TenantPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 409, description = "It still has namespaces", body = ErrorBody),
    ))]
pub async fn delete_tenant(
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
) -> Result<StatusCode, AdminError> {
    state.policies.delete_tenant(&tenant).await?;
    tracing::info!(%tenant, "deleted tenant");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/admin/v2/namespaces/{tenant}", tag = "namespaces", params(TenantPath),
    responses(
        (status = 200, description = "The namespaces as `tenant/namespace`", body = Vec<String>),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn list_namespaces(
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<String>>, AdminError> {
    Ok(Json(state.policies.namespaces(&tenant).await?))
}

#[utoipa::path(get, path = "/admin/v2/namespaces/{tenant}/{namespace}", tag = "namespaces", params(NamespacePath),
    responses(
        (status = 200, description = "Every stored policy", body = NamespacePolicies),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ))]
pub async fn get_namespace(
    State(state): State<AdminState>,
    Path((tenant, namespace)): Path<(String, String)>,
) -> Result<Json<NamespacePolicies>, AdminError> {
    let name = NamespaceName::new(&tenant, &namespace)?;
    Ok(Json(state.policies.namespace_policies(&name).await?))
}

/// Optional body of a namespace creation: `{"numBundles": N}` or full policies.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct CreateNamespaceBody {
    num_bundles: Option<u32>,
    bundles: Option<crate::namespace::BundlesData>,
    /// Permissions as Pulsar's full policies body carries them.
    #[serde(rename = "auth_policies")]
    auth_policies: Option<crate::namespace::AuthPolicies>,
}

#[utoipa::path(put, path = "/admin/v2/namespaces/{tenant}/{namespace}", tag = "namespaces", params(NamespacePath),
    request_body(content = Option<CreateNamespaceBody>, description = "A bundle count or bundles; empty: the default count"),
    responses(
        (status = 204, description = "Created"),
        (status = 400, description = "Bad name or bundles", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 409, description = "The namespace exists", body = ErrorBody),
    ))]
pub async fn create_namespace(
    State(state): State<AdminState>,
    Path((tenant, namespace)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let name = NamespaceName::new(&tenant, &namespace)?;
    let request: CreateNamespaceBody = parse_optional_json(&body)?.unwrap_or_default();
    let mut policies = match (request.bundles, request.num_bundles) {
        (Some(bundles), _) => NamespacePolicies {
            bundles,
            ..NamespacePolicies::with_bundles(1)?
        },
        (None, count) => NamespacePolicies::with_bundles(count.unwrap_or(DEFAULT_BUNDLE_COUNT))?,
    };
    policies.replication_clusters = vec![state.cluster.clone()];
    policies.auth_policies = request.auth_policies.unwrap_or_default();
    state.policies.create_namespace(&name, &policies).await?;
    tracing::info!(namespace = %name, "created namespace");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /admin/v2/namespaces/{tenant}/{namespace}[?force=true]`:
/// refused (409) while it has topics, unless forced: then its topics and
/// partitioned topics are deleted first (412 for a topic another broker
/// serves: delete it there, or unload the namespace, first).
#[utoipa::path(delete, path = "/admin/v2/namespaces/{tenant}/{namespace}", tag = "namespaces",
    params(NamespacePath, ForceQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "It still has topics and force is not set", body = ErrorBody),
        (status = 412, description = "Another broker serves one of its topics", body = ErrorBody),
    ))]
pub async fn delete_namespace(
    State(state): State<AdminState>,
    Path((tenant, namespace)): Path<(String, String)>,
    Query(query): Query<ForceQuery>,
    OriginalUri(uri): OriginalUri,
) -> Result<StatusCode, AdminError> {
    let name = NamespaceName::new(&tenant, &namespace)?;
    state.policies.namespace_policies(&name).await?;
    let topics = state
        .managed_ledgers
        .list(&format!("{name}/persistent/"))
        .await?;
    let partitioned = state.policies.partitioned_topics(&name).await?;
    if !query.force && (!topics.is_empty() || !partitioned.is_empty()) {
        return Err(AdminError::Conflict(format!(
            "namespace {name} still has {} topics and {} partitioned topics; delete them, or delete with force=true",
            topics.len(),
            partitioned.len()
        )));
    }
    // Every topic must be served here before any is deleted, so that a
    // refusal changes nothing.
    let topics: Vec<TopicName> = topics
        .iter()
        .filter_map(|stored| TopicName::from_persistence_name(stored).ok())
        .collect();
    for topic in &topics {
        if serve_topic_here(&state, topic, &uri).await?.is_some() {
            return Err(AdminError::PreconditionFailed(format!(
                "{topic} is served by another broker: delete it there, or unload the namespace, first"
            )));
        }
    }
    for topic in &topics {
        match delete_here(&state, topic).await {
            Ok(()) | Err(AdminError::NotFound(_)) => {}
            Err(error) => return Err(error),
        }
    }
    for full_name in partitioned {
        if let Ok(topic) = TopicName::parse(&full_name) {
            match state.policies.delete_partitioned_topic(&topic).await {
                Ok(()) | Err(NamespaceError::PartitionedTopicNotFound(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    state.policies.delete_namespace(&name).await?;
    tracing::info!(namespace = %name, "deleted namespace");
    Ok(StatusCode::NO_CONTENT)
}

pub(super) fn parse_optional_json<T: for<'de> Deserialize<'de>>(
    body: &[u8],
) -> Result<Option<T>, AdminError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| AdminError::BadRequest(format!("invalid json body: {e}")))
}
