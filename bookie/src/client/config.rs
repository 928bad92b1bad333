//! Tunables of the ledger client.

use std::time::Duration;

use magnetar_proto::grpc_tls::GrpcClientTls;

/// Largest payload accepted by `append` (bookies refuse larger bodies with TOO_LARGE).
pub const DEFAULT_MAX_ENTRY_SIZE: usize = 5 * 1024 * 1024;

/// Configuration of a [`crate::client::LedgerClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// A bookie that has not answered an add within this time is treated as
    /// failed and replaced by an ensemble change.
    pub add_timeout: Duration,
    /// Time after which a read is also sent to the next replica of the write set.
    pub speculative_read_timeout: Duration,
    /// Time after which a read, fence or LAC request counts as failed.
    pub read_timeout: Duration,
    /// Time allowed to establish a connection to a bookie.
    pub connect_timeout: Duration,
    /// Interval of HTTP/2 pings on each bookie connection, busy or idle. A
    /// connection whose ping goes unanswered for `keepalive_timeout` is
    /// closed and reopened by the next request, so a connection that died
    /// without a word (a network partition, a peer whose address changed)
    /// costs seconds instead of the kernel's minutes of retransmission.
    pub keepalive_interval: Duration,
    /// How long a ping may go unanswered before its connection is closed.
    pub keepalive_timeout: Duration,
    /// Largest payload accepted by `append`.
    pub max_entry_size: usize,
    /// Attempts of a metadata compare-and-swap loop before giving up.
    pub metadata_cas_attempts: u32,
    /// When a bookie fails and no writable bookie outside the ensemble can
    /// replace it, go on writing to the rest of each write set as long as
    /// every entry still reaches `Qa` bookies, and record the hole in the
    /// ledger metadata. Off: the ledger fails instead (turn it off while
    /// binaries that predate holes still run auto-recovery).
    pub delayed_ensemble_change: bool,
    /// How long a bookie that failed an add is left out of new ensembles,
    /// replacements and fills, unless it registers again sooner.
    pub bookie_quarantine: Duration,
    /// First wait before a writer retries filling a hole of its current
    /// ensemble; it doubles up to ten times this.
    pub hole_fill_interval: Duration,
    /// TLS towards the bookies (`https://`), or plain text when `None`.
    /// Every bookie of the cluster must then serve TLS.
    pub tls: Option<GrpcClientTls>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            add_timeout: Duration::from_secs(30),
            speculative_read_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(5),
            keepalive_timeout: Duration::from_secs(10),
            max_entry_size: DEFAULT_MAX_ENTRY_SIZE,
            metadata_cas_attempts: 64,
            delayed_ensemble_change: true,
            bookie_quarantine: Duration::from_secs(60),
            hole_fill_interval: Duration::from_secs(1),
            tls: None,
        }
    }
}
