//! The compacted view of a topic as readers see it: the current compacted
//! ledger (if any) and the horizon it covers. Reads return entries under
//! their original positions; a reader positions itself by binary search
//! over the ledger's entries (their headers hold the original positions,
//! in order).

use std::sync::Arc;

use bytes::Bytes;
use magnetar_bookie::{LedgerReader, LedgerStore, OpenMode};
use parking_lot::RwLock;
use tokio::sync::OnceCell;

use super::error::CompactionError;
use super::stored::{decode_entry, CompactedLedgerInfo, COMPACTED_LEDGER_PROPERTY};
use crate::managed_ledger::{Entry, ManagedLedger, Position};

/// One compacted ledger, opened for reading on first use.
pub struct CompactedLedger {
    info: CompactedLedgerInfo,
    store: Arc<dyn LedgerStore>,
    password: Bytes,
    reader: OnceCell<Arc<dyn LedgerReader>>,
}

impl CompactedLedger {
    pub fn new(info: CompactedLedgerInfo, store: Arc<dyn LedgerStore>, password: Bytes) -> Self {
        CompactedLedger {
            info,
            store,
            password,
            reader: OnceCell::new(),
        }
    }

    pub fn info(&self) -> CompactedLedgerInfo {
        self.info
    }

    async fn reader(&self) -> Result<&Arc<dyn LedgerReader>, CompactionError> {
        Ok(self
            .reader
            .get_or_try_init(|| {
                self.store.open(
                    self.info.ledger_id,
                    self.password.clone(),
                    OpenMode::NoRecovery,
                )
            })
            .await?)
    }

    /// Entries `first..=last` of the ledger, under their original
    /// positions.
    pub async fn read_range(&self, first: i64, last: i64) -> Result<Vec<Entry>, CompactionError> {
        let last = last.min(self.info.entries - 1);
        if first > last {
            return Ok(Vec::new());
        }
        let raw = self.reader().await?.read(first, last).await?;
        raw.iter()
            .zip(first..)
            .map(|(data, entry_id)| {
                decode_entry(data)
                    .map(|(position, data)| Entry { position, data })
                    .ok_or(CompactionError::BadCompactedEntry {
                        ledger_id: self.info.ledger_id,
                        entry_id,
                    })
            })
            .collect()
    }

    async fn original_at(&self, entry_id: i64) -> Result<Position, CompactionError> {
        let mut entries = self.read_range(entry_id, entry_id).await?;
        entries
            .pop()
            .map(|e| e.position)
            .ok_or(CompactionError::BadCompactedEntry {
                ledger_id: self.info.ledger_id,
                entry_id,
            })
    }

    /// The id of the first entry whose original position is at or after
    /// `from` (`entries` when there is none).
    pub async fn first_at_or_after(&self, from: Position) -> Result<i64, CompactionError> {
        let (mut low, mut high) = (0, self.info.entries);
        while low < high {
            let middle = low + (high - low) / 2;
            if self.original_at(middle).await? < from {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        Ok(low)
    }

    /// Up to `max` entries whose original positions are at or after
    /// `from`, in order.
    pub async fn read_from(
        &self,
        from: Position,
        max: usize,
    ) -> Result<Vec<Entry>, CompactionError> {
        let first = self.first_at_or_after(from).await?;
        self.read_range(first, first + max.max(1) as i64 - 1).await
    }
}

/// A topic's current compacted ledger, swapped whole by each compaction.
#[derive(Default)]
pub struct CompactedView {
    current: RwLock<Option<Arc<CompactedLedger>>>,
}

impl CompactedView {
    /// The view the managed ledger's property names (empty without one,
    /// or when it is unreadable: the next compaction replaces it).
    pub async fn load(
        ledger: &ManagedLedger,
        store: Arc<dyn LedgerStore>,
        password: Bytes,
    ) -> Self {
        let view = CompactedView::default();
        if let Some(value) = ledger.properties().await.get(COMPACTED_LEDGER_PROPERTY) {
            match CompactedLedgerInfo::decode(value) {
                Ok(info) => {
                    view.install(Some(Arc::new(CompactedLedger::new(info, store, password))))
                }
                Err(error) => {
                    tracing::warn!(managed_ledger = %ledger.name(), %error, "compacted view ignored");
                }
            }
        }
        view
    }

    pub fn current(&self) -> Option<Arc<CompactedLedger>> {
        self.current.read().clone()
    }

    /// The last topic position the compacted ledger covers.
    pub fn horizon(&self) -> Option<Position> {
        self.current.read().as_ref().map(|c| c.info.horizon)
    }

    pub(super) fn install(&self, ledger: Option<Arc<CompactedLedger>>) {
        *self.current.write() = ledger;
    }
}
