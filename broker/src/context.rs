//! What every connection of the Pulsar protocol service shares: the
//! service's settings ([`BrokerServiceConfig`]) and its state
//! ([`BrokerContext`]: loaded topics, topic ownership, id counters and the
//! shutdown signal). Built by the service, read by the server.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use magnetar_proto::pulsar::DEFAULT_MAX_MESSAGE_SIZE;
use tokio_util::sync::CancellationToken;

use crate::dispatch::DispatchConfig;
use crate::managed_ledger::ManagedLedgerConfig;
use crate::replication::ReplicationConfig;
use crate::security::credentials::ClientCredential;
use crate::security::{AuthenticationConfig, AuthorizationConfig, Security};
use crate::topic::{TopicDefaults, TopicOwnership, TopicRegistry};

/// Settings of the Pulsar protocol service.
#[derive(Debug, Clone)]
pub struct BrokerServiceConfig {
    /// Cluster name; generated producer names are `<cluster>-<n>`.
    pub cluster_name: String,
    /// URL clients are sent to by LOOKUP (`pulsar://host:port`). Derived
    /// from the listener's address when `None`.
    pub advertised_service_url: Option<String>,
    /// Largest message (metadata + payload); frames may be 10 KiB larger.
    pub max_message_size: usize,
    /// PING period; a connection silent for two periods is closed.
    pub keepalive_interval: Duration,
    /// Publishes awaiting their receipt per connection before the broker
    /// stops reading from it.
    pub max_pending_publishes: usize,
    pub managed_ledger: ManagedLedgerConfig,
    /// Failover delay and unacked limits of subscriptions.
    pub dispatch: DispatchConfig,
    /// Auto-creation and deduplication of topics, unless their namespace
    /// overrides them.
    pub topic_defaults: TopicDefaults,
    /// How often namespace policies are read again for the loaded topics
    /// and enforced (message TTL, backlog quotas; see `topic/limits.rs`).
    pub policy_check_interval: Duration,
    /// A replicator with a backlog and nothing confirmed by its remote
    /// cluster for this long is reported stalled.
    pub replication_stall_threshold: Duration,
    /// Who clients are (off by default).
    pub authentication: AuthenticationConfig,
    /// What roles may do (off by default).
    pub authorization: AuthorizationConfig,
    /// What this broker presents where it is a client: to other brokers
    /// (admin requests for partitions they serve) and to remote clusters
    /// (replication). Pulsar's `brokerClientAuthenticationPlugin` and
    /// `brokerClientAuthenticationParameters`. `None`: nothing.
    pub broker_client: Option<ClientCredential>,
}

/// Default of [`BrokerServiceConfig::policy_check_interval`].
pub const DEFAULT_POLICY_CHECK_INTERVAL: Duration = Duration::from_secs(30);

impl Default for BrokerServiceConfig {
    fn default() -> Self {
        BrokerServiceConfig {
            cluster_name: "standalone".to_string(),
            advertised_service_url: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            keepalive_interval: Duration::from_secs(30),
            max_pending_publishes: 1000,
            managed_ledger: ManagedLedgerConfig::default(),
            dispatch: DispatchConfig::default(),
            topic_defaults: TopicDefaults::default(),
            policy_check_interval: DEFAULT_POLICY_CHECK_INTERVAL,
            replication_stall_threshold: ReplicationConfig::default().stall_threshold,
            authentication: AuthenticationConfig::default(),
            authorization: AuthorizationConfig::default(),
            broker_client: None,
        }
    }
}

impl BrokerServiceConfig {
    /// How this broker's topics replicate to other clusters.
    pub fn replication(&self) -> ReplicationConfig {
        ReplicationConfig {
            local_cluster: self.cluster_name.clone(),
            stall_threshold: self.replication_stall_threshold,
            broker_client: self.broker_client.clone(),
            ..Default::default()
        }
    }
}

/// State shared by every connection.
pub(crate) struct BrokerContext {
    pub config: BrokerServiceConfig,
    pub service_url: String,
    pub topics: Arc<TopicRegistry>,
    pub ownership: Arc<dyn TopicOwnership>,
    /// Part of generated producer names, random per broker process, so
    /// that names never repeat across brokers and restarts (deduplication
    /// keys on them).
    pub instance_id: String,
    pub next_producer_name: AtomicU64,
    pub next_connection_id: AtomicU64,
    pub shutdown: CancellationToken,
    /// Authentication and authorization of clients.
    pub security: Arc<Security>,
}

impl BrokerContext {
    pub fn new(
        config: BrokerServiceConfig,
        service_url: String,
        topics: Arc<TopicRegistry>,
        ownership: Arc<dyn TopicOwnership>,
        security: Arc<Security>,
    ) -> Self {
        BrokerContext {
            security,
            config,
            service_url,
            topics,
            ownership,
            instance_id: format!("{:08x}", rand::random::<u32>()),
            next_producer_name: AtomicU64::new(0),
            next_connection_id: AtomicU64::new(0),
            shutdown: CancellationToken::new(),
        }
    }
}
