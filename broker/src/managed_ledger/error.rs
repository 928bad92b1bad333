//! Typed errors of managed ledgers and cursors.

use magnetar_bookie::LedgerError;
use magnetar_metadata::MetadataError;
use thiserror::Error;

use super::position::Position;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ManagedLedgerError {
    /// Another instance took over this managed ledger (ledger-list CAS
    /// conflict or a fenced ledger). The topic must be closed.
    #[error("managed ledger {name} is fenced: another owner took it over")]
    Fenced { name: String },
    #[error("managed ledger {name} is closed")]
    Closed { name: String },
    /// An add failed on the bookies; the managed ledger replaces the ledger
    /// and later adds may succeed. The failed add was not persisted.
    #[error("add to managed ledger {name} failed: {source}")]
    WriteFailed { name: String, source: LedgerError },
    /// No ledger could be written for the add's whole wait (too few
    /// bookies, usually). The add was not persisted; retrying later may work.
    #[error("managed ledger {name} not writable {reason}")]
    NotWritable { name: String, reason: String },
    /// The managed ledger is terminated: it takes no more entries, ever.
    #[error("managed ledger {name} is terminated: it takes no more entries")]
    Terminated { name: String },
    #[error("entry {0} does not exist (not written yet or trimmed)")]
    NoSuchEntry(Position),
    #[error("managed ledger {0} does not exist")]
    NoSuchManagedLedger(String),
    #[error("cursor {0} does not exist")]
    NoSuchCursor(String),
    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("corrupt metadata under {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("metadata: {0}")]
    Metadata(#[from] MetadataError),
}
