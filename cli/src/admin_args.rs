//! Arguments of `magnetar admin`: pulsar-admin's nouns and verbs over the
//! admin REST API. Topics are named as clients name them
//! (`persistent://tenant/ns/topic`, `tenant/ns/topic`, or a bare name in
//! `public/default`); namespaces as `tenant/ns`.

use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The broker's admin URL.
    #[arg(
        long,
        global = true,
        env = "MAGNETAR_ADMIN_URL",
        default_value = "http://localhost:8080"
    )]
    pub url: String,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub auth: crate::client_auth_args::ClientAuthArgs,
    #[command(subcommand)]
    pub noun: AdminNoun,
}

#[derive(Debug, Subcommand)]
pub enum AdminNoun {
    /// Clusters registered in the metadata store.
    #[command(subcommand)]
    Clusters(ClustersVerb),
    /// Tenants: admin roles and allowed clusters.
    #[command(subcommand)]
    Tenants(TenantsVerb),
    /// Namespaces and their policies.
    #[command(subcommand)]
    Namespaces(NamespacesVerb),
    /// Persistent topics, their subscriptions and partitions.
    #[command(subcommand)]
    Topics(TopicsVerb),
    /// Brokers of a cluster and the load manager's leader.
    #[command(subcommand)]
    Brokers(BrokersVerb),
    /// Bookies registered in the metadata store.
    #[command(subcommand)]
    Bookies(BookiesVerb),
    /// Schemas of topics.
    #[command(subcommand)]
    Schemas(SchemasVerb),
}

#[derive(Debug, Subcommand)]
pub enum BookiesVerb {
    /// Every bookie with its state and free disk bytes.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ClustersVerb {
    /// Names of the clusters.
    List,
    /// A cluster's service URLs.
    Get { cluster: String },
    /// Registers a cluster (a remote one, for geo-replication).
    Create {
        cluster: String,
        #[command(flatten)]
        urls: ClusterUrls,
    },
    /// Changes a registered cluster's URLs.
    Update {
        cluster: String,
        #[command(flatten)]
        urls: ClusterUrls,
    },
    /// Removes a cluster no tenant allows.
    Delete { cluster: String },
}

/// Where a cluster's brokers answer.
#[derive(Debug, Args)]
pub struct ClusterUrls {
    /// The admin API, `http://host:port`.
    #[arg(long)]
    pub service_url: String,
    /// The Pulsar protocol, `pulsar://host:port`: where replicators send.
    #[arg(long)]
    pub broker_service_url: String,
}

#[derive(Debug, Subcommand)]
pub enum TenantsVerb {
    /// Names of the tenants.
    List,
    /// A tenant's admin roles and allowed clusters.
    Get { tenant: String },
    /// Creates a tenant.
    Create {
        tenant: String,
        /// Comma-separated admin roles.
        #[arg(long, value_delimiter = ',')]
        admin_roles: Vec<String>,
        /// Comma-separated clusters the tenant may use.
        #[arg(long, value_delimiter = ',')]
        allowed_clusters: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum QuotaType {
    DestinationStorage,
    MessageAge,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum QuotaPolicy {
    ProducerRequestHold,
    ProducerException,
    ConsumerBacklogEviction,
}

#[derive(Debug, Subcommand)]
pub enum NamespacesVerb {
    /// Namespaces of a tenant.
    List {
        tenant: String,
    },
    /// Creates a namespace (`tenant/ns`).
    Create {
        namespace: String,
        /// Bundles (hash ranges) to split the namespace into.
        #[arg(long)]
        bundles: Option<u32>,
    },
    /// Every policy of a namespace.
    Policies {
        namespace: String,
    },
    /// Keeps consumed messages for a time and up to a size (-1: no limit).
    SetRetention {
        namespace: String,
        /// Minutes (-1: no limit).
        #[arg(long, allow_negative_numbers = true)]
        time: i32,
        /// Megabytes (-1: no limit).
        #[arg(long, allow_negative_numbers = true)]
        size: i64,
    },
    GetRetention {
        namespace: String,
    },
    RemoveRetention {
        namespace: String,
    },
    /// Expires messages older than `--ttl` seconds from every backlog.
    SetMessageTtl {
        namespace: String,
        #[arg(long)]
        ttl: u32,
    },
    GetMessageTtl {
        namespace: String,
    },
    RemoveMessageTtl {
        namespace: String,
    },
    /// Limits backlogs by size (bytes) or age (seconds).
    SetBacklogQuota {
        namespace: String,
        #[arg(long, value_enum, default_value_t = QuotaType::DestinationStorage)]
        r#type: QuotaType,
        /// Bytes (destination_storage).
        #[arg(long)]
        limit_size: Option<i64>,
        /// Seconds (message_age).
        #[arg(long)]
        limit_time: Option<i32>,
        #[arg(long, value_enum)]
        policy: QuotaPolicy,
    },
    GetBacklogQuotas {
        namespace: String,
    },
    RemoveBacklogQuota {
        namespace: String,
        #[arg(long, value_enum, default_value_t = QuotaType::DestinationStorage)]
        r#type: QuotaType,
    },
    /// Turns deduplication on or off for the namespace's producers.
    SetDeduplication {
        namespace: String,
        #[arg(long, action = clap::ArgAction::Set)]
        enable: bool,
    },
    /// At most this many producers per topic (0: no cap).
    SetMaxProducersPerTopic {
        namespace: String,
        #[arg(long)]
        max: u32,
    },
    /// At most this many consumers per topic (0: no cap).
    SetMaxConsumersPerTopic {
        namespace: String,
        #[arg(long)]
        max: u32,
    },
    /// The clusters the namespace lives in.
    SetClusters {
        namespace: String,
        #[arg(long, value_delimiter = ',', required = true)]
        clusters: Vec<String>,
    },
    GetClusters {
        namespace: String,
    },
    /// Acknowledges every backlog of the namespace's topics on this broker.
    ClearBacklog {
        namespace: String,
    },
    /// Unloads the namespace's bundles (clients reconnect).
    Unload {
        namespace: String,
    },
    /// The namespace's bundles.
    Bundles {
        namespace: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TopicsVerb {
    /// Topics of a namespace.
    List { namespace: String },
    /// Creates a non-partitioned topic.
    Create { topic: String },
    /// Deletes a topic (refused while clients are attached unless forced).
    Delete {
        topic: String,
        #[arg(long)]
        force: bool,
    },
    /// Rates, counters, storage, publishers and subscriptions.
    Stats { topic: String },
    /// Ledgers and cursors.
    StatsInternal { topic: String },
    /// Subscription names.
    Subscriptions { topic: String },
    /// Creates a durable subscription.
    CreateSubscription {
        topic: String,
        #[arg(short, long)]
        subscription: String,
        /// `latest`, `earliest` or `LEDGER:ENTRY`.
        #[arg(long, default_value = "latest")]
        message_id: String,
    },
    /// Deletes a subscription.
    Unsubscribe {
        topic: String,
        #[arg(short, long)]
        subscription: String,
        #[arg(long)]
        force: bool,
    },
    /// Skips the next N messages of a subscription.
    Skip {
        topic: String,
        #[arg(short, long)]
        subscription: String,
        #[arg(short = 'n', long)]
        count: u64,
    },
    /// Skips a subscription's whole backlog.
    ClearBacklog {
        topic: String,
        #[arg(short, long)]
        subscription: String,
    },
    /// Moves a subscription to a publish time or a message id.
    ResetCursor {
        topic: String,
        #[arg(short, long)]
        subscription: String,
        /// Milliseconds since the epoch.
        #[arg(
            long,
            conflicts_with = "message_id",
            required_unless_present = "message_id"
        )]
        time: Option<u64>,
        /// `earliest`, `latest` or `LEDGER:ENTRY`.
        #[arg(long)]
        message_id: Option<String>,
    },
    /// Acknowledges a subscription's messages older than N seconds.
    ExpireMessages {
        topic: String,
        #[arg(short, long)]
        subscription: String,
        #[arg(long)]
        expire_time: u64,
    },
    /// The last stored message id.
    LastMessageId { topic: String },
    /// Closes the topic on its broker; clients reconnect.
    Unload { topic: String },
    /// Terminates the topic: no more messages, ever; prints the last message id.
    Terminate {
        topic: String,
        /// A partitioned topic: terminates every partition.
        #[arg(long)]
        partitioned: bool,
    },
    /// Creates a partitioned topic.
    CreatePartitionedTopic {
        topic: String,
        #[arg(short, long)]
        partitions: u32,
    },
    /// Grows a partitioned topic.
    UpdatePartitionedTopic {
        topic: String,
        #[arg(short, long)]
        partitions: u32,
    },
    /// The partition count.
    GetPartitionedTopicMetadata { topic: String },
    /// Deletes a partitioned topic and its partitions.
    DeletePartitionedTopic {
        topic: String,
        #[arg(long)]
        force: bool,
    },
    /// Stats summed over the partitions.
    PartitionedStats { topic: String },
    /// The next messages of a subscription, without acknowledging them.
    PeekMessages {
        topic: String,
        #[arg(short, long)]
        subscription: String,
        #[arg(short = 'n', long, default_value_t = 1)]
        count: u64,
    },
    /// One stored message, counted from the oldest or the newest.
    ExamineMessage {
        topic: String,
        /// `earliest` or `latest`.
        #[arg(long, default_value = "latest")]
        initial_position: String,
        /// 1 is the oldest (or newest) message.
        #[arg(long, default_value_t = 1)]
        message_position: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum BrokersVerb {
    /// Active brokers of a cluster.
    List {
        #[arg(default_value = "standalone")]
        cluster: String,
    },
    /// The broker leading the load manager.
    LeaderBroker,
    /// A write and read back through the broker's storage.
    Health,
}

#[derive(Debug, Subcommand)]
pub enum SchemasVerb {
    /// The latest schema of a topic.
    Get { topic: String },
    /// Registers a schema from a JSON file (`{"type": …, "schema": …}`).
    Upload {
        topic: String,
        #[arg(long)]
        filename: std::path::PathBuf,
    },
    /// Deletes a topic's schemas.
    Delete { topic: String },
}
