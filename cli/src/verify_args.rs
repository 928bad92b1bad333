//! Arguments of `magnetar verify`: where the cluster is and how hard to
//! drive it. Every option has a default, so that `magnetar verify` alone
//! checks a local standalone.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The cluster's service URL (a broker or a proxy).
    #[arg(long, default_value = "pulsar://127.0.0.1:6650")]
    pub url: String,
    /// The admin URL, used to create the namespace and set its
    /// deduplication.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub admin_url: String,
    /// The namespace of the run's topic; created when missing.
    #[arg(long, default_value = "public/verify")]
    pub namespace: String,
    /// The topic's name in the namespace (default: `verify-<run id>`, new
    /// for each run).
    #[arg(long)]
    pub topic: Option<String>,
    /// How long the producers send, in seconds.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Producers, each with its own name and sequence numbers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub producers: u32,
    /// Consumers on each Failover, Shared and Key_Shared subscription (the
    /// Exclusive subscription has one).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub consumers: u32,
    /// Messages per second over all producers.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub rate: u64,
    /// Payload size in bytes (at least the 28-byte stamp).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(28..=1_048_576))]
    pub size: u32,
    /// Distinct keys per producer (Key_Shared orders per key).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub keys: u64,
    /// Turn deduplication on for the namespace (`false` turns it off), and
    /// count a message stored twice as a violation.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub dedup: bool,
    /// How long a send may wait for its receipt, in seconds; a send that
    /// times out counts as not acknowledged.
    #[arg(long, default_value_t = 30)]
    pub send_timeout_secs: u64,
    /// After the producers stop, how long the consumers may take to receive
    /// every acknowledged message, in seconds.
    #[arg(long, default_value_t = 120)]
    pub drain_timeout_secs: u64,
    /// Write the verdict and the counts as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Hide the progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub quiet: bool,
    /// Credentials and TLS trust for both the service and the admin URL.
    #[command(flatten)]
    pub auth: crate::client_auth_args::ClientAuthArgs,
}
