//! Why a compaction, or a read of the compacted view, failed.

use magnetar_bookie::LedgerError;
use magnetar_proto::pulsar::FrameError;
use thiserror::Error;

use crate::managed_ledger::{ManagedLedgerError, Position};

#[derive(Debug, Error)]
pub enum CompactionError {
    /// Pulsar's answer (409 over the admin API).
    #[error("Compaction already in progress")]
    AlreadyRunning,
    #[error("entry {position} is not a message: {source}")]
    Malformed {
        position: Position,
        #[source]
        source: FrameError,
    },
    #[error("batch at {position} is malformed: {reason}")]
    MalformedBatch {
        position: Position,
        reason: &'static str,
    },
    #[error("compacted ledger {ledger_id}: entry {entry_id} has no compaction header")]
    BadCompactedEntry { ledger_id: u64, entry_id: i64 },
    #[error("the compacted-ledger property is unreadable: {0}")]
    BadProperty(String),
    #[error(transparent)]
    ManagedLedger(#[from] ManagedLedgerError),
    #[error("compacted ledger: {0}")]
    Ledger(#[from] LedgerError),
}
