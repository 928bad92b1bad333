//! The admin API's OpenAPI description, served at `/admin/v2/openapi.json`:
//! the document's header and tags, the error body, and the path parameters
//! that many routes share.
//!
//! Each operation is described on its handler with `#[utoipa::path]`, and
//! the router is assembled from those same handlers (`utoipa_axum::routes!`
//! in `mod.rs`), so a route cannot exist without its description nor the
//! description name a path the router does not serve.

use serde::Serialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Magnetar admin API",
        description = "Pulsar's admin v2 REST API as Magnetar serves it, with Magnetar's own \
            additions. Errors answer a status code and `{\"reason\": …}`."
    ),
    tags(
        (name = "health", description = "Liveness and Prometheus metrics"),
        (name = "clusters", description = "Clusters known to this one (geo-replication peers)"),
        (name = "tenants", description = "Tenants: admin roles and allowed clusters"),
        (name = "namespaces", description = "Namespaces, their bundles and permissions"),
        (name = "policies", description = "Namespace policies that take effect on their topics"),
        (name = "topics", description = "Persistent topics: lifecycle, stats, messages"),
        (name = "subscriptions", description = "Subscriptions of a topic and their cursors"),
        (name = "partitioned", description = "Partitioned topics"),
        (name = "schemas", description = "The schema registry"),
        (name = "brokers", description = "Brokers, the leader, loads and decisions"),
        (name = "bookies", description = "Bookies and their state"),
        (name = "lookup", description = "Which broker serves a topic"),
    ),
    components(schemas(ErrorBody))
)]
pub(super) struct ApiDoc;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Why the request failed.
    pub reason: String,
}

// The structs below only describe parameters: handlers extract the same
// values as tuples, so the structs themselves are never built.

/// A cluster in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct ClusterPath {
    /// The cluster's name.
    #[param(example = "standalone", pattern = r"^[A-Za-z0-9_=:.-]{1,100}$")]
    cluster: String,
}

/// A tenant in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct TenantPath {
    /// The tenant's name.
    #[param(example = "public", pattern = r"^[A-Za-z0-9_=:.-]{1,100}$")]
    tenant: String,
}

/// A namespace in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct NamespacePath {
    /// The tenant's name.
    #[param(example = "public", pattern = r"^[A-Za-z0-9_=:.-]{1,100}$")]
    tenant: String,
    /// The namespace's name within the tenant.
    #[param(example = "default", pattern = r"^[A-Za-z0-9_=:.-]{1,100}$")]
    namespace: String,
}

/// A namespace bundle in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct BundlePath {
    /// The tenant's name.
    #[param(example = "public", pattern = r"^[A-Za-z0-9_=:.-]{1,100}$")]
    tenant: String,
    /// The namespace's name within the tenant.
    #[param(example = "default", pattern = r"^[A-Za-z0-9_=:.-]{1,100}$")]
    namespace: String,
    /// The bundle's hash range, `0x00000000_0x40000000`.
    #[param(
        example = "0x00000000_0x40000000",
        pattern = r"^0x[0-9a-fA-F]{8}_0x[0-9a-fA-F]{8}$"
    )]
    bundle: String,
}

/// A persistent topic in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct TopicPath {
    /// The tenant's name.
    #[param(example = "public", pattern = r"^[A-Za-z0-9_=:.-]{1,100}$")]
    tenant: String,
    /// The namespace's name within the tenant.
    #[param(example = "default", pattern = r"^[A-Za-z0-9_=:.-]{1,100}$")]
    namespace: String,
    /// The topic's local name (at most 255 bytes).
    #[param(example = "orders")]
    topic: String,
}

/// A subscription of a persistent topic in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct SubscriptionPath {
    /// The tenant's name.
    #[param(example = "public", pattern = r"^[A-Za-z0-9_=:.-]{1,100}$")]
    tenant: String,
    /// The namespace's name within the tenant.
    #[param(example = "default", pattern = r"^[A-Za-z0-9_=:.-]{1,100}$")]
    namespace: String,
    /// The topic's local name (at most 255 bytes).
    #[param(example = "orders")]
    topic: String,
    /// The subscription's name.
    #[param(example = "billing")]
    subscription: String,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::super::openapi_document;

    const METHODS: [&str; 5] = ["get", "put", "post", "delete", "head"];

    #[test]
    fn every_operation_declares_its_path_parameters_a_tag_and_answers() {
        let document = serde_json::to_value(openapi_document()).unwrap();
        let paths = document["paths"].as_object().unwrap();
        let mut operations = 0;
        for (path, item) in paths {
            let templated: BTreeSet<&str> = path
                .split('/')
                .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            for method in METHODS {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                operations += 1;
                let declared: BTreeSet<&str> = operation["parameters"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter(|parameter| parameter["in"] == "path")
                    .filter_map(|parameter| parameter["name"].as_str())
                    .collect();
                assert_eq!(templated, declared, "{method} {path}");
                assert!(
                    operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
                    "{method} {path} has no tag"
                );
                let answers = operation["responses"].as_object().unwrap();
                assert!(
                    answers.keys().any(|status| status.starts_with('2')),
                    "{method} {path} documents no success"
                );
            }
        }
        assert!(operations > 90, "only {operations} operations documented");
    }

    #[test]
    fn errors_are_described_by_the_error_body() {
        let document = serde_json::to_value(openapi_document()).unwrap();
        let schema = &document["components"]["schemas"]["ErrorBody"];
        assert_eq!(schema["required"], Value::from(vec!["reason"]));
        let refs = document
            .to_string()
            .matches("#/components/schemas/ErrorBody")
            .count();
        assert!(refs > 50, "only {refs} error answers refer to ErrorBody");
    }
}
