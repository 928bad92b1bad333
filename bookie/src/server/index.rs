//! The RocksDB index: where each entry lives, and the state of each ledger.
//!
//! Column families:
//! - `locations`: `ledger_id BE ++ entry_id BE` → `log_id BE ++ offset BE ++ len BE`
//!   (entry ids are never negative, so byte order is numeric order);
//! - `ledgers`: `ledger_id BE` → JSON [`BookieLedgerState`].
//!
//! Every write batch is committed with `sync = true`: the checkpoint mark may
//! only advance once the index is durable.
//!
//! Its memory is bounded by [`IndexMemory`]: the memtables of both column
//! families share one write buffer manager, and reads one block cache.

use std::collections::HashMap;
use std::path::Path;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, IteratorMode, Options, WriteBatch, WriteBufferManager,
    WriteOptions, DB,
};

use super::config::IndexMemory;
use super::error::StorageError;
use super::ledger_state::BookieLedgerState;

const LOCATIONS: &str = "locations";
const LEDGERS: &str = "ledgers";

/// Where an entry's record sits in the entry logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub log_id: u64,
    pub offset: u64,
    /// Framed record length.
    pub len: u32,
}

impl Location {
    fn to_bytes(self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out[..8].copy_from_slice(&self.log_id.to_be_bytes());
        out[8..16].copy_from_slice(&self.offset.to_be_bytes());
        out[16..].copy_from_slice(&self.len.to_be_bytes());
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 20 {
            return None;
        }
        Some(Location {
            log_id: u64::from_be_bytes(bytes[..8].try_into().ok()?),
            offset: u64::from_be_bytes(bytes[8..16].try_into().ok()?),
            len: u32::from_be_bytes(bytes[16..].try_into().ok()?),
        })
    }
}

fn entry_key(ledger_id: u64, entry_id: i64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&ledger_id.to_be_bytes());
    key[8..].copy_from_slice(&entry_id.to_be_bytes());
    key
}

/// A change to commit atomically.
#[derive(Default)]
pub struct IndexBatch {
    batch: WriteBatch,
}

/// Step of RocksDB's incremental writeback (`bytes_per_sync`).
const INCREMENTAL_SYNC_BYTES: u64 = 1024 * 1024;

/// The bookie's RocksDB index.
pub struct LedgerIndex {
    db: DB,
    memtables: WriteBufferManager,
    block_cache: Cache,
}

impl LedgerIndex {
    pub fn open(path: &Path, memory: IndexMemory) -> Result<Self, StorageError> {
        let memtables = WriteBufferManager::new_write_buffer_manager(memory.memtable_bytes, false);
        let block_cache = Cache::new_lru_cache(memory.block_cache_bytes);
        let mut options = Options::default();
        options.set_write_buffer_manager(&memtables);
        // Two column families with up to two memtables each share the bound.
        options.set_write_buffer_size((memory.memtable_bytes / 4).max(1 << 20));
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&block_cache);
        options.set_block_based_table_factory(&table);
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // Write memtable flushes and compactions back in 1 MiB steps, not
        // in one burst at their fsync: a burst queues ahead of the journal's
        // fsync on the same disk and shows up as add latency. (The WAL is
        // synced on every commit, so it needs no such setting.)
        options.set_bytes_per_sync(INCREMENTAL_SYNC_BYTES);
        let db = DB::open_cf(&options, path, [LOCATIONS, LEDGERS])?;
        Ok(LedgerIndex {
            db,
            memtables,
            block_cache,
        })
    }

    /// Bytes the index holds in memory: memtables and block cache.
    pub fn memory_bytes(&self) -> usize {
        self.memtables.get_usage() + self.block_cache.get_usage()
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created on open")
    }

    pub fn location(
        &self,
        ledger_id: u64,
        entry_id: i64,
    ) -> Result<Option<Location>, StorageError> {
        let raw = self
            .db
            .get_cf(self.cf(LOCATIONS), entry_key(ledger_id, entry_id))?;
        Ok(raw.and_then(|bytes| Location::from_bytes(&bytes)))
    }

    /// Every ledger's persisted state.
    pub fn load_ledgers(&self) -> Result<Vec<(u64, BookieLedgerState)>, StorageError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(LEDGERS), IteratorMode::Start) {
            let (key, value) = item?;
            let Ok(id_bytes) = <[u8; 8]>::try_from(key.as_ref()) else {
                continue;
            };
            match serde_json::from_slice::<BookieLedgerState>(&value) {
                Ok(state) => out.push((u64::from_be_bytes(id_bytes), state)),
                Err(err) => {
                    tracing::error!(error = %err, "skipping unreadable ledger state in index")
                }
            }
        }
        Ok(out)
    }

    /// Live record bytes per entry log, from every location in the index.
    pub fn live_bytes_per_log(&self) -> Result<HashMap<u64, u64>, StorageError> {
        let mut live = HashMap::new();
        for item in self.db.iterator_cf(self.cf(LOCATIONS), IteratorMode::Start) {
            let (_, value) = item?;
            if let Some(location) = Location::from_bytes(&value) {
                *live.entry(location.log_id).or_insert(0) += u64::from(location.len);
            }
        }
        Ok(live)
    }

    pub fn batch(&self) -> IndexBatch {
        IndexBatch::default()
    }

    pub fn put_location(
        &self,
        batch: &mut IndexBatch,
        ledger_id: u64,
        entry_id: i64,
        location: Location,
    ) {
        batch.batch.put_cf(
            self.cf(LOCATIONS),
            entry_key(ledger_id, entry_id),
            location.to_bytes(),
        );
    }

    pub fn put_ledger(&self, batch: &mut IndexBatch, ledger_id: u64, state: &BookieLedgerState) {
        let value = serde_json::to_vec(state).expect("ledger state serializes to JSON");
        batch
            .batch
            .put_cf(self.cf(LEDGERS), ledger_id.to_be_bytes(), value);
    }

    /// Removes every location and the state of a ledger.
    pub fn delete_ledger(&self, batch: &mut IndexBatch, ledger_id: u64) {
        batch.batch.delete_range_cf(
            self.cf(LOCATIONS),
            entry_key(ledger_id, 0),
            entry_key(ledger_id, i64::MAX),
        );
        batch
            .batch
            .delete_cf(self.cf(LOCATIONS), entry_key(ledger_id, i64::MAX));
        batch
            .batch
            .delete_cf(self.cf(LEDGERS), ledger_id.to_be_bytes());
    }

    /// Commits `batch` and fsyncs the RocksDB WAL.
    pub fn commit(&self, batch: IndexBatch) -> Result<(), StorageError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(batch.batch, &options)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_states_survive_reopen_and_ledger_delete_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        {
            let index = LedgerIndex::open(dir.path(), IndexMemory::default()).unwrap();
            let mut batch = index.batch();
            for entry in 0..3 {
                index.put_location(
                    &mut batch,
                    5,
                    entry,
                    Location {
                        log_id: 1,
                        offset: entry as u64 * 10,
                        len: 10,
                    },
                );
            }
            index.put_location(
                &mut batch,
                6,
                0,
                Location {
                    log_id: 2,
                    offset: 0,
                    len: 7,
                },
            );
            let state = BookieLedgerState {
                master_key: vec![1; 20],
                fenced: true,
                lac: 1,
                last_entry: 2,
            };
            index.put_ledger(&mut batch, 5, &state);
            index.commit(batch).unwrap();
        }
        let index = LedgerIndex::open(dir.path(), IndexMemory::default()).unwrap();
        assert_eq!(
            index.location(5, 2).unwrap(),
            Some(Location {
                log_id: 1,
                offset: 20,
                len: 10
            })
        );
        let loaded = index.load_ledgers().unwrap();
        assert_eq!(loaded.len(), 1);
        assert!(loaded[0].1.fenced);
        assert_eq!(
            index.live_bytes_per_log().unwrap(),
            HashMap::from([(1, 30), (2, 7)])
        );
        let mut batch = index.batch();
        index.delete_ledger(&mut batch, 5);
        index.commit(batch).unwrap();
        assert_eq!(index.location(5, 0).unwrap(), None);
        assert_eq!(index.location(6, 0).unwrap().map(|l| l.len), Some(7));
        assert!(index.load_ledgers().unwrap().is_empty());
    }
}
