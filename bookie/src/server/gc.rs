//! Garbage collection: drops ledgers deleted from the metadata store and
//! compacts entry logs that are mostly dead.
//!
//! 1. Ledger GC: every locally stored ledger whose `/ledgers/<id>` key is
//!    absent (a definite `Ok(None)`; store errors never delete anything) is
//!    removed from the ledger table, the write cache and the index.
//! 2. Entry-log GC: per entry log, live bytes (from index locations) over
//!    file size. A log with no live bytes is deleted; one below
//!    `compaction_threshold` is compacted: its live records are copied to
//!    the current entry log, the entry log is fsynced, the index is pointed
//!    at the copies (synced commit), and only then is the old file deleted.
//!
//! The current entry log is never collected. GC holds the storage flush
//! lock, so checkpoints and GC never rewrite locations concurrently.
//!
//! Caveat: a deleted ledger whose journal records are still after the
//! checkpoint mark reappears after a restart's replay; the next GC run
//! removes it again.

use std::collections::HashMap;
use std::sync::Arc;

use magnetar_metadata::MetadataStore;
use tokio_util::sync::CancellationToken;

use super::bookie::Bookie;
use super::config::BookieConfig;
use super::entry_log::entry_log_path;
use super::error::{BookieError, StorageError};
use super::index::Location;
use super::record::{scan_records, RECORD_HEADER_LEN};
use super::storage::LedgerStorage;
use crate::keys::ledger_key;

/// What one GC run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub deleted_ledgers: usize,
    pub deleted_logs: usize,
    pub compacted_logs: usize,
    pub moved_entries: usize,
}

/// Runs ledger GC and entry-log compaction once.
pub async fn run_gc_once(
    bookie: &Arc<Bookie>,
    metadata: &dyn MetadataStore,
    compaction_threshold: f64,
    max_body_len: usize,
) -> Result<GcReport, BookieError> {
    let mut deleted = Vec::new();
    for ledger_id in bookie.storage.ledgers.ledger_ids() {
        match metadata.get(&ledger_key(ledger_id)).await {
            Ok(None) => deleted.push(ledger_id),
            Ok(Some(_)) => {}
            Err(err) => {
                tracing::warn!(ledger_id, error = %err, "gc cannot check ledger metadata; keeping the ledger");
            }
        }
    }
    let storage = bookie.storage.clone();
    tokio::task::spawn_blocking(move || {
        collect(&storage, &deleted, compaction_threshold, max_body_len)
    })
    .await
    .map_err(|e| BookieError::TaskFailed(e.to_string()))?
    .map_err(BookieError::from)
}

/// Runs [`run_gc_once`] every `gc_interval` until cancelled.
pub async fn run_gc(
    bookie: Arc<Bookie>,
    metadata: Arc<dyn MetadataStore>,
    config: BookieConfig,
    cancel: CancellationToken,
) {
    let max_body_len = config.max_entry_size + RECORD_HEADER_LEN;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(config.gc_interval) => {}
        }
        match run_gc_once(
            &bookie,
            metadata.as_ref(),
            config.compaction_threshold,
            max_body_len,
        )
        .await
        {
            Ok(report) => tracing::info!(?report, "gc run complete"),
            Err(err) => tracing::warn!(error = %err, "gc run failed"),
        }
    }
}

fn collect(
    storage: &LedgerStorage,
    deleted: &[u64],
    compaction_threshold: f64,
    max_body_len: usize,
) -> Result<GcReport, StorageError> {
    let _exclusive = storage.flush_lock.lock();
    let mut report = GcReport::default();
    if !deleted.is_empty() {
        let mut batch = storage.index.batch();
        for &ledger_id in deleted {
            storage.index.delete_ledger(&mut batch, ledger_id);
        }
        storage.index.commit(batch)?;
        for &ledger_id in deleted {
            storage.ledgers.remove(ledger_id);
            storage.cache.remove_ledger(ledger_id);
            tracing::info!(ledger_id, "gc removed deleted ledger");
        }
        report.deleted_ledgers = deleted.len();
    }
    let live = storage.index.live_bytes_per_log()?;
    let current = storage.logs.current_id();
    for log_id in super::entry_log::EntryLogs::list_ids(storage.logs.dir())? {
        if log_id >= current {
            continue;
        }
        let size = storage.logs.file_size(log_id)?;
        let live_bytes = live.get(&log_id).copied().unwrap_or(0);
        if live_bytes == 0 {
            storage.logs.delete(log_id)?;
            report.deleted_logs += 1;
            tracing::info!(
                log_id,
                bytes = size,
                "gc deleted entry log with no live entries"
            );
        } else if size > 0 && (live_bytes as f64 / size as f64) < compaction_threshold {
            report.moved_entries += compact_log(storage, log_id, max_body_len)?;
            storage.logs.delete(log_id)?;
            report.compacted_logs += 1;
            tracing::info!(log_id, live_bytes, bytes = size, "gc compacted entry log");
        }
    }
    Ok(report)
}

/// Copies the live records of `log_id` to the current entry log and
/// repoints the index. Returns how many entries moved. The old file is left
/// for the caller to delete once this returned `Ok`.
fn compact_log(
    storage: &LedgerStorage,
    log_id: u64,
    max_body_len: usize,
) -> Result<usize, StorageError> {
    let path = entry_log_path(storage.logs.dir(), log_id);
    let mut live_records = Vec::new();
    let mut lookup_error = None;
    let outcome = scan_records(&path, 0, max_body_len, |record, offset| {
        match storage.index.location(record.ledger_id, record.entry_id) {
            Ok(Some(location)) if location.log_id == log_id && location.offset == offset => {
                live_records.push(record)
            }
            Ok(_) => {}
            Err(err) => lookup_error = Some(err),
        }
    })
    .map_err(|e| StorageError::io(&path, e))?;
    if let Some(err) = lookup_error {
        return Err(err);
    }
    if outcome.dropped_bytes > 0 {
        tracing::warn!(
            log_id,
            offset = outcome.valid_end,
            bytes = outcome.dropped_bytes,
            "entry log has an unreadable tail"
        );
    }
    let mut moved: HashMap<(u64, i64), Location> = HashMap::new();
    for record in &live_records {
        let location = storage
            .logs
            .append(record.ledger_id, record.entry_id, &record.data)?;
        moved.insert((record.ledger_id, record.entry_id), location);
    }
    // The copies are durable before the index points at them, and the index
    // points at them before the old log is deleted.
    storage.logs.sync()?;
    let mut batch = storage.index.batch();
    for ((ledger_id, entry_id), location) in &moved {
        storage
            .index
            .put_location(&mut batch, *ledger_id, *entry_id, *location);
    }
    storage.index.commit(batch)?;
    Ok(moved.len())
}
