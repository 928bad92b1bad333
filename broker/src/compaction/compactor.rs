//! One topic's compaction: its status, and the run that replaces the
//! compacted ledger.
//!
//! A run reads, through the durable cursor `__compaction`, what is new
//! since the last run: the previous compacted ledger, then the topic's
//! entries after `max(cursor, previous horizon)` up to the last entry
//! confirmed when the run started (the new horizon). Phase one finds the
//! latest message per key; phase two reads the same entries again and
//! writes the survivors to a new ledger, which is then closed. Only then
//! is the managed-ledger property switched to the new ledger (one CAS),
//! the `__compaction` cursor acknowledged up to the horizon and persisted,
//! and the previous compacted ledger deleted. A crash before the switch
//! leaves the old view (and may leak the new ledger); after it, the new
//! one. Never a partial view.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use futures::future::BoxFuture;
use magnetar_bookie::{EntryId, LedgerError, LedgerOptions, LedgerStore};
use parking_lot::Mutex;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::CompactionError;
use super::select::{retain, Latest};
use super::stored::{encode_entry, CompactedLedgerInfo, COMPACTED_LEDGER_PROPERTY};
use super::view::{CompactedLedger, CompactedView};
use crate::managed_ledger::{Entry, InitialPosition, ManagedLedger, ManagedLedgerConfig, Position};

/// The durable cursor compaction reads the topic through (Pulsar's name).
pub const COMPACTION_CURSOR: &str = "__compaction";

/// Entries read at a time.
const READ_BATCH: usize = 100;
/// Appends to the new ledger in flight at once.
const WRITE_WINDOW: usize = 256;

/// Pulsar's `LongRunningProcessStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompactionStatus {
    /// `NOT_RUN`, `RUNNING`, `SUCCESS` or `ERROR`.
    pub status: &'static str,
    pub last_error: String,
}

/// A topic's compaction and its compacted view.
pub struct TopicCompaction {
    ledger: Arc<ManagedLedger>,
    store: Arc<dyn LedgerStore>,
    config: ManagedLedgerConfig,
    view: Arc<CompactedView>,
    status: Mutex<CompactionStatus>,
}

impl TopicCompaction {
    /// The topic's compaction, with the compacted view its managed ledger
    /// names.
    pub async fn open(
        ledger: Arc<ManagedLedger>,
        store: Arc<dyn LedgerStore>,
        config: &ManagedLedgerConfig,
    ) -> Arc<Self> {
        let view = CompactedView::load(&ledger, store.clone(), config.password.clone()).await;
        Arc::new(TopicCompaction {
            ledger,
            store,
            config: config.clone(),
            view: Arc::new(view),
            status: Mutex::new(CompactionStatus {
                status: "NOT_RUN",
                last_error: String::new(),
            }),
        })
    }

    pub fn view(&self) -> &Arc<CompactedView> {
        &self.view
    }

    pub fn status(&self) -> CompactionStatus {
        self.status.lock().clone()
    }

    /// Bytes the `__compaction` cursor has not compacted yet; the whole
    /// topic before the first compaction.
    pub fn backlog_bytes(&self) -> u64 {
        match self.ledger.cursor(COMPACTION_CURSOR) {
            Some(cursor) => cursor.backlog_bytes(),
            None => self.ledger.stats().size_bytes,
        }
    }

    /// Starts a run in the background; refused while one runs.
    pub fn trigger(self: &Arc<Self>) -> Result<(), CompactionError> {
        self.begin()?;
        let this = self.clone();
        tokio::spawn(async move {
            let result = this.compact().await;
            this.finish(result);
        });
        Ok(())
    }

    /// Runs to the end here; refused while another run is in progress.
    pub async fn run(&self) -> Result<Option<CompactedLedgerInfo>, CompactionError> {
        self.begin()?;
        let result = self.compact().await;
        let info = result.as_ref().ok().copied().flatten();
        self.finish(result.map(|_| ())).map_or(Ok(info), Err)
    }

    fn begin(&self) -> Result<(), CompactionError> {
        let mut status = self.status.lock();
        if status.status == "RUNNING" {
            return Err(CompactionError::AlreadyRunning);
        }
        status.status = "RUNNING";
        Ok(())
    }

    fn finish<T>(&self, result: Result<T, CompactionError>) -> Option<CompactionError> {
        let mut status = self.status.lock();
        match result {
            Ok(_) => {
                status.status = "SUCCESS";
                status.last_error.clear();
                None
            }
            Err(error) => {
                tracing::warn!(managed_ledger = %self.ledger.name(), %error, "compaction failed");
                status.status = "ERROR";
                status.last_error = error.to_string();
                Some(error)
            }
        }
    }

    /// One run; `None` when there was nothing new to compact.
    async fn compact(&self) -> Result<Option<CompactedLedgerInfo>, CompactionError> {
        let cursor = self
            .ledger
            .open_cursor(COMPACTION_CURSOR, InitialPosition::Earliest)
            .await?;
        let Some(horizon) = self.ledger.last_confirmed().filter(|p| p.entry_id >= 0) else {
            return Ok(None);
        };
        let previous = self.view.current();
        let start = match previous.as_ref().map(|p| p.info().horizon) {
            Some(covered) => covered.max(cursor.mark_delete_position()),
            None => cursor.mark_delete_position(),
        };
        if horizon <= start {
            return Ok(None);
        }
        let name = self.ledger.name().to_string();
        tracing::info!(managed_ledger = %name, %start, %horizon, "compaction started");

        let mut latest = Latest::default();
        let mut scan = Scan::new(previous.clone(), start, horizon);
        while let Some(entries) = scan.next(&self.ledger).await? {
            for entry in &entries {
                latest.observe(entry.position, &entry.data)?;
            }
        }

        let options = LedgerOptions {
            ensemble_size: self.config.ensemble_size,
            write_quorum: self.config.write_quorum,
            ack_quorum: self.config.ack_quorum,
            password: self.config.password.clone(),
            custom: BTreeMap::from([("compacted-topic".to_string(), name.clone())]),
        };
        let writer = self.store.create(options).await?;
        let ledger_id = writer.id();
        let settled = async {
            let mut pending: VecDeque<BoxFuture<'static, Result<EntryId, LedgerError>>> =
                VecDeque::new();
            let mut last = None;
            let mut scan = Scan::new(previous.clone(), start, horizon);
            while let Some(entries) = scan.next(&self.ledger).await? {
                for entry in &entries {
                    if let Some(kept) = retain(&latest, entry.position, &entry.data)? {
                        pending.push_back(writer.append(encode_entry(entry.position, &kept)));
                        last = Some(entry.position);
                    }
                }
                while pending.len() > WRITE_WINDOW {
                    if let Some(append) = pending.pop_front() {
                        append.await?;
                    }
                }
            }
            while let Some(append) = pending.pop_front() {
                append.await?;
            }
            Ok::<_, CompactionError>((writer.close().await?, last))
        }
        .await;
        let (closed, last) = match settled {
            Ok(closed) => closed,
            Err(error) => {
                if let Err(e) = self.store.delete(ledger_id).await {
                    tracing::warn!(managed_ledger = %name, ledger_id, error = %e, "could not delete an unfinished compacted ledger");
                }
                return Err(error);
            }
        };

        let info = CompactedLedgerInfo {
            ledger_id,
            entries: closed.last_entry_id + 1,
            horizon,
            last,
        };
        self.ledger
            .set_property(COMPACTED_LEDGER_PROPERTY, &info.encode())
            .await?;
        self.view.install(Some(Arc::new(CompactedLedger::new(
            info,
            self.store.clone(),
            self.config.password.clone(),
        ))));
        cursor.ack_cumulative(horizon);
        if let Err(error) = cursor.flush().await {
            // The next run reads again from the stored position: more
            // work, the same view.
            tracing::warn!(managed_ledger = %name, %error, "compaction cursor not persisted");
        }
        if let Some(previous) = previous {
            let old = previous.info().ledger_id;
            if let Err(error) = self.store.delete(old).await {
                tracing::warn!(managed_ledger = %name, ledger_id = old, %error, "previous compacted ledger not deleted");
            }
        }
        tracing::info!(managed_ledger = %name, ledger_id, entries = info.entries, keys = latest.len(), %horizon, "compaction done");
        Ok(Some(info))
    }
}

/// Reads, batch by batch, the previous compacted ledger and then the
/// topic's entries after `start` up to `horizon`.
struct Scan {
    previous: Option<Arc<CompactedLedger>>,
    next_compacted: i64,
    after: Position,
    horizon: Position,
}

impl Scan {
    fn new(previous: Option<Arc<CompactedLedger>>, start: Position, horizon: Position) -> Self {
        Scan {
            previous,
            next_compacted: 0,
            after: start,
            horizon,
        }
    }

    async fn next(
        &mut self,
        ledger: &ManagedLedger,
    ) -> Result<Option<Vec<Entry>>, CompactionError> {
        if let Some(previous) = &self.previous {
            let entries = previous.info().entries;
            if self.next_compacted < entries {
                let last = (self.next_compacted + READ_BATCH as i64 - 1).min(entries - 1);
                let batch = previous.read_range(self.next_compacted, last).await?;
                self.next_compacted = last + 1;
                return Ok(Some(batch));
            }
        }
        let entries = ledger
            .read_after(self.after, self.horizon, READ_BATCH)
            .await?;
        let Some(last) = entries.last().map(|e| e.position) else {
            return Ok(None);
        };
        self.after = last;
        Ok(Some(entries))
    }
}
