//! The durable Raft log and vote, in RocksDB.
//!
//! Layout (one RocksDB database, two column families):
//! - `log`: big-endian log index → JSON-encoded entry. Big-endian keys make
//!   RocksDB's byte order the index order, so range scans are index scans.
//! - `meta`: `vote`, `committed` and `last_purged` → JSON values.
//!
//! Durability order:
//! - Appends are written at once without a sync (so replication can read
//!   them) and openraft is told they are flushed (`LogFlushed`) only after
//!   the WAL sync that covers them ([`super::wal_sync`], one sync for every
//!   append queued meanwhile), so an entry is never counted in a quorum
//!   before it is on disk.
//! - A vote is persisted (synced) before `save_vote` returns, so a node never
//!   votes twice in one term across a crash.
//! - A purge first persists `last_purged`, then deletes the entries. A crash
//!   in between leaves stale entries below the marker, which are never read.
//!   openraft purges only up to a snapshot that is already durable (see
//!   `snapshot_file`), so purged entries are always covered by a snapshot.
//!
//! The store is generic over the type configuration so it does not depend on
//! what the state machine's commands are.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    AnyError, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogReader, RaftTypeConfig,
    StorageError, StorageIOError, Vote,
};
use rocksdb::{
    ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wal_sync::WalSyncer;

const CF_LOG: &str = "log";
const CF_META: &str = "meta";
const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";

/// Errors opening the log database.
#[derive(Debug, thiserror::Error)]
pub enum LogStoreOpenError {
    #[error("open raft log database: {0}")]
    RocksDb(#[from] rocksdb::Error),
    #[error("start the raft log sync thread: {0}")]
    SyncThread(#[from] std::io::Error),
}

/// The RocksDB-backed Raft log. Cloning shares the database (the log reader
/// handed to replication tasks is a clone).
pub struct RocksLogStore<C: RaftTypeConfig> {
    db: Arc<DB>,
    syncer: Arc<WalSyncer<C>>,
    _types: PhantomData<C>,
}

impl<C: RaftTypeConfig> Clone for RocksLogStore<C> {
    fn clone(&self) -> Self {
        RocksLogStore {
            db: Arc::clone(&self.db),
            syncer: Arc::clone(&self.syncer),
            _types: PhantomData,
        }
    }
}

// The helpers return openraft's `StorageError` by value because the
// storage traits below do; boxing it here would only move the allocation.
#[allow(clippy::result_large_err)]
impl<C> RocksLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    /// Opens (creating if missing) the log database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, LogStoreOpenError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // Write flushes and compactions back in 1 MiB steps rather than in
        // one burst that would queue ahead of other fsyncs on the disk.
        options.set_bytes_per_sync(1024 * 1024);
        let families = [CF_LOG, CF_META]
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = Arc::new(DB::open_cf_descriptors(&options, dir, families)?);
        let syncer = Arc::new(WalSyncer::start(Arc::clone(&db))?);
        Ok(RocksLogStore {
            db,
            syncer,
            _types: PhantomData,
        })
    }

    fn log_cf(&self) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(CF_LOG)
            .expect("the log column family is created at open")
    }

    fn meta_cf(&self) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(CF_META)
            .expect("the meta column family is created at open")
    }

    fn read_meta<T: DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError<C::NodeId>> {
        let raw = self
            .db
            .get_cf(self.meta_cf(), key)
            .map_err(|e| read_error::<C>(&e))?;
        match raw {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| read_error::<C>(&e)),
        }
    }

    /// Writes one meta value and syncs the RocksDB WAL before returning.
    fn write_meta_synced<T: Serialize>(
        &self,
        key: &[u8],
        value: &T,
    ) -> Result<(), StorageError<C::NodeId>> {
        let bytes = serde_json::to_vec(value).map_err(|e| write_error::<C>(&e))?;
        self.db
            .put_cf_opt(self.meta_cf(), key, bytes, &synced())
            .map_err(|e| write_error::<C>(&e))
    }

    fn last_entry(&self) -> Result<Option<C::Entry>, StorageError<C::NodeId>> {
        let mut iter = self.db.iterator_cf(self.log_cf(), IteratorMode::End);
        match iter.next() {
            None => Ok(None),
            Some(item) => {
                let (_, value) = item.map_err(|e| read_error::<C>(&e))?;
                serde_json::from_slice(&value)
                    .map(Some)
                    .map_err(|e| read_error::<C>(&e))
            }
        }
    }
}

fn synced() -> WriteOptions {
    let mut options = WriteOptions::default();
    options.set_sync(true);
    options
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn read_error<C: RaftTypeConfig>(e: &(dyn std::error::Error + 'static)) -> StorageError<C::NodeId> {
    StorageIOError::new(
        ErrorSubject::Logs,
        ErrorVerb::Read,
        AnyError::from_dyn(e, None),
    )
    .into()
}

fn write_error<C: RaftTypeConfig>(
    e: &(dyn std::error::Error + 'static),
) -> StorageError<C::NodeId> {
    StorageIOError::new(
        ErrorSubject::Logs,
        ErrorVerb::Write,
        AnyError::from_dyn(e, None),
    )
    .into()
}

impl<C> RaftLogReader<C> for RocksLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let from = index_key(start);
        let iter = self
            .db
            .iterator_cf(self.log_cf(), IteratorMode::From(&from, Direction::Forward));
        let mut entries = Vec::new();
        for item in iter {
            let (key, value) = item.map_err(|e| read_error::<C>(&e))?;
            let index = decode_index(&key);
            if !range.contains(&index) {
                break;
            }
            let entry: C::Entry =
                serde_json::from_slice(&value).map_err(|e| read_error::<C>(&e))?;
            entries.push(entry);
        }
        Ok(entries)
    }
}

fn decode_index(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let len = key.len().min(8);
    bytes[..len].copy_from_slice(&key[..len]);
    u64::from_be_bytes(bytes)
}

impl<C> RaftLogStorage<C> for RocksLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        let last_purged_log_id: Option<LogId<C::NodeId>> = self.read_meta(KEY_LAST_PURGED)?;
        let last_log_id = match self.last_entry()? {
            Some(entry) => Some(openraft::RaftLogId::get_log_id(&entry).clone()),
            None => last_purged_log_id.clone(),
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    #[allow(clippy::result_large_err)] // the closure returns openraft's `StorageError`
    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let store = self.clone();
        let vote = vote.clone();
        // Synced before returning: a vote must survive a crash (no double vote).
        tokio::task::spawn_blocking(move || store.write_meta_synced(KEY_VOTE, &vote))
            .await
            .map_err(|e| write_error::<C>(&e))?
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        self.read_meta(KEY_VOTE)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> Result<(), StorageError<C::NodeId>> {
        // Not synced: the committed index is an optimisation (entries up to
        // it are re-applied at startup without waiting for a leader). A lost
        // update only means a later re-apply.
        let bytes = serde_json::to_vec(&committed).map_err(|e| write_error::<C>(&e))?;
        self.db
            .put_cf(self.meta_cf(), KEY_COMMITTED, bytes)
            .map_err(|e| write_error::<C>(&e))
    }

    async fn read_committed(
        &mut self,
    ) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self
            .read_meta::<Option<LogId<C::NodeId>>>(KEY_COMMITTED)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::default();
        for entry in entries {
            let index = openraft::RaftLogId::get_log_id(&entry).index;
            let bytes = serde_json::to_vec(&entry).map_err(|e| write_error::<C>(&e))?;
            batch.put_cf(self.log_cf(), index_key(index), bytes);
        }
        // Visible at once, durable once the syncer has synced the WAL.
        let mut unsynced = WriteOptions::default();
        unsynced.set_sync(false);
        if let Err(e) = self.db.write_opt(batch, &unsynced) {
            callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
            return Err(write_error::<C>(&e));
        }
        if let Err(callback) = self.syncer.after_sync(callback) {
            let gone = std::io::Error::other("the raft log sync thread stopped");
            let error = write_error::<C>(&gone);
            callback.log_io_completed(Err(gone));
            return Err(error);
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        tracing::debug!(from_index = log_id.index, "truncating raft log");
        let from = index_key(log_id.index);
        let to = index_key(u64::MAX);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.log_cf(), from, to);
        batch.delete_cf(self.log_cf(), to);
        self.db
            .write_opt(batch, &synced())
            .map_err(|e| write_error::<C>(&e))
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        tracing::debug!(upto_index = log_id.index, "purging raft log");
        // The marker is durable before any entry is removed.
        self.write_meta_synced(KEY_LAST_PURGED, &log_id)?;
        let from = index_key(0);
        let to = index_key(log_id.index.saturating_add(1));
        self.db
            .delete_range_cf(self.log_cf(), from, to)
            .map_err(|e| write_error::<C>(&e))
    }
}
