//! State shared by a managed ledger's public handle, its cursors and its
//! background tasks (the writer task and the maintenance task).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use magnetar_bookie::{LedgerReader, LedgerStore};
use magnetar_metadata::{Expected, MetadataError, MetadataStore, PutOptions, Version};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::cursor::ManagedCursor;
use super::entry_cache::EntryCache;
use super::layout::LedgerLayout;
use super::stored::{encode, ledger_list_key, StoredLedgerList};
use super::writer::WriterCommand;
use super::{Entry, ManagedLedgerConfig, ManagedLedgerError, Position};

/// Most recent confirmed entries kept regardless of the cache budget: a
/// bookie learns the LAC only from later adds, so the newest entries of the
/// current ledger may not be readable from the bookies yet.
pub(crate) const TAIL_ENTRIES: usize = 64;

/// Open read handles kept per managed ledger.
const MAX_READ_HANDLES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Open,
    Fenced,
    Closed,
}

/// The ledger list as last written, with the version it was written at.
pub(crate) struct ListState {
    pub list: StoredLedgerList,
    /// `None` until the list exists in the store.
    pub version: Option<Version>,
}

pub(crate) struct MlInner {
    pub name: String,
    pub config: ManagedLedgerConfig,
    pub metadata: Arc<dyn MetadataStore>,
    pub store: Arc<dyn LedgerStore>,
    pub cache: Arc<EntryCache>,
    pub layout: RwLock<LedgerLayout>,
    /// Serializes ledger-list updates (rollover, trimming, close).
    pub list: tokio::sync::Mutex<ListState>,
    pub cursors: Mutex<BTreeMap<String, Arc<ManagedCursor>>>,
    pub lac_tx: watch::Sender<Option<Position>>,
    pub status: Mutex<Status>,
    pub commands: mpsc::UnboundedSender<WriterCommand>,
    pub shutdown: CancellationToken,
    pub trim_requested: AtomicBool,
    pub(crate) readers: Mutex<HashMap<u64, Arc<dyn LedgerReader>>>,
    pub(crate) tail: Mutex<VecDeque<Entry>>,
}

impl MlInner {
    pub fn status(&self) -> Status {
        *self.status.lock()
    }

    pub fn status_error(&self) -> Option<ManagedLedgerError> {
        match self.status() {
            Status::Open => None,
            Status::Fenced => Some(self.fenced()),
            Status::Closed => Some(ManagedLedgerError::Closed {
                name: self.name.clone(),
            }),
        }
    }

    pub fn fenced(&self) -> ManagedLedgerError {
        ManagedLedgerError::Fenced {
            name: self.name.clone(),
        }
    }

    pub fn set_fenced(&self) {
        let mut status = self.status.lock();
        if *status == Status::Open {
            tracing::warn!(managed_ledger = %self.name, "managed ledger fenced by another owner");
            *status = Status::Fenced;
        }
    }

    /// CAS-writes `new` as the ledger list. A version conflict means another
    /// instance owns the managed ledger now: this one becomes fenced.
    pub async fn cas_list(
        &self,
        state: &mut ListState,
        new: StoredLedgerList,
    ) -> Result<(), ManagedLedgerError> {
        let expected = state.version.map_or(Expected::Absent, Expected::Version);
        let key = ledger_list_key(&self.name);
        match self
            .metadata
            .put(&key, encode(&new), PutOptions::expect(expected))
            .await
        {
            Ok(version) => {
                state.version = Some(version);
                state.list = new;
                Ok(())
            }
            Err(MetadataError::BadVersion { .. }) => {
                self.set_fenced();
                Err(self.fenced())
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn last_confirmed(&self) -> Option<Position> {
        let layout = self.layout.read();
        let lac = layout.last_confirmed_offset();
        (lac >= layout.first_offset()).then(|| layout.position_of(lac))
    }

    pub fn request_trim(&self) {
        self.trim_requested.store(true, Ordering::Release);
    }

    pub fn cursor_snapshot(&self) -> Vec<Arc<ManagedCursor>> {
        self.cursors.lock().values().cloned().collect()
    }

    pub fn remember_tail(&self, entry: Entry) {
        let mut tail = self.tail.lock();
        if tail.len() == TAIL_ENTRIES {
            tail.pop_front();
        }
        tail.push_back(entry);
    }

    pub fn tail_entry(&self, position: Position) -> Option<Entry> {
        let tail = self.tail.lock();
        let index = tail.binary_search_by_key(&position, |e| e.position).ok()?;
        tail.get(index).cloned()
    }

    pub fn cached_reader(&self, ledger_id: u64) -> Option<Arc<dyn LedgerReader>> {
        self.readers.lock().get(&ledger_id).cloned()
    }

    pub fn keep_reader(&self, reader: Arc<dyn LedgerReader>) {
        let mut readers = self.readers.lock();
        if readers.len() >= MAX_READ_HANDLES {
            // Drop the oldest ledger's handle: reads move forward over time.
            if let Some(oldest) = readers.keys().min().copied() {
                readers.remove(&oldest);
            }
        }
        readers.insert(reader.id(), reader);
    }

    pub fn forget_ledger(&self, ledger_id: u64) {
        self.readers.lock().remove(&ledger_id);
        self.cache.evict_ledger(ledger_id);
    }
}
