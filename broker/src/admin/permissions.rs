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

use super::policies::{body, read_policy, try_write_policy, NamespacePath};
use super::{AdminError, AdminState};
use crate::namespace::AuthAction;

/// Longest role name accepted.
const MAX_ROLE_LEN: usize = 256;

pub async fn get_permissions(
    State(state): State<AdminState>,
    Path(path): NamespacePath,
) -> Result<Json<BTreeMap<String, BTreeSet<AuthAction>>>, AdminError> {
    read_policy(&state, path, |p| p.auth_policies.namespace_auth).await
}

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
