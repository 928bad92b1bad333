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
//! behind `security::http`, which authenticates and authorizes.
//!
//! Handlers talk to the metadata store through [`PolicyStore`] and to topics
//! through the [`ManagedLedgerFactory`]; creating a topic writes its empty
//! ledger list, so it needs no bundle ownership. Traffic and clients of
//! topics come from the [`TopicRegistry`] of topics loaded here.

mod bookies;
mod broker_health;
mod broker_load;
mod cluster;
mod compaction;
mod error;
mod health;
mod limits;
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
mod topics;

use std::future::Future;
use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::Router;
use magnetar_metadata::MetadataStore;
use tokio::net::TcpListener;

pub use broker_load::MetadataHealth;
pub use error::AdminError;
pub use health::StartupGate;
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

pub fn admin_router(state: AdminState) -> Router {
    let security = Arc::clone(&state.security);
    Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(health::metrics))
        .route("/admin/v2/clusters", get(tenants::list_clusters))
        .route(
            "/admin/v2/clusters/{cluster}",
            get(tenants::get_cluster)
                .put(tenants::create_cluster)
                .post(tenants::update_cluster)
                .delete(tenants::delete_cluster),
        )
        .route("/admin/v2/tenants", get(tenants::list_tenants))
        .route(
            "/admin/v2/tenants/{tenant}",
            get(tenants::get_tenant)
                .put(tenants::create_tenant)
                .post(tenants::update_tenant)
                .delete(tenants::delete_tenant),
        )
        .route(
            "/admin/v2/namespaces/{tenant}",
            get(tenants::list_namespaces),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}",
            get(tenants::get_namespace)
                .put(tenants::create_namespace)
                .delete(tenants::delete_namespace),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/permissions",
            get(permissions::get_permissions),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/permissions/{role}",
            post(permissions::grant_permission).delete(permissions::revoke_permission),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/autoTopicCreation",
            get(policies::get_auto_topic_creation)
                .post(policies::set_auto_topic_creation)
                .delete(policies::remove_auto_topic_creation),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/deduplication",
            get(policies::get_deduplication)
                .post(policies::set_deduplication)
                .delete(policies::remove_deduplication),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/schemaCompatibilityStrategy",
            get(policies::get_strategy)
                .put(policies::set_strategy)
                .post(policies::set_strategy)
                .delete(policies::remove_strategy),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/retention",
            get(limits::get_retention)
                .post(limits::set_retention)
                .delete(limits::remove_retention),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/messageTTL",
            get(limits::get_message_ttl)
                .post(limits::set_message_ttl)
                .delete(limits::remove_message_ttl),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/backlogQuota",
            post(limits::set_backlog_quota).delete(limits::remove_backlog_quota),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/backlogQuotaMap",
            get(limits::get_backlog_quotas),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/maxProducersPerTopic",
            get(limits::get_max_producers)
                .post(limits::set_max_producers)
                .delete(limits::remove_max_producers),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/maxConsumersPerTopic",
            get(limits::get_max_consumers)
                .post(limits::set_max_consumers)
                .delete(limits::remove_max_consumers),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/maxUnackedMessagesPerConsumer",
            get(limits::get_max_unacked_per_consumer)
                .post(limits::set_max_unacked_per_consumer)
                .delete(limits::remove_max_unacked_per_consumer),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/maxUnackedMessagesPerSubscription",
            get(limits::get_max_unacked_per_subscription)
                .post(limits::set_max_unacked_per_subscription)
                .delete(limits::remove_max_unacked_per_subscription),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/subscriptionExpirationTime",
            get(limits::get_subscription_expiration)
                .post(limits::set_subscription_expiration)
                .delete(limits::remove_subscription_expiration),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/inactiveTopicPolicies",
            get(limits::get_inactive_topic_policies)
                .post(limits::set_inactive_topic_policies)
                .delete(limits::remove_inactive_topic_policies),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/compactionThreshold",
            get(compaction::get_threshold)
                .post(compaction::set_threshold)
                .delete(compaction::remove_threshold),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/compaction",
            get(compaction::status).put(compaction::trigger),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/replication",
            get(limits::get_replication).post(limits::set_replication),
        )
        .route(
            "/admin/v2/schemas/{tenant}/{namespace}/{topic}/schema",
            get(schemas::get_schema)
                .post(schemas::post_schema)
                .delete(schemas::delete_schema),
        )
        .route(
            "/admin/v2/schemas/{tenant}/{namespace}/{topic}/schema/{version}",
            get(schemas::get_schema_version),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/bundles",
            get(cluster::bundles),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/unload",
            put(cluster::unload_namespace),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/{bundle}/unload",
            put(cluster::unload_bundle),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/{bundle}/split",
            put(cluster::split_bundle),
        )
        .route("/admin/v2/bookies/all", get(bookies::list_bookies))
        .route("/admin/v2/brokers/health", get(broker_health::broker_health))
        .route(
            "/admin/v2/brokers/loadManagerDecisions",
            get(broker_load::load_manager_decisions),
        )
        .route(
            "/admin/v2/brokers/metadataHealth",
            get(broker_load::metadata_health),
        )
        .route(
            "/admin/v2/brokers/{cluster}/loadReports",
            get(broker_load::load_reports),
        )
        .route(
            "/admin/v2/brokers/leaderBroker",
            get(cluster::leader_broker),
        )
        .route("/admin/v2/brokers/{cluster}", get(cluster::list_brokers))
        .route(
            "/admin/v2/brokers/{cluster}/{broker}/ownedNamespaces",
            get(cluster::owned_namespaces),
        )
        .route(
            "/lookup/v2/topic/{domain}/{tenant}/{namespace}/{topic}",
            get(cluster::lookup),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}",
            get(topics::list_topics),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}",
            put(topics::create_topic).delete(topics::delete_topic),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/stats",
            get(topics::topic_stats),
        )
        .route(
            "/admin/v2/namespaces/{tenant}/{namespace}/clearBacklog",
            post(subscriptions::clear_namespace_backlog),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscriptions",
            get(subscriptions::list_subscriptions),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}",
            put(subscriptions::create_subscription).delete(subscriptions::delete_subscription),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}/skip_all",
            post(subscriptions::skip_all),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}/skip/{count}",
            post(subscriptions::skip),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}/expireMessages/{seconds}",
            post(subscriptions::expire_messages),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}/resetcursor",
            post(subscriptions::reset_to_message_id),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}/resetcursor/{timestamp}",
            post(subscriptions::reset_to_time),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/subscription/{subscription}/position/{position}",
            get(peek::peek),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/examinemessage",
            get(peek::examine),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/lastMessageId",
            get(subscriptions::last_message_id),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/unload",
            put(subscriptions::unload_topic),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/terminate",
            post(terminate::terminate),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/terminate/partitions",
            post(terminate::terminate_partitions),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/rateHistory",
            get(rate_history::rate_history),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/internalStats",
            get(subscriptions::internal_stats),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/partitioned",
            get(partitioned::list_partitioned),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/partitions",
            get(partitioned::get_partitioned)
                .put(partitioned::create_partitioned)
                .post(partitioned::update_partitioned)
                .delete(partitioned::delete_partitioned),
        )
        .route(
            "/admin/v2/persistent/{tenant}/{namespace}/{topic}/partitioned-stats",
            get(partitioned::partitioned_stats),
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
