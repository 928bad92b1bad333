//! Clusters, tenants and namespaces endpoints of the admin v2 API.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::{AdminError, AdminState};
use crate::namespace::{
    ClusterData, NamespaceName, NamespacePolicies, TenantInfo, DEFAULT_BUNDLE_COUNT,
};

pub async fn list_clusters(
    State(state): State<AdminState>,
) -> Result<Json<Vec<String>>, AdminError> {
    Ok(Json(state.policies.clusters().await?))
}

pub async fn get_cluster(
    State(state): State<AdminState>,
    Path(cluster): Path<String>,
) -> Result<Json<ClusterData>, AdminError> {
    Ok(Json(state.policies.cluster(&cluster).await?))
}

pub async fn list_tenants(
    State(state): State<AdminState>,
) -> Result<Json<Vec<String>>, AdminError> {
    Ok(Json(state.policies.tenants().await?))
}

pub async fn get_tenant(
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
) -> Result<Json<TenantInfo>, AdminError> {
    Ok(Json(state.policies.tenant(&tenant).await?))
}

/// `PUT /admin/v2/tenants/{tenant}`; an empty body means default settings
/// (allowed in this cluster).
pub async fn create_tenant(
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    let mut info: TenantInfo = parse_optional_json(&body)?.unwrap_or_default();
    if info.allowed_clusters.is_empty() {
        info.allowed_clusters.push(state.cluster.clone());
    }
    state.policies.create_tenant(&tenant, &info).await?;
    tracing::info!(tenant = %tenant, "created tenant");
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_namespaces(
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<String>>, AdminError> {
    Ok(Json(state.policies.namespaces(&tenant).await?))
}

pub async fn get_namespace(
    State(state): State<AdminState>,
    Path((tenant, namespace)): Path<(String, String)>,
) -> Result<Json<NamespacePolicies>, AdminError> {
    let name = NamespaceName::new(&tenant, &namespace)?;
    Ok(Json(state.policies.namespace_policies(&name).await?))
}

/// Optional body of a namespace creation: `{"numBundles": N}` or full policies.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct CreateNamespaceBody {
    num_bundles: Option<u32>,
    bundles: Option<crate::namespace::BundlesData>,
}

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
            replication_clusters: Vec::new(),
            auto_topic_creation_override: None,
            deduplication_enabled: None,
            schema_compatibility_strategy: None,
        },
        (None, count) => NamespacePolicies::with_bundles(count.unwrap_or(DEFAULT_BUNDLE_COUNT))?,
    };
    policies.replication_clusters = vec![state.cluster.clone()];
    state.policies.create_namespace(&name, &policies).await?;
    tracing::info!(namespace = %name, "created namespace");
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
