//! The lifecycle of one open managed ledger: open, fenced (another owner
//! took it over) or closed, and the shutdown signal of its background tasks.
//! Every other piece of the managed ledger asks here before it acts, and
//! reports here when it finds itself fenced. It also carries the latest
//! [`Writability`] the writer task published, and the terminated position
//! once the managed ledger is terminated (set by the writer task, or at
//! open from the stored list; never cleared).

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::error::ManagedLedgerError;
use super::position::Position;
use super::writability::Writability;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Open,
    Fenced,
    Closed,
}

pub(crate) struct MlStatus {
    name: String,
    status: Mutex<Status>,
    shutdown: CancellationToken,
    writability: Mutex<Writability>,
    terminated: Mutex<Option<Position>>,
}

impl MlStatus {
    pub fn new(name: &str) -> Self {
        MlStatus {
            name: name.to_string(),
            status: Mutex::new(Status::Open),
            shutdown: CancellationToken::new(),
            writability: Mutex::new(Writability::default()),
            terminated: Mutex::new(None),
        }
    }

    /// The last entry for good, once terminated.
    pub fn terminated(&self) -> Option<Position> {
        *self.terminated.lock()
    }

    /// Records the termination (after it was stored, or as loaded).
    pub fn set_terminated(&self, position: Position) {
        self.terminated.lock().get_or_insert(position);
    }

    pub fn terminated_error(&self) -> ManagedLedgerError {
        ManagedLedgerError::Terminated {
            name: self.name.clone(),
        }
    }

    /// The write path as the writer task last published it.
    pub fn writability(&self) -> Writability {
        self.writability.lock().clone()
    }

    /// Publishes the write path's state (the writer task's monitor only).
    pub fn set_writability(&self, writability: Writability) {
        *self.writability.lock() = writability;
    }

    /// The managed ledger's name, for errors and logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn get(&self) -> Status {
        *self.status.lock()
    }

    /// Why the managed ledger no longer accepts work; `None` while open.
    pub fn error(&self) -> Option<ManagedLedgerError> {
        match self.get() {
            Status::Open => None,
            Status::Fenced => Some(self.fenced()),
            Status::Closed => Some(self.closed()),
        }
    }

    /// The error for work that found the managed ledger stopped: fenced if
    /// it was fenced, else closed.
    pub fn stopped(&self) -> ManagedLedgerError {
        self.error().unwrap_or_else(|| self.closed())
    }

    pub fn fenced(&self) -> ManagedLedgerError {
        ManagedLedgerError::Fenced {
            name: self.name.clone(),
        }
    }

    fn closed(&self) -> ManagedLedgerError {
        ManagedLedgerError::Closed {
            name: self.name.clone(),
        }
    }

    /// Another owner took over: every later operation fails with `Fenced`.
    pub fn set_fenced(&self) {
        let mut status = self.status.lock();
        if *status == Status::Open {
            tracing::warn!(managed_ledger = %self.name, "managed ledger fenced by another owner");
            *status = Status::Fenced;
        }
    }

    /// Stops the background tasks, then marks an open managed ledger closed
    /// (a fenced one stays fenced).
    pub fn close(&self) {
        self.shutdown.cancel();
        let mut status = self.status.lock();
        if *status == Status::Open {
            *status = Status::Closed;
        }
    }

    /// Resolves once [`MlStatus::close`] was called.
    pub async fn shut_down(&self) {
        self.shutdown.cancelled().await
    }
}
