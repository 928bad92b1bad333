//! The errors of the ledger contract: [`LedgerError`] and the typed parts it
//! carries, down to why one bookie gave no usable answer ([`ReplicaFailure`],
//! [`TransportError`]).
//!
//! They live beside the contract, not in the client, because the contract's
//! error speaks of them: a read that too few bookies answered lists each
//! bookie's failure.

use std::fmt;

use magnetar_proto::bookie::StatusCode;
use thiserror::Error;

use super::{EntryId, LedgerId};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LedgerError {
    #[error("ledger {0} does not exist")]
    NoSuchLedger(LedgerId),
    #[error("entry {entry_id} of ledger {ledger_id} does not exist")]
    NoSuchEntry {
        ledger_id: LedgerId,
        entry_id: EntryId,
    },
    #[error("ledger {0} is fenced: another writer recovered it")]
    Fenced(LedgerId),
    #[error("ledger {0} is closed")]
    Closed(LedgerId),
    #[error("wrong password for ledger {0}")]
    Unauthorized(LedgerId),
    #[error(transparent)]
    InvalidQuorum(#[from] InvalidQuorum),
    #[error("not enough bookies: need {needed}, {available} available")]
    NotEnoughBookies { needed: usize, available: usize },
    #[error("entry of {size} bytes exceeds the {limit}-byte limit")]
    EntryTooLarge { size: usize, limit: usize },
    #[error("read of entry {entry_id} beyond last add confirmed {lac}")]
    BeyondLac { entry_id: EntryId, lac: EntryId },
    #[error("digest mismatch on entry {entry_id} of ledger {ledger_id}")]
    DigestMismatch {
        ledger_id: LedgerId,
        entry_id: EntryId,
    },
    /// A read got too few usable answers to decide; every bookie that
    /// failed is listed.
    #[error("bookies unavailable: {read} of ledger {ledger_id} got too few answers: {}", list(.failures))]
    ReadUnavailable {
        ledger_id: LedgerId,
        read: ReadTarget,
        failures: Vec<ReplicaFailure>,
    },
    /// A bookie refused an add as malformed or too large: re-sending it
    /// elsewhere would not help, so the writer fails.
    #[error(
        "bookie {bookie} refused entry {entry_id} of ledger {ledger_id}: {status:?} {message}"
    )]
    AddRejected {
        ledger_id: LedgerId,
        entry_id: EntryId,
        bookie: String,
        status: StatusCode,
        message: String,
    },
    /// Recovery found the ledger in a state it cannot continue from.
    #[error("recovery of ledger {ledger_id} stopped: {fault}")]
    RecoveryFailed {
        ledger_id: LedgerId,
        fault: RecoveryFault,
    },
    #[error("metadata: {0}")]
    Metadata(#[from] magnetar_metadata::MetadataError),
    #[error("ledger client is shutting down")]
    ShuttingDown,
}

/// Quorum sizes that break `E >= Qw >= Qa >= 1`.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[error("invalid quorum: ensemble {ensemble}, write {write}, ack {ack} (need E >= Qw >= Qa >= 1)")]
pub struct InvalidQuorum {
    pub ensemble: u32,
    pub write: u32,
    pub ack: u32,
}

/// Which read of [`LedgerError::ReadUnavailable`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadTarget {
    /// An ordinary read of one entry, replica after replica.
    Entry(EntryId),
    /// Recovery asking the whole write set of one entry.
    RecoveryEntry(EntryId),
    /// The last-entry read of every bookie of the last ensemble (LAC
    /// discovery, fencing).
    LastEntries,
}

impl fmt::Display for ReadTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadTarget::Entry(entry_id) => write!(f, "read of entry {entry_id}"),
            ReadTarget::RecoveryEntry(entry_id) => write!(f, "recovery read of entry {entry_id}"),
            ReadTarget::LastEntries => f.write_str("last-entry read"),
        }
    }
}

/// Why recovery of a ledger could not finish.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryFault {
    #[error("read entry {entry_id} out of order after {last_pushed}")]
    EntryOutOfOrder {
        entry_id: EntryId,
        last_pushed: EntryId,
    },
    #[error("the ledger went back to OPEN during recovery")]
    Reopened,
}

/// Why one bookie gave no usable answer to a read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ReplicaFailure {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("bookie {bookie} answered {status:?} {message}")]
    Status {
        bookie: String,
        status: StatusCode,
        message: String,
    },
    #[error("bookie {bookie} returned an entry that failed digest verification")]
    DigestMismatch { bookie: String },
    #[error("bookie {bookie} refused the password")]
    Unauthorized { bookie: String },
}

fn list(failures: &[ReplicaFailure]) -> String {
    let texts: Vec<String> = failures.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

/// A request that never reached a bookie, or whose answer never came back.
/// Always a bookie failure from the ledger's point of view.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TransportError {
    #[error("cannot connect to bookie {bookie}: {reason}")]
    Connect { bookie: String, reason: String },
    #[error("bookie {bookie} failed the request: {code:?}: {message}")]
    Rpc {
        bookie: String,
        code: tonic::Code,
        message: String,
    },
    #[error("add stream to bookie {bookie} broke: {cause}")]
    StreamBroken { bookie: String, cause: StreamBreak },
    #[error("bookie {bookie} did not answer in time")]
    Timeout { bookie: String },
}

impl TransportError {
    /// The bookie the request was for.
    pub fn bookie(&self) -> &str {
        match self {
            TransportError::Connect { bookie, .. }
            | TransportError::Rpc { bookie, .. }
            | TransportError::StreamBroken { bookie, .. }
            | TransportError::Timeout { bookie } => bookie,
        }
    }

    /// The gRPC status code, when the failure came as a gRPC status.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            TransportError::Rpc { code, .. } => Some(*code),
            TransportError::StreamBroken {
                cause: StreamBreak::Status { code, .. },
                ..
            } => Some(*code),
            _ => None,
        }
    }
}

/// Why an add stream to a bookie ended.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StreamBreak {
    #[error("add queue full")]
    QueueFull,
    #[error("connection task gone")]
    ConnectionGone,
    #[error("connection task dropped the request")]
    RequestDropped,
    #[error("request stream closed")]
    RequestStreamClosed,
    #[error("bookie closed the add stream")]
    ClosedByBookie,
    #[error("{code:?}: {message}")]
    Status { code: tonic::Code, message: String },
}

impl StreamBreak {
    /// The cause of a stream that ended with a gRPC status.
    pub fn from_status(status: &tonic::Status) -> Self {
        StreamBreak::Status {
            code: status.code(),
            message: status.message().to_string(),
        }
    }
}
