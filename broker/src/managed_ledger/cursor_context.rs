//! What the cursors of one managed ledger share with it: the confirmed log
//! their offsets are computed against, the entry reader, the lifecycle (a
//! version conflict on a stored cursor fences the managed ledger), the
//! metadata store they persist to, and the trim request an ack raises.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use magnetar_metadata::{Expected, MetadataStore};

use super::config::Retention;
use super::confirmed::ConfirmedLog;
use super::error::ManagedLedgerError;
use super::read::EntryReader;
use super::status::MlStatus;
use super::stored::cursor_key;

/// Set when a mark-delete position moved or a cursor went away; the
/// maintenance task takes it and trims consumed ledgers.
pub(crate) struct TrimRequest {
    requested: AtomicBool,
    /// How long and how much consumed data is kept.
    retention: parking_lot::Mutex<Retention>,
}

impl TrimRequest {
    pub fn new(requested: bool) -> Self {
        TrimRequest {
            requested: AtomicBool::new(requested),
            retention: parking_lot::Mutex::new(Retention::default()),
        }
    }

    pub fn request(&self) {
        self.requested.store(true, Ordering::Release);
    }

    /// Whether a trim was requested since the last call.
    pub fn take(&self) -> bool {
        self.requested.swap(false, Ordering::AcqRel)
    }

    pub fn retention(&self) -> Retention {
        *self.retention.lock()
    }

    /// Changes the retention; a trim follows at the next maintenance pass.
    pub fn set_retention(&self, retention: Retention) {
        *self.retention.lock() = retention;
        self.request();
    }
}

pub(crate) struct CursorContext {
    log: Arc<ConfirmedLog>,
    reads: Arc<EntryReader>,
    status: Arc<MlStatus>,
    metadata: Arc<dyn MetadataStore>,
    trim: Arc<TrimRequest>,
    max_persisted_ack_ranges: usize,
}

impl CursorContext {
    pub fn new(
        log: Arc<ConfirmedLog>,
        reads: Arc<EntryReader>,
        status: Arc<MlStatus>,
        metadata: Arc<dyn MetadataStore>,
        trim: Arc<TrimRequest>,
        max_persisted_ack_ranges: usize,
    ) -> Self {
        CursorContext {
            log,
            reads,
            status,
            metadata,
            trim,
            max_persisted_ack_ranges,
        }
    }

    pub fn trim(&self) -> &TrimRequest {
        &self.trim
    }

    pub fn log(&self) -> &ConfirmedLog {
        &self.log
    }

    pub fn reads(&self) -> &EntryReader {
        &self.reads
    }

    pub fn status(&self) -> &MlStatus {
        &self.status
    }

    pub fn metadata(&self) -> &dyn MetadataStore {
        self.metadata.as_ref()
    }

    pub fn max_persisted_ack_ranges(&self) -> usize {
        self.max_persisted_ack_ranges
    }

    pub fn request_trim(&self) {
        self.trim.request();
    }

    /// Where the cursor `cursor_name` of this managed ledger is stored.
    pub fn cursor_key(&self, cursor_name: &str) -> String {
        cursor_key(self.status.name(), cursor_name)
    }

    /// Deletes the stored cursor `cursor_name`; whether it existed.
    pub async fn delete_stored(&self, cursor_name: &str) -> Result<bool, ManagedLedgerError> {
        let key = self.cursor_key(cursor_name);
        match self.metadata.get(&key).await? {
            Some(_) => {
                self.metadata.delete(&key, Expected::Any).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
