//! Starting a broker node from command-line arguments; shared by
//! `magnetar broker` and `magnetar standalone`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use magnetar_bookie::{LedgerOptions, LedgerStore};
use magnetar_broker::cluster::ClusterConfig;
use magnetar_broker::dispatch::DispatchConfig;
use magnetar_broker::namespace::{AutoTopicCreation, ExpiryDefaults, InactiveTopicPolicies};
use magnetar_broker::node::{BrokerListeners, BrokerNode, BrokerNodeConfig};
use magnetar_broker::topic::TopicDefaults;
use magnetar_broker::BrokerServiceConfig;
use magnetar_metadata::MetadataStore;

use crate::args::{ListenArgs, WriteArgs};

/// How the node treats missing bookies.
#[derive(Debug, Clone, Copy)]
pub struct BookieTolerance {
    /// Startup wait for enough writable bookies (zero: none).
    pub wait: Duration,
    /// How long an add waits for a writable ledger.
    pub unwritable_add_timeout: Duration,
}

impl BookieTolerance {
    pub fn from_args(wait_for_bookies_ms: u64, writes: &WriteArgs) -> Self {
        BookieTolerance {
            wait: Duration::from_millis(wait_for_bookies_ms),
            unwritable_add_timeout: Duration::from_millis(writes.unwritable_add_timeout_ms),
        }
    }
}

/// Binds both listeners and starts the node. `(e, w, a)` are the ledger quorums.
pub async fn start(
    listen: &ListenArgs,
    cluster: &str,
    quorum: (u32, u32, u32),
    tolerance: BookieTolerance,
    cluster_config: ClusterConfig,
    metadata: Arc<dyn MetadataStore>,
    ledgers: Arc<dyn LedgerStore>,
) -> Result<BrokerNode> {
    let (ensemble, write, ack) = quorum;
    LedgerOptions::validate_quorum(ensemble, write, ack)?;
    let (pulsar, http) = super::bind_listeners(&listen.ports).await?;
    let tls = listen.security.tls()?;
    let (pulsar_tls, https) = match &tls {
        Some(_) => {
            let (pulsar_port, https_port) = listen.security.tls_ports();
            let bind = |port| super::bind_one(listen.ports.bind, port, "TLS");
            (
                Some(bind(pulsar_port).await?),
                Some(bind(https_port).await?),
            )
        }
        None => (None, None),
    };
    let listeners = BrokerListeners {
        pulsar,
        http,
        pulsar_tls,
        https,
    };

    let mut service = BrokerServiceConfig {
        cluster_name: cluster.to_string(),
        ..Default::default()
    };
    service.max_message_size = listen.max_message_size;
    service.dispatch = DispatchConfig {
        failover_delay: Duration::from_millis(listen.consumers.failover_delay_ms),
        max_unacked_per_consumer: listen.consumers.max_unacked_messages_per_consumer,
        max_unacked_per_subscription: listen.consumers.max_unacked_messages_per_subscription,
    };
    service.topic_defaults = TopicDefaults {
        auto_topic_creation: AutoTopicCreation {
            allow_auto_topic_creation: listen.topics.allow_auto_topic_creation,
            topic_type: listen.topics.allow_auto_topic_creation_type,
            default_num_partitions: Some(listen.topics.default_num_partitions),
        },
        deduplication: listen.topics.broker_deduplication_enabled,
        deduplication_snapshot_interval: (listen
            .topics
            .broker_deduplication_snapshot_interval_seconds
            > 0)
        .then(|| Duration::from_secs(listen.topics.broker_deduplication_snapshot_interval_seconds)),
        schema_compatibility: listen.topics.schema_compatibility_strategy,
        expiry: ExpiryDefaults {
            subscription_expiration: (listen.topics.subscription_expiration_time_minutes > 0).then(
                || {
                    Duration::from_secs(
                        u64::from(listen.topics.subscription_expiration_time_minutes) * 60,
                    )
                },
            ),
            inactive_topics: InactiveTopicPolicies {
                inactive_topic_delete_mode: listen.topics.broker_delete_inactive_topics_mode,
                max_inactive_duration_seconds: i32::try_from(
                    listen
                        .topics
                        .broker_delete_inactive_topics_max_inactive_duration_seconds,
                )
                .unwrap_or(i32::MAX),
                delete_while_inactive: listen.topics.broker_delete_inactive_topics_enabled,
            },
        },
    };
    service.policy_check_interval = Duration::from_millis(listen.topics.policy_check_interval_ms);
    service.replication_stall_threshold =
        Duration::from_millis(listen.topics.replication_stall_threshold_ms);
    service.managed_ledger.max_entries_per_ledger =
        listen.topics.managed_ledger_max_entries_per_ledger;
    service.managed_ledger.min_rollover_time = Duration::from_secs(
        listen
            .topics
            .managed_ledger_min_ledger_rollover_time_minutes
            .saturating_mul(60),
    );
    service.authentication = listen.security.authentication()?;
    service.authorization = listen.security.authorization();
    service.broker_client = listen.security.broker_client.credential()?;
    service.managed_ledger.cache_size_bytes = listen.memory.pools().entry_cache_bytes;
    service.managed_ledger.ensemble_size = ensemble;
    service.managed_ledger.write_quorum = write;
    service.managed_ledger.ack_quorum = ack;
    service.managed_ledger.unwritable_add_timeout = tolerance.unwritable_add_timeout;
    let advertised_host = listen
        .advertised_address
        .clone()
        .unwrap_or_else(|| advertised_default(listen));
    let config = BrokerNodeConfig {
        service,
        advertised_host,
        advertised_listeners: listen
            .advertised_listeners
            .clone()
            .map(|l| l.0)
            .unwrap_or_default(),
        cluster: cluster_config,
        bookie_wait: tolerance.wait,
        topic_level_metrics: listen.topics.expose_topic_level_metrics_in_prometheus,
        tls,
    };
    BrokerNode::start(config, metadata, ledgers, listeners)
        .await
        .context("start broker")
}

/// The bind address, or the host name when bound to every interface.
fn advertised_default(listen: &ListenArgs) -> String {
    if listen.ports.bind.is_unspecified() {
        std::env::var("HOSTNAME").unwrap_or_else(|_| "127.0.0.1".to_string())
    } else {
        listen.ports.bind.to_string()
    }
}
