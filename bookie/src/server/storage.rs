//! Ledger storage: the write cache, the entry logs and the RocksDB index
//! behind one type, plus the checkpoint that moves entries from the first to
//! the other two.
//!
//! Checkpoint durability order (see [`LedgerStorage::checkpoint`]):
//! 1. capture the journal's written position as the candidate mark — every
//!    record before it was applied to the cache and ledger table before it
//!    was queued;
//! 2. snapshot the write cache and the changed ledger states;
//! 3. append the snapshot to the entry log and fsync the entry log;
//! 4. commit the locations and ledger states to RocksDB (synced);
//! 5. only then persist the mark (tmp → fsync → rename → fsync dir) and
//!    delete journal files wholly before it.
//!
//! A crash anywhere before 5 replays the journal from the old mark, which
//! re-creates everything the interrupted checkpoint was writing.

use std::path::PathBuf;

use bytes::Bytes;
use magnetar_metadata::durable_file;
use parking_lot::Mutex;

use super::config::BookieConfig;
use super::entry_log::EntryLogs;
use super::error::{BookieError, StorageError};
use super::index::LedgerIndex;
use super::journal::files::{journal_file_path, list_journal_files};
use super::journal::mark::{read_mark, write_mark};
use super::journal::preallocate::retire_journal_file;
use super::journal::JournalPosition;
use super::ledger_state::{BookieLedgerState, LedgerTable};
use super::record::{Record, RecordKind};
use super::write_cache::WriteCache;
use crate::digest::decode_entry;

/// Storage of one bookie.
pub struct LedgerStorage {
    pub(crate) cache: WriteCache,
    pub(crate) ledgers: LedgerTable,
    pub(crate) index: LedgerIndex,
    pub(crate) logs: EntryLogs,
    /// Serializes checkpoints, GC and compaction: each rewrites locations.
    pub(crate) flush_lock: Mutex<()>,
    journal_dir: PathBuf,
    /// Keep checkpointed journal files for the preallocation fill to
    /// overwrite, instead of deleting them (see `journal::preallocate`).
    recycle_journal_files: bool,
    checkpoint_path: PathBuf,
    mark: Mutex<JournalPosition>,
}

impl LedgerStorage {
    /// Opens (creating when missing) the index and entry logs under the data dir.
    pub fn open(config: &BookieConfig) -> Result<Self, StorageError> {
        for dir in [config.journal_dir(), config.entry_log_dir()] {
            durable_file::create_dir_durably(&dir).map_err(|e| StorageError::io(&dir, e))?;
        }
        let index = LedgerIndex::open(&config.index_dir(), config.index_memory)?;
        let ledgers = LedgerTable::from_loaded(index.load_ledgers()?);
        let logs = EntryLogs::open(&config.entry_log_dir(), config.entry_log_max_file_size)?;
        let checkpoint_path = config.checkpoint_path();
        let mark =
            read_mark(&checkpoint_path).map_err(|e| StorageError::io(&checkpoint_path, e))?;
        Ok(LedgerStorage {
            cache: WriteCache::new(
                config.write_cache_max_bytes,
                config.write_cache_max_throttle,
            ),
            ledgers,
            index,
            logs,
            flush_lock: Mutex::new(()),
            journal_dir: config.journal_dir(),
            recycle_journal_files: config.journal_preallocate,
            checkpoint_path,
            mark: Mutex::new(mark),
        })
    }

    /// The persisted checkpoint mark.
    pub fn mark(&self) -> JournalPosition {
        *self.mark.lock()
    }

    /// Stores an accepted entry in the write cache and advances the ledger's
    /// last entry and LAC. The caller has checked key and fencing.
    pub fn put_entry(&self, ledger_id: u64, entry_id: i64, lac: i64, body: Bytes) {
        self.cache.put(ledger_id, entry_id, body);
        self.ledgers.update(ledger_id, |state| {
            state.last_entry = state.last_entry.max(entry_id);
            state.lac = state.lac.max(lac);
        });
    }

    /// Like [`Self::put_entry`], but only if `admit` accepts the ledger's
    /// state (key, fencing). Check and store happen under one ledger-table
    /// lock, so a concurrent fence either rejects the entry or finds it
    /// stored: the fencing read's answer and any later read include it.
    pub fn put_entry_if<T, E>(
        &self,
        ledger_id: u64,
        entry_id: i64,
        lac: i64,
        body: Bytes,
        admit: impl FnOnce(&mut BookieLedgerState) -> Result<T, E>,
    ) -> Result<T, E> {
        self.ledgers.update(ledger_id, |state| {
            let admitted = admit(state)?;
            self.cache.put(ledger_id, entry_id, body);
            state.last_entry = state.last_entry.max(entry_id);
            state.lac = state.lac.max(lac);
            Ok(admitted)
        })
    }

    /// Re-applies one journal record during replay. Idempotent.
    pub fn apply_replayed(&self, record: Record) {
        match record.kind {
            RecordKind::Entry => match decode_entry(&record.data) {
                Ok(entry) => {
                    self.put_entry(record.ledger_id, record.entry_id, entry.lac, record.data)
                }
                Err(err) => tracing::warn!(
                    ledger_id = record.ledger_id,
                    entry_id = record.entry_id,
                    error = %err,
                    "skipping journal entry with a bad body"
                ),
            },
            RecordKind::MasterKey => self.ledgers.update(record.ledger_id, |state| {
                if state.master_key.is_empty() {
                    state.master_key = record.data.to_vec();
                }
            }),
            RecordKind::Fence => self
                .ledgers
                .update(record.ledger_id, |state| state.fenced = true),
            RecordKind::Lac => {
                if let Ok(bytes) = <[u8; 8]>::try_from(record.data.as_ref()) {
                    let lac = i64::from_be_bytes(bytes);
                    self.ledgers
                        .update(record.ledger_id, |state| state.lac = state.lac.max(lac));
                }
            }
        }
    }

    /// Reads an entry body: write cache, then index and entry log.
    /// `entry_id = -1` reads the ledger's last entry. Never returns a body
    /// whose digest fails.
    pub fn read_entry(&self, ledger_id: u64, entry_id: i64) -> Result<(i64, Bytes), BookieError> {
        let state = self
            .ledgers
            .get(ledger_id)
            .ok_or(BookieError::NoLedger(ledger_id))?;
        let entry_id = match entry_id {
            -1 if state.last_entry < 0 => {
                return Err(BookieError::NoEntry {
                    ledger_id,
                    entry_id,
                })
            }
            -1 => state.last_entry,
            id if id < 0 => return Err(BookieError::BadRequest(format!("invalid entry id {id}"))),
            id => id,
        };
        let body = match self.cache.get(ledger_id, entry_id) {
            Some(body) => body,
            None => self.read_flushed(ledger_id, entry_id)?,
        };
        verify_body(ledger_id, entry_id, &body)?;
        Ok((entry_id, body))
    }

    fn read_flushed(&self, ledger_id: u64, entry_id: i64) -> Result<Bytes, BookieError> {
        // Compaction may move an entry between the index lookup and the read
        // (and delete the old log); one retry sees the new location.
        for attempt in 0..2 {
            let location =
                self.index
                    .location(ledger_id, entry_id)?
                    .ok_or(BookieError::NoEntry {
                        ledger_id,
                        entry_id,
                    })?;
            match self.logs.read(location, ledger_id, entry_id) {
                Ok(body) => return Ok(body),
                Err(StorageError::MissingEntryLog(_)) if attempt == 0 => continue,
                Err(err) => {
                    tracing::error!(ledger_id, entry_id, error = %err, "entry log read failed");
                    return Err(err.into());
                }
            }
        }
        Err(BookieError::NoEntry {
            ledger_id,
            entry_id,
        })
    }

    /// Runs one checkpoint (blocking). `capture_mark` must return the
    /// journal's written position; it is called before the cache snapshot.
    pub fn checkpoint(
        &self,
        capture_mark: impl FnOnce() -> JournalPosition,
    ) -> Result<(), StorageError> {
        let _flushing = self.flush_lock.lock();
        let started = std::time::Instant::now();
        let mark = capture_mark();
        let snapshot = self.cache.begin_flush();
        let dirty = self.ledgers.take_dirty();
        let result = self.write_snapshot(&snapshot, &dirty);
        if let Err(err) = result {
            self.ledgers.mark_dirty(dirty.iter().map(|(id, _)| *id));
            return Err(err);
        }
        self.cache.finish_flush();
        if mark > self.mark() {
            write_mark(&self.checkpoint_path, mark)
                .map_err(|e| StorageError::io(&self.checkpoint_path, e))?;
            *self.mark.lock() = mark;
            self.delete_journal_files_before(mark)?;
        }
        tracing::debug!(
            entries = snapshot.len(),
            ledgers = dirty.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            mark_file = mark.file_id,
            mark_offset = mark.offset,
            "checkpoint complete"
        );
        Ok(())
    }

    fn write_snapshot(
        &self,
        snapshot: &super::write_cache::EntryMap,
        dirty: &[(u64, BookieLedgerState)],
    ) -> Result<(), StorageError> {
        let started = std::time::Instant::now();
        let mut batch = self.index.batch();
        for ((ledger_id, entry_id), body) in snapshot.iter() {
            // A ledger deleted by GC since the snapshot was taken is skipped.
            if self.ledgers.get(*ledger_id).is_none() {
                continue;
            }
            let location = self.logs.append(*ledger_id, *entry_id, body)?;
            self.index
                .put_location(&mut batch, *ledger_id, *entry_id, location);
        }
        let written = started.elapsed();
        // Entry log bytes are durable before the index points at them.
        self.logs.sync()?;
        let synced = started.elapsed();
        for (ledger_id, state) in dirty {
            self.index.put_ledger(&mut batch, *ledger_id, state);
        }
        self.index.commit(batch)?;
        tracing::debug!(
            write_ms = written.as_millis() as u64,
            sync_ms = (synced - written).as_millis() as u64,
            index_ms = (started.elapsed() - synced).as_millis() as u64,
            "checkpoint wrote entry log and index"
        );
        Ok(())
    }

    fn delete_journal_files_before(&self, mark: JournalPosition) -> Result<(), StorageError> {
        let dir = &self.journal_dir;
        let ids = list_journal_files(dir).map_err(|e| StorageError::io(dir, e))?;
        let mut deleted = false;
        for id in ids.into_iter().filter(|id| *id < mark.file_id) {
            let path = journal_file_path(dir, id);
            retire_journal_file(dir, &path, id, self.recycle_journal_files)
                .map_err(|e| StorageError::io(&path, e))?;
            deleted = true;
        }
        if deleted {
            durable_file::sync_dir(dir).map_err(|e| StorageError::io(dir, e))?;
        }
        Ok(())
    }
}

/// Checks a stored body's digest and ids before it is served.
fn verify_body(ledger_id: u64, entry_id: i64, body: &Bytes) -> Result<(), BookieError> {
    let corrupt = |reason: String| {
        tracing::error!(ledger_id, entry_id, reason = %reason, "refusing to serve corrupt entry");
        BookieError::Storage(StorageError::Corrupt {
            path: PathBuf::new(),
            offset: 0,
            reason,
        })
    };
    let decoded = decode_entry(body).map_err(|e| corrupt(e.to_string()))?;
    if decoded.ledger_id as u64 != ledger_id || decoded.entry_id != entry_id {
        return Err(corrupt(format!(
            "body holds ledger {} entry {}",
            decoded.ledger_id, decoded.entry_id
        )));
    }
    Ok(())
}
