//! Tuning of managed ledgers. Defaults follow the Pulsar broker defaults
//! (`managedLedger*` settings in broker.conf).

use std::time::Duration;

use bytes::Bytes;

/// Where a new cursor starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialPosition {
    /// Before the first retained entry: the cursor sees everything.
    Earliest,
    /// After the last confirmed entry: the cursor sees only new entries.
    Latest,
}

/// How long and how much consumed data a managed ledger keeps: a closed
/// ledger every cursor has consumed is deleted once it is older than
/// `time` or the consumed ledgers kept hold more than `size_bytes`.
/// `None` is no limit; the default keeps nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub time: Option<Duration>,
    pub size_bytes: Option<u64>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            time: Some(Duration::ZERO),
            size_bytes: Some(0),
        }
    }
}

impl Retention {
    /// Whether a consumed ledger closed at `closed_ms` goes, with
    /// `kept_bytes` of consumed ledgers kept before deleting it.
    pub fn releases(&self, now_ms: u64, closed_ms: u64, kept_bytes: u64) -> bool {
        let expired = self
            .time
            .is_some_and(|time| now_ms.saturating_sub(closed_ms) >= time.as_millis() as u64);
        let oversized = self.size_bytes.is_some_and(|limit| kept_bytes > limit);
        expired || oversized
    }
}

/// Configuration shared by every managed ledger of a factory.
#[derive(Debug, Clone)]
pub struct ManagedLedgerConfig {
    /// Bookies per ledger (E).
    pub ensemble_size: u32,
    /// Copies of each entry (Qw).
    pub write_quorum: u32,
    /// Durable copies before an add is confirmed (Qa).
    pub ack_quorum: u32,
    /// Roll over once the current ledger holds this many entries.
    pub max_entries_per_ledger: u64,
    /// Roll over once the current ledger holds this many payload bytes.
    pub max_ledger_size_bytes: u64,
    /// A ledger is never rolled over before it is this old (zero disables the gate).
    pub min_rollover_time: Duration,
    /// Roll over once the current ledger is this old (plus a 0–5 % jitter drawn per ledger).
    pub max_rollover_time: Duration,
    /// Byte budget of the factory-wide entry cache; zero disables caching.
    pub cache_size_bytes: usize,
    /// How often dirty cursors are persisted. This is also the *unpersisted-ack
    /// window*: acknowledgements newer than the last flush can be lost in a
    /// crash, and the affected messages are then redelivered.
    pub cursor_flush_interval: Duration,
    /// Password of the ledgers the managed ledger creates.
    pub password: Bytes,
    /// At most this many individually-acked ranges are persisted per cursor;
    /// the rest live in memory only (redelivered after a crash, never lost).
    pub max_persisted_ack_ranges: usize,
    /// How long an add waits for a writable ledger (while none can be
    /// created) before it fails with `NotWritable`. Keep it below clients'
    /// send timeout (30 s by default), so nothing is written after a client
    /// gave up on it.
    pub unwritable_add_timeout: Duration,
}

impl Default for ManagedLedgerConfig {
    fn default() -> Self {
        ManagedLedgerConfig {
            ensemble_size: 2,
            write_quorum: 2,
            ack_quorum: 2,
            max_entries_per_ledger: 50_000,
            max_ledger_size_bytes: 2048 * 1024 * 1024,
            min_rollover_time: Duration::from_secs(10 * 60),
            max_rollover_time: Duration::from_secs(240 * 60),
            cache_size_bytes: 64 * 1024 * 1024,
            cursor_flush_interval: Duration::from_secs(1),
            password: Bytes::new(),
            max_persisted_ack_ranges: 10_000,
            unwritable_add_timeout: Duration::from_secs(10),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_releases_by_age_or_size_and_none_never() {
        let keep_nothing = Retention::default();
        assert!(keep_nothing.releases(1_000, 1_000, 0));
        let by_time = Retention {
            time: Some(Duration::from_secs(60)),
            size_bytes: None,
        };
        assert!(!by_time.releases(59_999, 0, u64::MAX));
        assert!(by_time.releases(60_000, 0, 0));
        let by_size = Retention {
            time: None,
            size_bytes: Some(100),
        };
        assert!(!by_size.releases(u64::MAX, 0, 100));
        assert!(by_size.releases(0, 0, 101));
        let forever = Retention {
            time: None,
            size_bytes: None,
        };
        assert!(!forever.releases(u64::MAX, 0, u64::MAX));
    }
}
