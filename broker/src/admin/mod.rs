//! The admin HTTP API (axum, port 8080 by default): `/health`, `/metrics`
//! (OpenMetrics text) and a subset of Pulsar's admin v2 REST API (clusters,
//! tenants, namespaces, persistent topics and their stats, subscriptions
//! (`subscriptions.rs`), termination (`terminate.rs`), compaction
//! (`compaction.rs`), partitioned
//! topics, schemas, brokers, bundles with unload and split, namespace
//! permissions (`permissions.rs`)) and the HTTP lookup. Magnetar's own
//! additions feed the console: broker loads, load-manager decisions and
//! the metadata store's health (`broker_load.rs`), and each topic's recent
//! history (`rate_history.rs`). Every route sits
//! behind `security::http`, which authenticates and authorizes, and every
//! route is described in the OpenAPI document at `/admin/v2/openapi.json`
//! (`openapi.rs`), generated from the handlers themselves.
//!
//! Handlers talk to the metadata store through [`PolicyStore`] and to topics
//! through the [`ManagedLedgerFactory`]; creating a topic writes its empty
//! ledger list, so it needs no bundle ownership. Traffic and clients of
//! topics come from the [`TopicRegistry`] of topics loaded here.

mod backlog;
mod bookies;
mod broker_health;
mod broker_load;
mod cluster;
mod compaction;
mod error;
mod health;
mod limits;
mod openapi;
mod partitioned;
mod peek;
mod peers;
mod permissions;
mod policies;
mod rate_history;
mod replication_metrics;
mod schemas;
mod subscriptions;
mod tenants;
mod terminate;
mod topic_metrics;
mod topic_state;
mod topics;

use std::future::Future;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use magnetar_metadata::MetadataStore;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use broker_load::MetadataHealth;
pub use error::AdminError;
pub use health::StartupGate;
pub use openapi::ErrorBody;
pub use topics::TopicStats;

use crate::cluster::Cluster;
use crate::managed_ledger::ManagedLedgerFactory;
use crate::namespace::{CompatibilityStrategy, PolicyStore};
use crate::security::{self, Security};
use crate::topic::TopicRegistry;

/// Everything the admin handlers need.
#[derive(Clone)]
pub struct AdminState {
    pub metadata: Arc<dyn MetadataStore>,
    pub policies: PolicyStore,
    pub managed_ledgers: Arc<ManagedLedgerFactory>,
    /// Name of this cluster (`standalone` by default).
    pub cluster: String,
    /// The topics loaded on this broker (their traffic and clients);
    /// `None` where there is no protocol service.
    pub topics: Option<Arc<TopicRegistry>>,
    /// `pulsar_*` metrics per topic and subscription (else per namespace).
    pub topic_level_metrics: bool,
    /// Set while the node waits for bookies at startup (`/health` says 503).
    pub startup: StartupGate,
    /// This broker's part in a cluster (lookups, bundles, brokers); `None`
    /// for a bare protocol service.
    pub membership: Option<Arc<Cluster>>,
    /// The broker's schema compatibility strategy (namespaces override it).
    pub schema_compatibility: CompatibilityStrategy,
    /// Who may call what (`security::http` runs in front of every route).
    pub security: Arc<Security>,
}

impl AdminState {
    pub fn new(
        metadata: Arc<dyn MetadataStore>,
        managed_ledgers: Arc<ManagedLedgerFactory>,
        cluster: &str,
    ) -> Self {
        AdminState {
            policies: PolicyStore::new(metadata.clone()),
            security: Arc::new(Security::open(PolicyStore::new(metadata.clone()))),
            metadata,
            managed_ledgers,
            cluster: cluster.to_string(),
            topics: None,
            topic_level_metrics: true,
            startup: StartupGate::default(),
            membership: None,
            schema_compatibility: CompatibilityStrategy::default(),
        }
    }
}

/// Every route of the admin API with its description: each handler carries
/// its `#[utoipa::path]`, so the router and the OpenAPI document are built
/// from the same place.
fn documented_routes() -> OpenApiRouter<AdminState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::metrics))
        .routes(routes!(tenants::list_clusters))
        .routes(routes!(
            tenants::get_cluster,
            tenants::create_cluster,
            tenants::update_cluster,
            tenants::delete_cluster
        ))
        .routes(routes!(tenants::list_tenants))
        .routes(routes!(
            tenants::get_tenant,
            tenants::create_tenant,
            tenants::update_tenant,
            tenants::delete_tenant
        ))
        .routes(routes!(tenants::list_namespaces))
        .routes(routes!(
            tenants::get_namespace,
            tenants::create_namespace,
            tenants::delete_namespace
        ))
        .routes(routes!(permissions::get_permissions))
        .routes(routes!(
            permissions::grant_permission,
            permissions::revoke_permission
        ))
        .routes(routes!(
            policies::get_auto_topic_creation,
            policies::set_auto_topic_creation,
            policies::remove_auto_topic_creation
        ))
        .routes(routes!(
            policies::get_deduplication,
            policies::set_deduplication,
            policies::remove_deduplication
        ))
        .routes(routes!(
            policies::get_strategy,
            policies::set_strategy,
            policies::remove_strategy
        ))
        .routes(routes!(
            limits::get_retention,
            limits::set_retention,
            limits::remove_retention
        ))
        .routes(routes!(
            limits::get_message_ttl,
            limits::set_message_ttl,
            limits::remove_message_ttl
        ))
        .routes(routes!(
            limits::set_backlog_quota,
            limits::remove_backlog_quota
        ))
        .routes(routes!(limits::get_backlog_quotas))
        .routes(routes!(
            limits::get_max_producers,
            limits::set_max_producers,
            limits::remove_max_producers
        ))
        .routes(routes!(
            limits::get_max_consumers,
            limits::set_max_consumers,
            limits::remove_max_consumers
        ))
        .routes(routes!(
            limits::get_max_unacked_per_consumer,
            limits::set_max_unacked_per_consumer,
            limits::remove_max_unacked_per_consumer
        ))
        .routes(routes!(
            limits::get_max_unacked_per_subscription,
            limits::set_max_unacked_per_subscription,
            limits::remove_max_unacked_per_subscription
        ))
        .routes(routes!(
            limits::get_subscription_expiration,
            limits::set_subscription_expiration,
            limits::remove_subscription_expiration
        ))
        .routes(routes!(
            limits::get_inactive_topic_policies,
            limits::set_inactive_topic_policies,
            limits::remove_inactive_topic_policies
        ))
        .routes(routes!(
            compaction::get_threshold,
            compaction::set_threshold,
            compaction::remove_threshold
        ))
        .routes(routes!(compaction::status, compaction::trigger))
        .routes(routes!(limits::get_replication, limits::set_replication))
        .routes(routes!(
            schemas::get_schema,
            schemas::post_schema,
            schemas::delete_schema
        ))
        .routes(routes!(schemas::get_schema_version))
        .routes(routes!(cluster::bundles))
        .routes(routes!(cluster::unload_namespace))
        .routes(routes!(cluster::unload_bundle))
        .routes(routes!(cluster::split_bundle))
        .routes(routes!(bookies::list_bookies))
        .routes(routes!(broker_health::broker_health))
        .routes(routes!(broker_load::load_manager_decisions))
        .routes(routes!(broker_load::metadata_health))
        .routes(routes!(broker_load::load_reports))
        .routes(routes!(cluster::leader_broker))
        .routes(routes!(cluster::list_brokers))
        .routes(routes!(cluster::owned_namespaces))
        .routes(routes!(cluster::lookup))
        .routes(routes!(topics::list_topics))
        .routes(routes!(topics::create_topic, topics::delete_topic))
        .routes(routes!(topics::topic_stats))
        .routes(routes!(backlog::clear_namespace_backlog))
        .routes(routes!(backlog::clear_bundle_backlog))
        .routes(routes!(subscriptions::list_subscriptions))
        .routes(routes!(
            subscriptions::create_subscription,
            subscriptions::delete_subscription
        ))
        .routes(routes!(subscriptions::skip_all))
        .routes(routes!(subscriptions::skip))
        .routes(routes!(subscriptions::expire_messages))
        .routes(routes!(subscriptions::reset_to_message_id))
        .routes(routes!(subscriptions::reset_to_time))
        .routes(routes!(peek::peek))
        .routes(routes!(peek::examine))
        .routes(routes!(topic_state::last_message_id))
        .routes(routes!(topic_state::unload_topic))
        .routes(routes!(terminate::terminate))
        .routes(routes!(terminate::terminate_partitions))
        .routes(routes!(rate_history::rate_history))
        .routes(routes!(topic_state::internal_stats))
        .routes(routes!(partitioned::list_partitioned))
        .routes(routes!(
            partitioned::get_partitioned,
            partitioned::create_partitioned,
            partitioned::update_partitioned,
            partitioned::delete_partitioned
        ))
        .routes(routes!(partitioned::partitioned_stats))
}

/// The admin API's OpenAPI description, as `/admin/v2/openapi.json` serves it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    documented_routes().into_openapi()
}

pub fn admin_router(state: AdminState) -> Router {
    let security = Arc::clone(&state.security);
    let (routes, document) = documented_routes().split_for_parts();
    routes
        .route(
            "/admin/v2/openapi.json",
            get(move || {
                let document = document.clone();
                async move { Json(document) }
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            security,
            security::http::require_access,
        ))
        .with_state(state)
}

/// Serves the admin API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(%address, "admin api listening");
    axum::serve(listener, admin_router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
