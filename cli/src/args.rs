//! Command-line arguments (clap derive). Every server flag also reads an
//! environment variable (`MAGNETAR_<FLAG>`), and the config file feeds those
//! variables (see [`crate::config_file`]).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::internal_tls_args::{BookieClientTlsArgs, BookieServerTlsArgs, MetadataTlsArgs};

#[derive(Debug, Parser)]
#[command(
    name = "magnetar",
    version,
    about = "A Pulsar-compatible message broker with separated compute and storage"
)]
pub struct Cli {
    /// Optional TOML file with flag defaults (flags and env vars take precedence).
    #[arg(long, global = true, env = "MAGNETAR_CONFIG")]
    pub config: Option<PathBuf>,

    /// A Pulsar `broker.conf` or `standalone.conf` whose settings become
    /// flag defaults (keys Magnetar does not take are logged and ignored).
    #[arg(long, global = true, env = "MAGNETAR_PULSAR_CONFIG")]
    pub pulsar_config: Option<PathBuf>,

    /// Log format on stderr. Filter with RUST_LOG (default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once per process and matched once: the size of its largest
// variant (a broker's flags) costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Broker, bookies and metadata store in one process, with no config.
    Standalone(StandaloneArgs),
    /// A broker against external bookies and a metadata store.
    Broker(BrokerArgs),
    /// A bookie: quorum-replicated ledger storage.
    Bookie(BookieArgs),
    /// A node of the embedded Raft metadata store.
    Metadata(MetadataNodeArgs),
    /// A proxy in front of the brokers: one address for clients that
    /// cannot reach the brokers themselves (lookups, connections and the
    /// admin API go through it).
    Proxy(ProxyArgs),
    /// Checks that a server answers, for container health checks: exits 0
    /// if it does, 1 if not.
    Health(HealthArgs),
    /// Publish messages to a topic.
    Produce(ProduceArgs),
    /// Consume messages from a topic.
    Consume(ConsumeArgs),
    /// Load generators that report throughput and latency every second.
    #[command(subcommand)]
    Perf(PerfCommand),
    /// Administration over the admin REST API, with pulsar-admin's nouns
    /// and verbs (`magnetar admin topics stats my-topic`).
    Admin(crate::admin_args::AdminArgs),
    /// Checks a running cluster's promises: produces and consumes stamped
    /// messages on every subscription type, then reports anything
    /// acknowledged and lost, reordered, duplicated or never produced.
    Verify(crate::verify_args::VerifyArgs),
    /// Keys and tokens for the `token` authentication provider, as
    /// `pulsar tokens` makes them (`magnetar tokens create --subject ROLE`).
    #[command(subcommand)]
    Tokens(crate::tokens_args::TokensCommand),
    /// Prints a shell completion script (`magnetar completions bash`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ProxyArgs {
    /// Metadata store URL of the cluster whose brokers the proxy serves.
    #[arg(long, env = "MAGNETAR_METADATA")]
    pub metadata: String,
    #[command(flatten)]
    pub metadata_tls: MetadataTlsArgs,
    /// The HTTP port serves the proxy's health and metrics, and forwards
    /// the admin API to the brokers.
    #[command(flatten)]
    pub ports: BindArgs,
    /// How long a handshake, a lookup or a forwarded admin request may take, in milliseconds.
    #[arg(long, env = "MAGNETAR_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,
    /// Largest message a client may send, in bytes (as the brokers' setting).
    #[arg(long, env = "MAGNETAR_MAX_MESSAGE_SIZE", default_value_t = 5 * 1024 * 1024)]
    pub max_message_size: usize,
    /// What the proxy's own lookup connections present to the brokers.
    #[command(flatten)]
    pub broker_client: crate::security_args::BrokerClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// What to check: `http://HOST:PORT/PATH` (a broker's, proxy's or
    /// etcd's `/health`; any 2xx passes) or `bookie://HOST:PORT` (the
    /// bookie answers `Info`).
    #[arg(default_value = "http://127.0.0.1:8080/health")]
    pub target: String,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 3_000)]
    pub timeout_ms: u64,
}

/// Where a server's Pulsar and HTTP listeners bind.
#[derive(Debug, Clone, Args)]
pub struct BindArgs {
    /// Address to bind the Pulsar (binary protocol) and HTTP listeners to.
    #[arg(long, env = "MAGNETAR_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Pulsar binary protocol port (0 picks a free port).
    #[arg(long, env = "MAGNETAR_PULSAR_PORT", default_value_t = 6650)]
    pub pulsar_port: u16,
    /// HTTP port: health, admin REST API, metrics (0 picks a free port).
    #[arg(long, env = "MAGNETAR_HTTP_PORT", default_value_t = 8080)]
    pub http_port: u16,
}

/// A broker's listeners, what it advertises, and the limits it puts on clients.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    #[command(flatten)]
    pub ports: BindArgs,
    /// Host name clients should use to reach this broker (defaults to the bind address).
    #[arg(long, env = "MAGNETAR_ADVERTISED_ADDRESS")]
    pub advertised_address: Option<String>,
    /// Named listeners as Pulsar's `advertisedListeners`:
    /// `name:pulsar://host:port[,name:pulsar://host:port...]`. A lookup
    /// naming a listener (the client's `listenerName`) gets its URL.
    #[arg(long, env = "MAGNETAR_ADVERTISED_LISTENERS", value_parser = parse_listeners)]
    pub advertised_listeners: Option<Listeners>,
    /// Largest message (batch) a producer may send, in bytes.
    #[arg(long, env = "MAGNETAR_MAX_MESSAGE_SIZE", default_value_t = 5 * 1024 * 1024)]
    pub max_message_size: usize,
    #[command(flatten)]
    pub consumers: ConsumerArgs,
    #[command(flatten)]
    pub topics: TopicArgs,
    #[command(flatten)]
    pub security: crate::security_args::SecurityArgs,
    #[command(flatten)]
    pub memory: crate::memory_args::MemoryArgs,
}

/// Topic policies a namespace can override: auto-creation
/// (`/admin/v2/namespaces/{tenant}/{ns}/autoTopicCreation`) and
/// deduplication (`…/deduplication`).
#[derive(Debug, Clone, Args)]
pub struct TopicArgs {
    /// Create a topic when a client first uses it.
    #[arg(
        long,
        env = "MAGNETAR_ALLOW_AUTO_TOPIC_CREATION",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub allow_auto_topic_creation: bool,
    /// The kind of topic created on first use: `non-partitioned` or
    /// `partitioned` (with `--default-num-partitions` partitions).
    #[arg(
        long,
        env = "MAGNETAR_ALLOW_AUTO_TOPIC_CREATION_TYPE",
        default_value = "non-partitioned"
    )]
    pub allow_auto_topic_creation_type: magnetar_broker::namespace::TopicType,
    /// Partitions of a partitioned topic created on first use.
    #[arg(long, env = "MAGNETAR_DEFAULT_NUM_PARTITIONS", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=magnetar_broker::namespace::MAX_PARTITIONS as i64))]
    pub default_num_partitions: u32,
    /// Deduplicate producers' messages by producer name and sequence id
    /// (a namespace's `deduplication` policy overrides it).
    #[arg(
        long,
        env = "MAGNETAR_BROKER_DEDUPLICATION_ENABLED",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub broker_deduplication_enabled: bool,
    /// Seconds without a new message after which a deduplicating topic
    /// that took messages since its last snapshot is snapshotted, so that
    /// its next load replays nothing (besides the snapshot every 1,000
    /// entries); 0: only those.
    #[arg(
        long,
        env = "MAGNETAR_BROKER_DEDUPLICATION_SNAPSHOT_INTERVAL_SECONDS",
        default_value_t = 120
    )]
    pub broker_deduplication_snapshot_interval_seconds: u64,
    /// How a new schema version is checked against a topic's versions,
    /// unless its namespace says otherwise: ALWAYS_COMPATIBLE,
    /// ALWAYS_INCOMPATIBLE, BACKWARD, FORWARD, FULL or a _TRANSITIVE form.
    #[arg(
        long,
        env = "MAGNETAR_SCHEMA_COMPATIBILITY_STRATEGY",
        default_value = "FULL"
    )]
    pub schema_compatibility_strategy: magnetar_broker::namespace::CompatibilityStrategy,
    /// `/metrics` has `pulsar_*` series per topic and subscription; with
    /// `false` they are summed per namespace (Pulsar's
    /// `exposeTopicLevelMetricsInPrometheus`).
    #[arg(
        long,
        env = "MAGNETAR_EXPOSE_TOPIC_LEVEL_METRICS_IN_PROMETHEUS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub expose_topic_level_metrics_in_prometheus: bool,
    /// How often the namespace policies of loaded topics are read again
    /// and enforced: message TTL and backlog quotas (a change made
    /// through this broker's admin API applies at once).
    #[arg(long, env = "MAGNETAR_POLICY_CHECK_INTERVAL_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(100..))]
    pub policy_check_interval_ms: u64,
    /// Durable subscriptions without consumers for this many minutes are
    /// deleted, unless their namespace says otherwise (Pulsar's
    /// `subscriptionExpirationTimeMinutes`; 0: never). Checked with the
    /// other policies.
    #[arg(
        long,
        env = "MAGNETAR_SUBSCRIPTION_EXPIRATION_TIME_MINUTES",
        default_value_t = 0
    )]
    pub subscription_expiration_time_minutes: u32,
    /// Delete topics without producers and consumers (and, by the mode,
    /// without subscriptions or backlog) unless their namespace says
    /// otherwise. Off by default, unlike Pulsar.
    #[arg(
        long,
        env = "MAGNETAR_BROKER_DELETE_INACTIVE_TOPICS_ENABLED",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub broker_delete_inactive_topics_enabled: bool,
    /// delete_when_no_subscriptions or delete_when_subscriptions_caught_up.
    #[arg(
        long,
        env = "MAGNETAR_BROKER_DELETE_INACTIVE_TOPICS_MODE",
        default_value = "delete_when_no_subscriptions"
    )]
    pub broker_delete_inactive_topics_mode: magnetar_broker::namespace::InactiveTopicDeleteMode,
    /// How long a topic must be inactive before it is deleted.
    #[arg(
        long,
        env = "MAGNETAR_BROKER_DELETE_INACTIVE_TOPICS_MAX_INACTIVE_DURATION_SECONDS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub broker_delete_inactive_topics_max_inactive_duration_seconds: u32,
    /// A replicator with messages waiting and nothing confirmed by its
    /// remote cluster for this long is reported stalled: an error in the
    /// log, `stalled` in topic stats, `magnetar_replication_stalled`.
    #[arg(long, env = "MAGNETAR_REPLICATION_STALL_THRESHOLD_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(100..))]
    pub replication_stall_threshold_ms: u64,
    /// A topic's ledger is closed and a new one started after this many
    /// entries (Pulsar's `managedLedgerMaxEntriesPerLedger`). Retention and
    /// trimming work ledger by ledger.
    #[arg(long, env = "MAGNETAR_MANAGED_LEDGER_MAX_ENTRIES_PER_LEDGER", default_value_t = 50_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub managed_ledger_max_entries_per_ledger: u64,
    /// A ledger is never closed by size or entries before it is this old
    /// (Pulsar's `managedLedgerMinLedgerRolloverTimeMinutes`; 0: no gate).
    #[arg(
        long,
        env = "MAGNETAR_MANAGED_LEDGER_MIN_LEDGER_ROLLOVER_TIME_MINUTES",
        default_value_t = 10
    )]
    pub managed_ledger_min_ledger_rollover_time_minutes: u64,
}

/// How subscriptions treat their consumers.
#[derive(Debug, Clone, Args)]
pub struct ConsumerArgs {
    /// Shared and Key_Shared: a consumer with this many unacknowledged
    /// messages gets no more until it is down to half (0: no limit).
    #[arg(
        long,
        env = "MAGNETAR_MAX_UNACKED_MESSAGES_PER_CONSUMER",
        default_value_t = 50_000
    )]
    pub max_unacked_messages_per_consumer: u64,
    /// The same limit for all consumers of a subscription together.
    #[arg(
        long,
        env = "MAGNETAR_MAX_UNACKED_MESSAGES_PER_SUBSCRIPTION",
        default_value_t = 200_000
    )]
    pub max_unacked_messages_per_subscription: u64,
    /// Failover: how long a new active consumer waits before it receives,
    /// so the previous one can finish acknowledging, in milliseconds.
    #[arg(long, env = "MAGNETAR_FAILOVER_DELAY_MS", default_value_t = 1_000)]
    pub failover_delay_ms: u64,
}

/// Parsed `--advertised-listeners`: name → service URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listeners(pub std::collections::BTreeMap<String, String>);

fn parse_listeners(text: &str) -> Result<Listeners, String> {
    let mut listeners = std::collections::BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, url) = item
            .split_once(':')
            .ok_or_else(|| format!("{item:?} is not name:pulsar://host:port"))?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "listener name {name:?} must be letters, digits, - or _"
            ));
        }
        let rest = url
            .strip_prefix("pulsar://")
            .or_else(|| url.strip_prefix("pulsar+ssl://"))
            .ok_or_else(|| {
                format!("listener {name}: {url:?} must start with pulsar:// or pulsar+ssl://")
            })?;
        let port_ok = rest
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(format!("listener {name}: {url:?} needs host:port"));
        }
        if listeners
            .insert(name.to_string(), url.to_string())
            .is_some()
        {
            return Err(format!("listener {name} is given twice"));
        }
    }
    Ok(Listeners(listeners))
}

/// Cluster membership and the load manager (brokers).
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// TTL of the metadata session that holds bundle ownership, in
    /// milliseconds: a crashed broker's bundles move after about this long.
    #[arg(long, env = "MAGNETAR_SESSION_TIMEOUT_MS", default_value_t = 10_000)]
    pub session_timeout_ms: u64,
    /// How often a broker probes the next broker for fast failover, in
    /// milliseconds: two refused connections end that broker's session, so
    /// its bundles move before the session timeout (0 turns it off).
    #[arg(long, env = "MAGNETAR_PEER_PROBE_INTERVAL_MS", default_value_t = 500)]
    pub peer_probe_interval_ms: u64,
    /// How often a broker publishes its load report, in milliseconds.
    #[arg(
        long,
        env = "MAGNETAR_LOAD_REPORT_INTERVAL_MS",
        default_value_t = 5_000
    )]
    pub load_report_interval_ms: u64,
    /// Whether the leader moves bundles off brokers above the average load.
    #[arg(long, env = "MAGNETAR_SHEDDING_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub shedding_enabled: bool,
    /// How often the leader checks for shedding and splits, in milliseconds.
    #[arg(long, env = "MAGNETAR_SHEDDING_INTERVAL_MS", default_value_t = 60_000)]
    pub shedding_interval_ms: u64,
    /// A moved bundle is not moved again within this, in milliseconds.
    #[arg(long, env = "MAGNETAR_SHEDDING_GRACE_MS", default_value_t = 1_800_000)]
    pub shedding_grace_ms: u64,
    /// A broker sheds when its message rate exceeds the average by this many percent.
    #[arg(
        long,
        env = "MAGNETAR_SHEDDING_THRESHOLD_PERCENT",
        default_value_t = 10.0
    )]
    pub shedding_threshold_percent: f64,
    /// A broker sheds only when it is at least this many messages per second above the average.
    #[arg(
        long,
        env = "MAGNETAR_SHEDDING_MIN_MSG_RATE",
        default_value_t = 1_000.0
    )]
    pub shedding_min_msg_rate: f64,
    /// Whether the leader splits bundles over a threshold.
    #[arg(long, env = "MAGNETAR_AUTO_SPLIT", default_value_t = true, action = clap::ArgAction::Set)]
    pub auto_split: bool,
    /// Split a bundle with more topics than this.
    #[arg(long, env = "MAGNETAR_SPLIT_MAX_TOPICS", default_value_t = 1000)]
    pub split_max_topics: u64,
    /// Split a bundle with more producers and consumers than this.
    #[arg(long, env = "MAGNETAR_SPLIT_MAX_SESSIONS", default_value_t = 1000)]
    pub split_max_sessions: u64,
    /// Split a bundle with a higher message rate (in + out) than this.
    #[arg(long, env = "MAGNETAR_SPLIT_MAX_MSG_RATE", default_value_t = 30_000.0)]
    pub split_max_msg_rate: f64,
    /// Split a bundle with more throughput (in + out) than this, in MiB/s.
    #[arg(long, env = "MAGNETAR_SPLIT_MAX_BANDWIDTH_MB", default_value_t = 100.0)]
    pub split_max_bandwidth_mb: f64,
    /// Automatic splits stop when a namespace has this many bundles.
    #[arg(
        long,
        env = "MAGNETAR_MAX_BUNDLES_PER_NAMESPACE",
        default_value_t = 128
    )]
    pub max_bundles_per_namespace: usize,
}

impl ClusterArgs {
    /// The broker's cluster settings these flags choose.
    pub fn cluster_config(&self) -> magnetar_broker::cluster::ClusterConfig {
        use magnetar_broker::cluster::{shedding::SheddingConfig, split::SplitConfig};
        use std::time::Duration;
        magnetar_broker::cluster::ClusterConfig {
            session_ttl: Duration::from_millis(self.session_timeout_ms),
            report_interval: Duration::from_millis(self.load_report_interval_ms),
            peer_probe_interval: Duration::from_millis(self.peer_probe_interval_ms),
            load_manager: magnetar_broker::cluster::LoadManagerConfig {
                shedding_enabled: self.shedding_enabled,
                shedding_interval: Duration::from_millis(self.shedding_interval_ms),
                shedding: SheddingConfig {
                    threshold_percent: self.shedding_threshold_percent,
                    min_msg_rate: self.shedding_min_msg_rate,
                    grace: Duration::from_millis(self.shedding_grace_ms),
                },
                split: SplitConfig {
                    enabled: self.auto_split,
                    max_topics: self.split_max_topics,
                    max_sessions: self.split_max_sessions,
                    max_msg_rate: self.split_max_msg_rate,
                    max_bandwidth: self.split_max_bandwidth_mb * 1024.0 * 1024.0,
                    max_bundles_per_namespace: self.max_bundles_per_namespace,
                },
            },
            ..Default::default()
        }
    }
}

/// Replication of the ledgers a broker creates.
#[derive(Debug, Clone, Args)]
pub struct QuorumArgs {
    /// Bookies per ledger ensemble (E).
    #[arg(long, env = "MAGNETAR_ENSEMBLE_SIZE")]
    pub ensemble_size: Option<u32>,
    /// Copies written per entry (Qw).
    #[arg(long, env = "MAGNETAR_WRITE_QUORUM")]
    pub write_quorum: Option<u32>,
    /// Copies that must be fsynced before a producer gets its receipt (Qa).
    #[arg(long, env = "MAGNETAR_ACK_QUORUM")]
    pub ack_quorum: Option<u32>,
}

impl QuorumArgs {
    /// The flags, with `default` filling what was not given.
    pub fn resolve(&self, default: u32) -> (u32, u32, u32) {
        (
            self.ensemble_size.unwrap_or(default),
            self.write_quorum.unwrap_or(default),
            self.ack_quorum.unwrap_or(default),
        )
    }
}

/// Journal settings of a bookie.
#[derive(Debug, Clone, Args)]
pub struct JournalArgs {
    /// Longest an add waits for its group commit, in milliseconds.
    #[arg(long, env = "MAGNETAR_JOURNAL_MAX_GROUP_WAIT_MS", default_value_t = 2)]
    pub journal_max_group_wait_ms: u64,
    /// Buffered bytes that trigger a group commit before the wait expires.
    #[arg(long, env = "MAGNETAR_JOURNAL_BUFFERED_WRITES_THRESHOLD", default_value_t = 512 * 1024)]
    pub journal_buffered_writes_threshold: usize,
    /// fsync the journal before acknowledging (turning this off can lose acknowledged data).
    #[arg(long, env = "MAGNETAR_JOURNAL_SYNC", default_value_t = true, action = clap::ArgAction::Set)]
    pub journal_sync: bool,
    /// Zero-fill journal files ahead of the writer, so that fsyncs do not grow the file.
    #[arg(long, env = "MAGNETAR_JOURNAL_PREALLOCATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub journal_preallocate: bool,
    /// How often the write cache is checkpointed to entry logs and the index, in milliseconds.
    #[arg(long, env = "MAGNETAR_FLUSH_INTERVAL_MS", default_value_t = 5_000)]
    pub flush_interval_ms: u64,
    /// Disk usage fraction above which the bookie turns read-only.
    #[arg(long, env = "MAGNETAR_DISK_USAGE_THRESHOLD", default_value_t = 0.95)]
    pub disk_usage_threshold: f64,
}

#[derive(Debug, Clone, Args)]
pub struct StandaloneArgs {
    /// Where bookie and metadata data live.
    #[arg(long, env = "MAGNETAR_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Cluster name: two standalones with different names (and ports)
    /// are two clusters that can replicate to each other.
    #[arg(long, env = "MAGNETAR_CLUSTER", default_value = "standalone")]
    pub cluster: String,
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Bookies to run in-process.
    #[arg(long, env = "MAGNETAR_BOOKIES", default_value_t = 1)]
    pub bookies: u32,
    #[command(flatten)]
    pub quorum: QuorumArgs,
    #[command(flatten)]
    pub journal: JournalArgs,
    #[command(flatten)]
    pub writes: WriteArgs,
}

#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// Metadata store URL: etcd://host:port[,host:port][/prefix] or raft://host:port[,...][/prefix].
    #[arg(long, env = "MAGNETAR_METADATA")]
    pub metadata: String,
    #[command(flatten)]
    pub metadata_tls: MetadataTlsArgs,
    #[command(flatten)]
    pub bookie_tls: BookieClientTlsArgs,
    /// Cluster name.
    #[arg(long, env = "MAGNETAR_CLUSTER", default_value = "standalone")]
    pub cluster: String,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub quorum: QuorumArgs,
    /// At startup, wait up to this long for enough writable bookies for a
    /// ledger before announcing readiness, in milliseconds (0 = no wait).
    #[arg(long, env = "MAGNETAR_WAIT_FOR_BOOKIES_MS", default_value_t = 60_000)]
    pub wait_for_bookies_ms: u64,
    #[command(flatten)]
    pub writes: WriteArgs,
    #[command(flatten)]
    pub cluster_args: ClusterArgs,
}

/// How a broker treats adds while no ledger can be written.
#[derive(Debug, Clone, Args)]
pub struct WriteArgs {
    /// How long an add waits for a writable ledger before it fails, in
    /// milliseconds; keep it below the clients' send timeout (30 s by default).
    #[arg(
        long,
        env = "MAGNETAR_UNWRITABLE_ADD_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub unwritable_add_timeout_ms: u64,
    /// When a bookie fails and none can replace it, keep writing to the
    /// rest of each write set while the ack quorum holds, and record the
    /// hole in the ledger metadata. Turn off while older bookie binaries
    /// still run auto-recovery.
    #[arg(
        long,
        env = "MAGNETAR_DELAYED_ENSEMBLE_CHANGE",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub delayed_ensemble_change: bool,
}

impl WriteArgs {
    /// The ledger client settings these flags choose. An entry is a message
    /// of up to `max_message_size` bytes plus its metadata, which the frame
    /// padding bounds (a chunk of a chunked message fills the first part).
    pub fn client_config(&self, max_message_size: usize) -> magnetar_bookie::client::ClientConfig {
        magnetar_bookie::client::ClientConfig {
            delayed_ensemble_change: self.delayed_ensemble_change,
            max_entry_size: max_message_size.saturating_add(magnetar_proto::pulsar::FRAME_PADDING),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct BookieArgs {
    /// Metadata store URL (see `magnetar broker --help`).
    #[arg(long, env = "MAGNETAR_METADATA")]
    pub metadata: String,
    #[command(flatten)]
    pub metadata_tls: MetadataTlsArgs,
    #[command(flatten)]
    pub tls: BookieServerTlsArgs,
    /// TLS of auto-recovery's ledger client towards the other bookies.
    #[command(flatten)]
    pub client_tls: BookieClientTlsArgs,
    /// Journal, entry logs and index.
    #[arg(long, env = "MAGNETAR_DATA_DIR")]
    pub data_dir: PathBuf,
    /// gRPC listen address; its host:port is the bookie id.
    #[arg(long, env = "MAGNETAR_LISTEN", default_value = "127.0.0.1:3181")]
    pub listen: String,
    /// host:port other processes use to reach this bookie, and its id (defaults to `--listen`).
    #[arg(long, env = "MAGNETAR_ADVERTISED_ADDRESS")]
    pub advertised_address: Option<String>,
    /// TTL of the metadata session holding the registration (and the auditor role and re-replication locks), in milliseconds.
    #[arg(long, env = "MAGNETAR_SESSION_TTL_MS", default_value_t = 30_000)]
    pub session_ttl_ms: u64,
    /// Port of the bookie's HTTP server (`/health`, `/metrics`) on the
    /// `--listen` host; none when not given (0: any free port).
    #[arg(long, env = "MAGNETAR_HTTP_PORT")]
    pub http_port: Option<u16>,
    #[command(flatten)]
    pub journal: JournalArgs,
    #[command(flatten)]
    pub memory: crate::memory_args::MemoryArgs,
    #[command(flatten)]
    pub autorecovery: AutoRecoveryArgs,
}

/// Auto-recovery (auditor and replication worker) inside a bookie.
#[derive(Debug, Clone, Args)]
pub struct AutoRecoveryArgs {
    /// Run an auditor candidate and a replication worker in this bookie.
    #[arg(long, env = "MAGNETAR_AUTORECOVERY", default_value_t = true, action = clap::ArgAction::Set)]
    pub autorecovery: bool,
    /// How long a bookie must stay gone before its ledgers are marked under-replicated, in milliseconds.
    #[arg(
        long,
        env = "MAGNETAR_LOST_BOOKIE_RECOVERY_DELAY_MS",
        default_value_t = 30_000
    )]
    pub lost_bookie_recovery_delay_ms: u64,
    /// How long a spare bookie must stay available while an open ledger's last segment lacks a bookie (lost, or a hole) before the ledger is fenced and re-replicated, in milliseconds; without a spare it is left to its writer.
    #[arg(
        long,
        env = "MAGNETAR_OPEN_LEDGER_REREPLICATION_GRACE_MS",
        default_value_t = 30_000
    )]
    pub open_ledger_rereplication_grace_ms: u64,
}

#[derive(Debug, Clone, Args)]
pub struct MetadataNodeArgs {
    /// This node's id in `--peers`.
    #[arg(long, env = "MAGNETAR_ID")]
    pub id: u64,
    /// gRPC listen address for clients and peers.
    #[arg(long, env = "MAGNETAR_LISTEN")]
    pub listen: String,
    /// Raft log, state machine and snapshots.
    #[arg(long, env = "MAGNETAR_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Every voter: `1=host:port,2=host:port,3=host:port` (1, 3 or 5 voters).
    #[arg(long, env = "MAGNETAR_PEERS")]
    pub peers: String,
}

#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Service URL of a broker.
    #[arg(long, env = "MAGNETAR_URL", default_value = "pulsar://127.0.0.1:6650")]
    pub url: String,
    /// Topic: `persistent://tenant/ns/name` or a short name.
    pub topic: String,
    #[command(flatten)]
    pub auth: crate::client_auth_args::ClientAuthArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Message payloads; each is sent `--count` times.
    #[arg(short, long = "message", required_unless_present = "file")]
    pub messages: Vec<String>,
    /// A file whose whole content is one more message.
    #[arg(short, long)]
    pub file: Option<PathBuf>,
    /// Times each message is sent.
    #[arg(short = 'n', long, default_value_t = 1)]
    pub count: u64,
    /// The messages' key (routes them to a partition and a Key_Shared consumer).
    #[arg(short, long)]
    pub key: Option<String>,
    /// A property `name=value` on every message; repeat for more.
    #[arg(short, long = "property", value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
    /// At most this many messages per second (0: as fast as receipts allow).
    #[arg(short, long, default_value_t = 0)]
    pub rate: u64,
}

fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("a property is name=value, not {text:?}")),
    }
}

#[derive(Debug, Clone, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Subscription name.
    #[arg(short, long, default_value = "magnetar-cli")]
    pub subscription: String,
    /// Subscription type.
    #[arg(long = "type", value_enum, default_value_t = SubscriptionKind::Exclusive)]
    pub kind: SubscriptionKind,
    /// Stop after this many messages (0 = run until interrupted).
    #[arg(short = 'n', long, default_value_t = 0)]
    pub count: u64,
    /// One JSON object per message (id, key, properties, publish time,
    /// payload) instead of the payload alone.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SubscriptionKind {
    Exclusive,
    Shared,
    Failover,
    KeyShared,
}

#[derive(Debug, Subcommand)]
pub enum PerfCommand {
    /// Publish at a fixed or unlimited rate; report msgs/s, MB/s and publish latency.
    Produce(PerfProduceArgs),
    /// Consume and report msgs/s, MB/s and end-to-end latency.
    Consume(PerfConsumeArgs),
    /// Raw disk baseline: sequential writes, each followed by fdatasync.
    Disk(PerfDiskArgs),
    /// One ledger written through the ledger client: adds/s and add latency.
    Ledger(PerfLedgerArgs),
    /// Metadata store: CAS-put throughput and latency, watch fan-out latency.
    Metadata(PerfMetadataArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PerfLedgerArgs {
    /// Metadata store URL (`etcd://…` or `raft://…`) the bookies registered in.
    #[arg(long, env = "MAGNETAR_METADATA")]
    pub metadata: String,
    #[command(flatten)]
    pub metadata_tls: MetadataTlsArgs,
    #[command(flatten)]
    pub bookie_tls: BookieClientTlsArgs,
    /// Bookies per ledger (E).
    #[arg(long, default_value_t = 3)]
    pub ensemble_size: u32,
    /// Copies of each entry (Qw).
    #[arg(long, default_value_t = 3)]
    pub write_quorum: u32,
    /// Copies that must be fsynced before an add is confirmed (Qa).
    #[arg(long, default_value_t = 2)]
    pub ack_quorum: u32,
    /// Entry size in bytes.
    #[arg(short, long, default_value_t = 1024)]
    pub size: usize,
    /// Adds per second (0 = as fast as possible).
    #[arg(short, long, default_value_t = 0)]
    pub rate: u64,
    /// How long to run, in seconds.
    #[arg(short, long, default_value_t = 10)]
    pub duration: u64,
    /// Most adds in flight without a confirmation.
    #[arg(long, default_value_t = 1000)]
    pub max_pending: usize,
}

#[derive(Debug, Clone, Args)]
pub struct PerfMetadataArgs {
    /// Metadata store URL (`etcd://…` or `raft://…`).
    #[arg(long, env = "MAGNETAR_METADATA")]
    pub metadata: String,
    #[command(flatten)]
    pub metadata_tls: MetadataTlsArgs,
    /// Concurrent CAS clients.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// How long the CAS phase runs, in seconds.
    #[arg(short, long, default_value_t = 10)]
    pub duration: u64,
    /// Watches on the one key of the fan-out phase.
    #[arg(long, default_value_t = 100)]
    pub watchers: usize,
    /// Puts observed by every watcher in the fan-out phase.
    #[arg(long, default_value_t = 200)]
    pub rounds: usize,
}

#[derive(Debug, Clone, Args)]
pub struct PerfDiskArgs {
    /// Directory on the disk to measure (the bookie's data dir).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Bytes written before each fdatasync.
    #[arg(short, long, default_value_t = 1024)]
    pub size: usize,
    /// How long to run, in seconds.
    #[arg(short, long, default_value_t = 10)]
    pub duration: u64,
    /// Write over a zero-filled file of this many MiB (filled and synced
    /// before timing starts, wrapping around at its end) instead of
    /// appending. 0 appends. Measures what a journal that preallocates its
    /// files would pay per fdatasync: no size or block-allocation change to
    /// commit.
    #[arg(long, default_value_t = 0)]
    pub preallocated_mib: u64,
}

#[derive(Debug, Clone, Args)]
pub struct PerfProduceArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Messages per second (0 = as fast as possible).
    #[arg(short, long, default_value_t = 0)]
    pub rate: u64,
    /// Payload size in bytes.
    #[arg(short, long, default_value_t = 1024)]
    pub size: usize,
    /// How long to run, in seconds.
    #[arg(short, long, default_value_t = 30)]
    pub duration: u64,
    /// Most messages in flight without a receipt.
    #[arg(long, default_value_t = 1000)]
    pub max_pending: usize,
    /// Batch messages in the client (the Pulsar client default).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub batching: bool,
    /// Largest batch, in messages.
    #[arg(long, default_value_t = 1000)]
    pub batch_max_messages: u32,
    /// Give messages partition keys `key-0` .. `key-{N-1}`, one key per
    /// batch in turn (key-based batching), for Key_Shared runs (0: no key;
    /// raw producer only).
    #[arg(long, default_value_t = 0)]
    pub keys: u32,
    /// Which producer generates the load: `raw` speaks the protocol itself
    /// and batches like the Java client; `rust` uses the Rust `pulsar` crate.
    #[arg(long, value_enum, default_value_t = PerfClient::Raw)]
    pub producer: PerfClient,
    /// A bookie (`host:port`) whose own add latency is reset before the run
    /// and printed after it; repeat for several. Standalone's in-process
    /// bookies serve it too: their ports are in `<data-dir>/bookie-N/port`.
    #[arg(long)]
    pub bookie: Vec<String>,
}

/// The producer implementation behind `perf produce`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PerfClient {
    Raw,
    Rust,
}

#[derive(Debug, Clone, Args)]
pub struct PerfConsumeArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Subscription name.
    #[arg(short, long, default_value = "magnetar-perf")]
    pub subscription: String,
    /// How long to run, in seconds.
    #[arg(short, long, default_value_t = 30)]
    pub duration: u64,
    /// Subscription type.
    #[arg(long, value_enum, default_value_t = PerfSubscriptionType::Exclusive)]
    pub subscription_type: PerfSubscriptionType,
    /// Consumers on the subscription, each on its own connection.
    #[arg(long, default_value_t = 1)]
    pub consumers: u32,
    /// Start a new subscription at the earliest message (a backlog) rather
    /// than the latest.
    #[arg(long)]
    pub earliest: bool,
    /// Stop once this many messages arrived, across consumers (0: run for
    /// the duration).
    #[arg(long, default_value_t = 0)]
    pub messages: u64,
    /// Which consumers: `raw` speak the protocol themselves (acks in
    /// batches of 100); `rust` use the Rust `pulsar` crate.
    #[arg(long, value_enum, default_value_t = PerfClient::Raw)]
    pub consumer: PerfClient,
}

/// The subscription type of `perf consume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PerfSubscriptionType {
    Exclusive,
    Shared,
    Failover,
    KeyShared,
}
