//! Typed errors of the bookie server and their mapping to wire status codes.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use magnetar_metadata::MetadataError;
use magnetar_proto::bookie::StatusCode;
use thiserror::Error;

use super::record::RecordError;

/// An add waited `waited` for room and a flush did not make any.
#[derive(Debug, Clone, Copy, Error)]
#[error("write cache full for {waited:?}: checkpoints fall behind the adds")]
pub struct WriteCacheFull {
    pub waited: Duration,
}

/// Why an add, read or fence was refused or failed. Every variant maps to one
/// [`StatusCode`] the client branches on.
#[derive(Debug, Error)]
pub enum BookieError {
    #[error("ledger {0} is not stored on this bookie")]
    NoLedger(u64),
    #[error("entry {entry_id} of ledger {ledger_id} is not stored on this bookie")]
    NoEntry { ledger_id: u64, entry_id: i64 },
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("entry of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("master key mismatch on ledger {0}")]
    Unauthorized(u64),
    #[error("ledger {0} is fenced")]
    Fenced(u64),
    #[error("bookie is read-only")]
    ReadOnly,
    #[error(transparent)]
    WriteCacheFull(#[from] WriteCacheFull),
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    #[error("journal error: {0}")]
    Journal(#[from] JournalError),
    #[error("internal task failed: {0}")]
    TaskFailed(String),
}

impl BookieError {
    /// The wire status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            BookieError::NoLedger(_) => StatusCode::StatusNoLedger,
            BookieError::NoEntry { .. } => StatusCode::StatusNoEntry,
            BookieError::BadRequest(_) => StatusCode::StatusBadRequest,
            BookieError::TooLarge { .. } => StatusCode::StatusTooLarge,
            BookieError::Unauthorized(_) => StatusCode::StatusUnauthorized,
            BookieError::Fenced(_) => StatusCode::StatusFenced,
            BookieError::WriteCacheFull(_) => StatusCode::StatusTooManyRequests,
            BookieError::ReadOnly | BookieError::Journal(JournalError::NoSpace) => {
                StatusCode::StatusReadOnly
            }
            BookieError::Storage(_) | BookieError::Journal(_) | BookieError::TaskFailed(_) => {
                StatusCode::StatusIoError
            }
        }
    }
}

/// Failures of the journal. Cloneable: one failed group fails every waiter,
/// so the `io::Error` is shared.
#[derive(Debug, Error, Clone)]
pub enum JournalError {
    #[error("journal device is full")]
    NoSpace,
    #[error("journal i/o failed: {0}")]
    Io(#[source] Arc<io::Error>),
    #[error("journal has failed earlier and accepts no more writes")]
    Failed,
    #[error("journal is shut down")]
    ShutDown,
}

impl JournalError {
    pub(crate) fn from_io(err: io::Error) -> Self {
        if err.raw_os_error() == Some(ENOSPC) || err.kind() == io::ErrorKind::StorageFull {
            JournalError::NoSpace
        } else {
            JournalError::Io(Arc::new(err))
        }
    }
}

/// `ENOSPC` on Linux.
const ENOSPC: i32 = 28;

/// Failures of ledger storage (entry logs, index, checkpoint files).
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("index error: {0}")]
    Index(#[from] rocksdb::Error),
    #[error("corrupt data in {path} at offset {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("unreadable record in {path} at offset {offset}: {source}")]
    BadRecord {
        path: PathBuf,
        offset: u64,
        source: RecordError,
    },
    #[error("entry log {0} does not exist")]
    MissingEntryLog(u64),
}

impl StorageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Why a bookie refused to start or stopped.
#[derive(Debug, Error)]
pub enum StartError {
    #[error("cookie mismatch: {0}")]
    CookieMismatch(String),
    #[error("metadata store error: {0}")]
    Metadata(#[from] MetadataError),
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: io::Error,
    },
    #[error("gRPC server failed: {0}")]
    Transport(String),
    #[error("invalid configuration: {0}")]
    Config(String),
}
