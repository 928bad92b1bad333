//! Namespace permissions (Pulsar's paths and bodies):
//!
//! - `GET /admin/v2/namespaces/{tenant}/{ns}/permissions`: role → actions;
//! - `POST …/permissions/{role}` with a JSON array of actions
//!   (`["produce", "consume"]`): grants exactly those actions to the role;
//! - `DELETE …/permissions/{role}`: revokes everything the role had (a
//!   role with nothing to revoke is not an error).
//!
//! Who may call these is decided in front of the handlers
//! (`security::http`): superusers and the tenant's admins.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::openapi::{ErrorBody, NamespacePath as NamespaceParams};
use super::policies::{body, read_policy, try_write_policy, NamespacePath};
use super::{AdminError, AdminState};
use crate::namespace::AuthAction;

/// Longest role name accepted.
const MAX_ROLE_LEN: usize = 256;

#[utoipa::path(get, path = "/admin/v2/namespaces/{tenant}/{namespace}/permissions", tag = "namespaces",
    params(NamespaceParams),
    responses(
        (status = 200, description = "Each role and the actions granted to it", body = BTreeMap<String, BTreeSet<AuthAction>>),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ))]
pub async fn get_permissions(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<BTreeMap<String, BTreeSet<AuthAction>>>, AdminError> {
    read_policy(&state, path, |p| p.auth_policies.namespace_auth).await
}

#[utoipa::path(post, path = "/admin/v2/namespaces/{tenant}/{namespace}/permissions/{role}", tag = "namespaces",
    params(NamespaceParams, ("role" = String, Path, description = "The role: 1 to 256 characters, no control characters")),
    request_body(content = BTreeSet<AuthAction>, description = "The actions the role may take from then on, e.g. `[\"produce\", \"consume\"]`"),
    responses(
        (status = 204, description = "Granted: the role has exactly these actions"),
        (status = 400, description = "Bad name, role or actions", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
pub async fn grant_permission(
    State(state): State<AdminState>,
    Path((tenant, namespace, role)): Path<(String, String, String)>,
    bytes: axum::body::Bytes,
) -> Result<StatusCode, AdminError> {
    check_role(&role)?;
    let actions: BTreeSet<AuthAction> = body(&bytes, "a JSON array of actions")?;
    tracing::info!(%tenant, %namespace, %role, ?actions, "granting namespace permissions");
    try_write_policy(&state, (tenant, namespace), "permissions", |p| {
        p.auth_policies.namespace_auth.insert(role, actions);
        Ok(())
    })
    .await
}

#[utoipa::path(delete, path = "/admin/v2/namespaces/{tenant}/{namespace}/permissions/{role}", tag = "namespaces",
    params(NamespaceParams, ("role" = String, Path, description = "The role: 1 to 256 characters, no control characters")),
    responses(
        (status = 204, description = "Revoked, or the role had nothing"),
        (status = 400, description = "Bad name or role", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "A concurrent change won: retry", body = ErrorBody),
    ))]
pub async fn revoke_permission(
    State(state): State<AdminState>,
    Path((tenant, namespace, role)): Path<(String, String, String)>,
) -> Result<StatusCode, AdminError> {
    check_role(&role)?;
    tracing::info!(%tenant, %namespace, %role, "revoking namespace permissions");
    try_write_policy(&state, (tenant, namespace), "permissions", |p| {
        p.auth_policies.namespace_auth.remove(&role);
        Ok(())
    })
    .await
}

fn check_role(role: &str) -> Result<(), AdminError> {
    if role.is_empty() || role.len() > MAX_ROLE_LEN || role.chars().any(char::is_control) {
        return Err(AdminError::BadRequest(format!(
            "a role is 1 to {MAX_ROLE_LEN} characters without control characters"
        )));
    }
    Ok(())
}
