//! Group commit for Raft log appends.
//!
//! An append writes its entries to RocksDB at once without a sync, so they
//! are readable (replication reads them right away), and hands its
//! `LogFlushed` callback to this syncer. One thread takes every callback
//! queued since its last round, syncs the RocksDB WAL once, and only then
//! reports them flushed, in append order. openraft keeps appending while a
//! sync is in flight, so under load one fsync covers many appends.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use openraft::storage::LogFlushed;
use openraft::RaftTypeConfig;
use rocksdb::DB;

/// Handle to the sync thread. Dropping it stops the thread and waits for
/// it, so the database is closed (its lock released) once the log store
/// that owns this handle is gone.
pub struct WalSyncer<C: RaftTypeConfig> {
    queue: Option<Sender<LogFlushed<C>>>,
    thread: Option<JoinHandle<()>>,
}

impl<C: RaftTypeConfig> WalSyncer<C> {
    pub fn start(db: Arc<DB>) -> io::Result<Self> {
        let (queue, pending) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("raft-wal-sync".to_string())
            .spawn(move || sync_rounds(&db, &pending))?;
        Ok(WalSyncer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Reports `callback` flushed once everything written to the database
    /// before this call is on disk. Gives the callback back if the sync
    /// thread is gone.
    pub fn after_sync(&self, callback: LogFlushed<C>) -> Result<(), LogFlushed<C>> {
        match &self.queue {
            Some(queue) => queue.send(callback).map_err(|failed| failed.0),
            None => Err(callback),
        }
    }
}

impl<C: RaftTypeConfig> Drop for WalSyncer<C> {
    fn drop(&mut self) {
        // Closing the queue ends the thread after its current round.
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("raft log sync thread panicked");
            }
        }
    }
}

fn sync_rounds<C: RaftTypeConfig>(db: &DB, pending: &Receiver<LogFlushed<C>>) {
    while let Ok(first) = pending.recv() {
        let mut group = vec![first];
        group.extend(pending.try_iter());
        let synced = db.flush_wal(true);
        if let Err(error) = &synced {
            tracing::error!(%error, appends = group.len(), "raft log sync failed");
        }
        for callback in group {
            let outcome = match &synced {
                Ok(()) => Ok(()),
                Err(error) => Err(io::Error::other(error.to_string())),
            };
            callback.log_io_completed(outcome);
        }
    }
}
