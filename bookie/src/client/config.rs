//! Tunables of the ledger client.

use std::time::Duration;

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
    /// Largest payload accepted by `append`.
    pub max_entry_size: usize,
    /// Attempts of a metadata compare-and-swap loop before giving up.
    pub metadata_cas_attempts: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            add_timeout: Duration::from_secs(30),
            speculative_read_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_entry_size: DEFAULT_MAX_ENTRY_SIZE,
            metadata_cas_attempts: 64,
        }
    }
}
