//! [`Bookie`]: the protocol rules of a bookie over its journal and storage —
//! master keys, fencing, read-only mode, size limits — independent of gRPC.
//!
//! Add path ordering: the entry is validated, the ledger state updated and
//! the entry put into the write cache *before* its journal record is queued
//! (so a checkpoint mark never covers a record whose entry missed the cache
//! snapshot), and the caller is answered only after the journal fsync. An
//! entry can therefore be readable before it is durable; clients never read
//! past the LAC, so this is harmless.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use magnetar_proto::bookie::{AddFlag, AddRequest};
use tokio::sync::watch;

use super::add_latency::AddLatencyStats;
use super::config::BookieConfig;
use super::error::{BookieError, JournalError, StartError};
use super::journal::files::FileJournalStorage;
use super::journal::mark::read_mark;
use super::journal::replay::replay_journal;
use super::journal::{DurableAck, GroupCommitSettings, Journal};
use super::ledger_state::{KeyCheck, LedgerTable};
use super::record::{Record, RecordKind, RECORD_HEADER_LEN};
use super::storage::LedgerStorage;
use crate::digest::decode_entry;

/// A bookie's storage engine and protocol rules.
pub struct Bookie {
    pub(crate) storage: Arc<LedgerStorage>,
    journal: Arc<Journal>,
    /// Read-only mode; the registration task watches it.
    read_only: watch::Sender<bool>,
    max_entry_size: usize,
    add_latency: AddLatencyStats,
}

/// One or more adds that passed the protocol checks and whose journal
/// records are queued (one add, or a batch of the add stream);
/// [`AdmittedAdds::wait`] resolves once they are durable.
pub struct AdmittedAdds {
    bookie: Arc<Bookie>,
    ack: DurableAck,
    received: Instant,
    adds: u64,
}

impl AdmittedAdds {
    /// Waits until the adds are durable, and records how long they took
    /// since they were received.
    pub async fn wait(self) -> Result<(), BookieError> {
        let outcome = self.bookie.journal_outcome(self.ack.wait().await);
        if outcome.is_ok() {
            let elapsed = self.received.elapsed();
            self.bookie.add_latency.record(elapsed, self.adds);
            crate::metrics::record_adds(elapsed, self.adds);
        }
        outcome
    }
}

impl Bookie {
    /// Opens storage, replays the journal from the checkpoint mark and
    /// starts a new journal file. Blocking IO: call from a blocking context
    /// or accept a short stall at startup.
    pub fn open(config: &BookieConfig) -> Result<Arc<Bookie>, StartError> {
        let storage = LedgerStorage::open(config)?;
        let journal_dir = config.journal_dir();
        let mark = read_mark(&config.checkpoint_path())
            .map_err(|e| super::error::StorageError::io(config.checkpoint_path(), e))?;
        let max_body_len = config.max_entry_size + RECORD_HEADER_LEN;
        let summary = replay_journal(&journal_dir, mark, max_body_len, |record| {
            storage.apply_replayed(record)
        })
        .map_err(|e| super::error::StorageError::io(&journal_dir, e))?;
        tracing::info!(
            records = summary.records,
            dropped_bytes = summary.dropped_bytes,
            mark_file = mark.file_id,
            mark_offset = mark.offset,
            "journal replayed"
        );
        let journal_storage = FileJournalStorage::create(
            &journal_dir,
            summary.next_file_id,
            config.journal_max_file_size,
            config.journal_preallocate,
        )
        .map_err(|e| super::error::StorageError::io(&journal_dir, e))?;
        let settings = GroupCommitSettings {
            max_group_wait: config.journal_max_group_wait,
            buffered_bytes_threshold: config.journal_buffered_bytes_threshold,
            queue_size: config.journal_queue_size,
            sync: config.journal_sync,
        };
        if !config.journal_sync {
            tracing::warn!(
                "journal sync is off: acknowledged entries may be lost on power failure"
            );
        }
        let journal = Journal::start(journal_storage, settings)
            .map_err(|e| super::error::StorageError::io(&journal_dir, e))?;
        Ok(Arc::new(Bookie {
            storage: Arc::new(storage),
            journal: Arc::new(journal),
            read_only: watch::Sender::new(false),
            max_entry_size: config.max_entry_size,
            add_latency: AddLatencyStats::default(),
        }))
    }

    pub fn is_read_only(&self) -> bool {
        *self.read_only.borrow()
    }

    /// Observes read-only transitions.
    pub fn watch_read_only(&self) -> watch::Receiver<bool> {
        self.read_only.subscribe()
    }

    /// Switches read-only mode; logs transitions.
    pub fn set_read_only(&self, read_only: bool) {
        let changed = self
            .read_only
            .send_if_modified(|current| std::mem::replace(current, read_only) != read_only);
        if changed {
            tracing::warn!(read_only, "bookie mode changed");
        }
    }

    fn journal_outcome(
        &self,
        result: Result<super::journal::JournalPosition, JournalError>,
    ) -> Result<(), BookieError> {
        match result {
            Ok(_) => Ok(()),
            Err(JournalError::NoSpace) => {
                self.set_read_only(true);
                Err(BookieError::Journal(JournalError::NoSpace))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Validates and queues an add. Requests queued by one caller are
    /// journaled in call order.
    pub async fn enqueue_add(
        self: &Arc<Self>,
        request: AddRequest,
    ) -> Result<AdmittedAdds, BookieError> {
        let received = Instant::now();
        self.wait_for_write_cache_room().await?;
        let mut records = Vec::with_capacity(2);
        self.admit_add(request, &mut records)?;
        self.journal_records(records, received).await
    }

    /// Holds adds back while the write cache is full, so that memory stays
    /// bounded when adds come faster than checkpoints write them out (see
    /// [`super::write_cache::WriteCache::wait_for_room`]); an add that waited
    /// `write_cache_max_throttle` in vain is refused as too many requests,
    /// and the client retries it or moves to another bookie.
    pub async fn wait_for_write_cache_room(&self) -> Result<(), BookieError> {
        let waited = self.storage.cache.wait_for_room().await;
        let elapsed = match waited {
            Ok(elapsed) => elapsed,
            Err(full) => full.waited,
        };
        if !elapsed.is_zero() {
            crate::metrics::record_write_cache_throttle(elapsed);
        }
        waited?;
        Ok(())
    }

    /// Resolves when an add found the write cache's active half full (at
    /// once if one did since the last call): the checkpoint loop waits on
    /// it besides its interval.
    pub async fn checkpoint_wanted(&self) {
        self.storage.cache.flush_wanted().await
    }

    /// How long adds take inside this bookie (see [`AddLatencyStats`]).
    pub fn add_latency(&self) -> &AddLatencyStats {
        &self.add_latency
    }

    /// The first half of an add: validates it against the protocol rules
    /// and the ledger's state, stores the entry in the write cache, and
    /// appends the journal records it needs (master key on first use, then
    /// the entry) to `records`. The add is acknowledged only once those
    /// records are journaled ([`Self::journal_records`]) and durable.
    pub fn admit_add(
        &self,
        request: AddRequest,
        records: &mut Vec<Record>,
    ) -> Result<(), BookieError> {
        if request.body.len() > self.max_entry_size {
            return Err(BookieError::TooLarge {
                size: request.body.len(),
                limit: self.max_entry_size,
            });
        }
        if request.ledger_id < 0 || request.entry_id < 0 {
            return Err(BookieError::BadRequest(
                "negative ledger or entry id".into(),
            ));
        }
        if request.master_key.is_empty() {
            return Err(BookieError::BadRequest("missing master key".into()));
        }
        let ledger_id = request.ledger_id as u64;
        let entry =
            decode_entry(&request.body).map_err(|e| BookieError::BadRequest(e.to_string()))?;
        if entry.ledger_id != request.ledger_id || entry.entry_id != request.entry_id {
            return Err(BookieError::BadRequest(
                "entry header does not match the request ids".into(),
            ));
        }
        let recovery = request.flags & AddFlag::Recovery as u32 != 0;
        let high_priority = recovery || request.flags & AddFlag::HighPriority as u32 != 0;
        if self.is_read_only() && !high_priority {
            return Err(BookieError::ReadOnly);
        }
        let key = request.master_key;
        // Checked and cached atomically: an add that passes the fence check
        // is visible to the fencing read that follows it.
        let check = self.storage.put_entry_if(
            ledger_id,
            request.entry_id,
            entry.lac,
            request.body.clone(),
            |state| {
                let check = LedgerTable::check_key(state, &key);
                if check == KeyCheck::Mismatch {
                    Err(BookieError::Unauthorized(ledger_id))
                } else if state.fenced && !recovery {
                    Err(BookieError::Fenced(ledger_id))
                } else {
                    Ok(check)
                }
            },
        )?;
        if check == KeyCheck::Recorded {
            records.push(Record::master_key(ledger_id, key));
        }
        records.push(Record::entry(ledger_id, request.entry_id, request.body));
        Ok(())
    }

    /// The second half of one or more adds: queues their journal records,
    /// in order, as one journal request. The returned [`AdmittedAdds`]
    /// resolves once all of them are durable.
    pub async fn journal_records(
        self: &Arc<Self>,
        records: Vec<Record>,
        received: Instant,
    ) -> Result<AdmittedAdds, BookieError> {
        let adds = records
            .iter()
            .filter(|record| record.kind == RecordKind::Entry)
            .count() as u64;
        let ack = self.journal.submit_all(records).await?;
        Ok(AdmittedAdds {
            bookie: self.clone(),
            ack,
            received,
            adds,
        })
    }

    /// Fences a ledger durably: answered only after the fence record is fsynced.
    pub async fn fence(&self, ledger_id: u64, master_key: &Bytes) -> Result<(), BookieError> {
        if master_key.is_empty() {
            return Err(BookieError::BadRequest(
                "fencing requires a master key".into(),
            ));
        }
        let check = self.storage.ledgers.update(ledger_id, |state| {
            let check = LedgerTable::check_key(state, master_key);
            if check != KeyCheck::Mismatch {
                state.fenced = true;
            }
            check
        });
        let key_ack = match check {
            KeyCheck::Mismatch => return Err(BookieError::Unauthorized(ledger_id)),
            KeyCheck::Recorded => Some(
                self.journal
                    .submit(Record::master_key(ledger_id, master_key.clone()))
                    .await?,
            ),
            KeyCheck::Matches => None,
        };
        let fence_ack = self.journal.submit(Record::fence(ledger_id)).await?;
        if let Some(ack) = key_ack {
            self.journal_outcome(ack.wait().await)?;
        }
        self.journal_outcome(fence_ack.wait().await)?;
        tracing::info!(ledger_id, "ledger fenced");
        Ok(())
    }

    /// Reads an entry (optionally fencing first). Returns the entry id read
    /// (resolves `-1`) and the body.
    pub async fn read(
        &self,
        ledger_id: i64,
        entry_id: i64,
        fence: bool,
        master_key: &Bytes,
    ) -> Result<(i64, Bytes), BookieError> {
        if ledger_id < 0 || entry_id < -1 {
            return Err(BookieError::BadRequest("invalid ledger or entry id".into()));
        }
        let ledger_id = ledger_id as u64;
        if fence {
            self.fence(ledger_id, master_key).await?;
        }
        let storage = self.storage.clone();
        let started = Instant::now();
        let read = tokio::task::spawn_blocking(move || storage.read_entry(ledger_id, entry_id))
            .await
            .map_err(|e| BookieError::TaskFailed(e.to_string()))?;
        crate::metrics::record_read(started.elapsed());
        read
    }

    /// Ledgers stored here.
    pub fn ledger_count(&self) -> usize {
        self.storage.ledgers.len()
    }

    /// The highest LAC piggybacked on any entry of the ledger.
    pub fn read_lac(&self, ledger_id: i64) -> Result<i64, BookieError> {
        if ledger_id < 0 {
            return Err(BookieError::BadRequest("negative ledger id".into()));
        }
        let ledger_id = ledger_id as u64;
        let state = self
            .storage
            .ledgers
            .get(ledger_id)
            .ok_or(BookieError::NoLedger(ledger_id))?;
        Ok(state.lac)
    }

    /// Makes everything queued so far durable.
    pub async fn force(&self) -> Result<(), BookieError> {
        self.journal_outcome(self.journal.sync_barrier().await)
    }

    /// Runs one checkpoint on a blocking thread.
    pub async fn checkpoint(&self) -> Result<(), BookieError> {
        let storage = self.storage.clone();
        let journal = self.journal.clone();
        tokio::task::spawn_blocking(move || storage.checkpoint(|| journal.written_position()))
            .await
            .map_err(|e| BookieError::TaskFailed(e.to_string()))??;
        Ok(())
    }

    /// Bytes in the write cache's active half (not yet being flushed).
    pub fn write_cache_bytes(&self) -> usize {
        self.storage.cache.active_bytes()
    }

    /// Bytes in the write cache, both halves.
    pub fn write_cache_total_bytes(&self) -> usize {
        self.storage.cache.total_bytes()
    }

    /// Bytes the RocksDB index holds in memory (memtables, block cache).
    pub fn index_memory_bytes(&self) -> usize {
        self.storage.index.memory_bytes()
    }
}
