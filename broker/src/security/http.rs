//! Authentication and authorization of the admin API, as an axum
//! middleware in front of every route.
//!
//! Credentials: `Authorization: Bearer <token>` (the `token` provider),
//! `Authorization: Basic <base64 user:password>` (`basic`), or the client
//! certificate of an HTTPS connection (`tls`). No credentials: the
//! anonymous role, if configured.
//!
//! What each path needs (Pulsar's rules, simplified):
//! - `/health`, `/metrics` and the API description `/admin/v2/openapi.json`:
//!   nothing;
//! - clusters: reading needs any authenticated role, changing needs a
//!   superuser; tenants (list, create, update, delete), brokers and bookies:
//!   a superuser; reading one tenant: its admins;
//! - namespaces, topics and schemas of a tenant: the tenant's admins, and
//!   for reads of topics and schemas also roles granted on the namespace;
//! - the HTTP lookup: any permission on the namespace;
//! - anything else: a superuser.
//!
//! Unauthenticated requests get 401, unauthorized ones 403, both with
//! Pulsar's `{"reason": ...}` body.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;

use super::authz::TopicOperation;
use super::tls::TlsPeer;
use super::{Principal, Security, SecurityError};
use crate::namespace::NamespaceName;

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Access {
    Open,
    Authenticated,
    Superuser,
    TenantAdmin(String),
    /// Tenant admins, or roles granted the operation on the namespace.
    Topic {
        tenant: String,
        namespace: String,
        operation: TopicOperation,
    },
}

/// The axum middleware: authenticates, authorizes, and passes the
/// [`Principal`] to handlers as a request extension.
pub async fn require_access(
    State(security): State<Arc<Security>>,
    mut request: Request,
    next: Next,
) -> Response {
    let access = required_access(request.method(), request.uri().path());
    if access == Access::Open || (!security.authn.enabled() && !security.authz.enabled()) {
        return next.run(request).await;
    }
    let common_name = request
        .extensions()
        .get::<ConnectInfo<TlsPeer>>()
        .and_then(|info| info.0.common_name.clone());
    let principal = match authenticate(&security, &request, common_name.as_deref()) {
        Ok(principal) => principal,
        Err(error) => {
            tracing::info!(path = %request.uri().path(), error = %error, "admin request not authenticated");
            return refusal(StatusCode::UNAUTHORIZED, &error);
        }
    };
    if let Err(error) = authorize(&security, &principal.role, &access).await {
        let status = match error {
            SecurityError::Metadata(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::FORBIDDEN,
        };
        tracing::info!(role = %principal.role, method = %request.method(), path = %request.uri().path(), error = %error, "admin request refused");
        return refusal(status, &error);
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

fn authenticate(
    security: &Security,
    request: &Request,
    common_name: Option<&str>,
) -> Result<Principal, SecurityError> {
    let header = request.headers().get(header::AUTHORIZATION);
    let Some(header) = header else {
        // A client certificate is the credential when nothing else is sent.
        let method = common_name.map(|_| "tls");
        return match security.authn.authenticate(method, b"", common_name) {
            Err(SecurityError::UnknownMethod(_)) => security.authn.authenticate(None, b"", None),
            other => other,
        };
    };
    let text = header
        .to_str()
        .map_err(|_| SecurityError::authentication("malformed Authorization header"))?;
    let (scheme, value) = text
        .split_once(' ')
        .ok_or_else(|| SecurityError::authentication("malformed Authorization header"))?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => {
            security
                .authn
                .authenticate(Some("token"), value.trim().as_bytes(), common_name)
        }
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|_| SecurityError::authentication("malformed basic credentials"))?;
            security
                .authn
                .authenticate(Some("basic"), &decoded, common_name)
        }
        other => Err(SecurityError::UnknownMethod(
            other.chars().take(64).collect(),
        )),
    }
}

async fn authorize(security: &Security, role: &str, access: &Access) -> Result<(), SecurityError> {
    let authz = &security.authz;
    match access {
        Access::Open | Access::Authenticated => Ok(()),
        Access::Superuser => authz.check_superuser(role, "the cluster"),
        Access::TenantAdmin(tenant) => authz.check_tenant_admin(role, tenant).await,
        Access::Topic {
            tenant,
            namespace,
            operation,
        } => match NamespaceName::new(tenant, namespace) {
            Ok(name) => authz.check_topic_operation(role, &name, *operation).await,
            // A malformed name: the handler answers 400 for admins.
            Err(_) => authz.check_tenant_admin(role, tenant).await,
        },
    }
}

fn refusal(status: StatusCode, error: &SecurityError) -> Response {
    (
        status,
        Json(serde_json::json!({ "reason": error.to_string() })),
    )
        .into_response()
}

/// What `method` on `path` needs.
fn required_access(method: &Method, path: &str) -> Access {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let read = *method == Method::GET || *method == Method::HEAD;
    let owned = |s: &str| s.to_string();
    match segments.as_slice() {
        ["health"] | ["metrics"] | ["admin", "v2", "openapi.json"] => Access::Open,
        ["lookup", "v2", "topic", _domain, tenant, namespace, _topic] => Access::Topic {
            tenant: owned(tenant),
            namespace: owned(namespace),
            operation: TopicOperation::Lookup,
        },
        ["admin", "v2", "clusters", ..] if read => Access::Authenticated,
        ["admin", "v2", "tenants", tenant] if read => Access::TenantAdmin(owned(tenant)),
        ["admin", "v2", "namespaces", tenant] => Access::TenantAdmin(owned(tenant)),
        ["admin", "v2", "namespaces", tenant, ..] => Access::TenantAdmin(owned(tenant)),
        ["admin", "v2", "persistent" | "schemas", tenant, namespace, _topic, ..] if read => {
            Access::Topic {
                tenant: owned(tenant),
                namespace: owned(namespace),
                operation: TopicOperation::Lookup,
            }
        }
        ["admin", "v2", "persistent" | "schemas", tenant, ..] => Access::TenantAdmin(owned(tenant)),
        _ => Access::Superuser,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(tenant: &str, namespace: &str) -> Access {
        Access::Topic {
            tenant: tenant.into(),
            namespace: namespace.into(),
            operation: TopicOperation::Lookup,
        }
    }

    #[test]
    fn paths_map_to_the_access_they_need() {
        let get = Method::GET;
        let put = Method::PUT;
        let cases = [
            (&get, "/health", Access::Open),
            (&get, "/metrics", Access::Open),
            (&get, "/admin/v2/openapi.json", Access::Open),
            (&get, "/admin/v2/clusters", Access::Authenticated),
            (&put, "/admin/v2/clusters/c2", Access::Superuser),
            (&get, "/admin/v2/tenants", Access::Superuser),
            (&put, "/admin/v2/tenants/acme", Access::Superuser),
            (
                &get,
                "/admin/v2/tenants/acme",
                Access::TenantAdmin("acme".into()),
            ),
            (
                &get,
                "/admin/v2/namespaces/acme",
                Access::TenantAdmin("acme".into()),
            ),
            (
                &put,
                "/admin/v2/namespaces/acme/ns",
                Access::TenantAdmin("acme".into()),
            ),
            (
                &Method::POST,
                "/admin/v2/namespaces/acme/ns/permissions/app",
                Access::TenantAdmin("acme".into()),
            ),
            (
                &get,
                "/admin/v2/persistent/acme/ns",
                Access::TenantAdmin("acme".into()),
            ),
            (
                &get,
                "/admin/v2/persistent/acme/ns/t/stats",
                topic("acme", "ns"),
            ),
            (
                &put,
                "/admin/v2/persistent/acme/ns/t",
                Access::TenantAdmin("acme".into()),
            ),
            (
                &get,
                "/admin/v2/schemas/acme/ns/t/schema",
                topic("acme", "ns"),
            ),
            (
                &Method::POST,
                "/admin/v2/schemas/acme/ns/t/schema",
                Access::TenantAdmin("acme".into()),
            ),
            (
                &get,
                "/lookup/v2/topic/persistent/acme/ns/t",
                topic("acme", "ns"),
            ),
            (&get, "/admin/v2/brokers/standalone", Access::Superuser),
            (&get, "/admin/v2/bookies/all", Access::Superuser),
            (&get, "/admin/v2/unknown", Access::Superuser),
        ];
        for (method, path, expected) in cases {
            assert_eq!(required_access(method, path), expected, "{method} {path}");
        }
    }
}
