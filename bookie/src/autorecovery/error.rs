//! [`AutoRecoveryError`]: why an audit or a re-replication attempt failed.
//! Every one of them is retried later (the lock is released, the marker
//! stays); none stops the auditor or the worker.

use magnetar_metadata::MetadataError;
use magnetar_proto::bookie::StatusCode;
use thiserror::Error;

use crate::client::transport::TransportError;
use crate::ledger::{EntryId, LedgerError, LedgerId};

#[derive(Debug, Error)]
pub enum AutoRecoveryError {
    #[error("metadata: {0}")]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("corrupt value under {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("password of ledger {0} is not valid hex")]
    BadPassword(LedgerId),
    #[error("entry {entry_id} of ledger {ledger_id} has no readable surviving replica: {source}")]
    EntryUnreadable {
        ledger_id: LedgerId,
        entry_id: EntryId,
        source: LedgerError,
    },
    #[error("copying entry {entry_id} of ledger {ledger_id} to bookie {bookie} failed: {source}")]
    CopyFailed {
        ledger_id: LedgerId,
        entry_id: EntryId,
        bookie: String,
        source: CopyFailure,
    },
    #[error("metadata of ledger {0} changed during re-replication")]
    MetadataChanged(LedgerId),
}

/// Why a bookie did not store a copied entry.
#[derive(Debug, Error)]
pub enum CopyFailure {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("bookie answered {status:?}: {message}")]
    Refused { status: StatusCode, message: String },
}
