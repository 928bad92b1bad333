//! The read path of a managed ledger: entry cache, then the tail buffer of
//! the newest entries, then the ledger store (closed ledgers opened once,
//! non-fencing, and kept in a small handle cache).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use magnetar_bookie::{LedgerError, LedgerReader, LedgerStore, OpenMode};
use parking_lot::Mutex;

use super::confirmed::ConfirmedLog;
use super::entry_cache::EntryCache;
use super::error::ManagedLedgerError;
use super::position::{Entry, Position};
use crate::metrics;

/// Open read handles kept per managed ledger.
const MAX_READ_HANDLES: usize = 16;

/// Reads the confirmed entries of one managed ledger.
pub(crate) struct EntryReader {
    name: String,
    password: Bytes,
    store: Arc<dyn LedgerStore>,
    cache: Arc<EntryCache>,
    log: Arc<ConfirmedLog>,
    readers: Mutex<HashMap<u64, Arc<dyn LedgerReader>>>,
}

impl EntryReader {
    pub fn new(
        name: &str,
        password: Bytes,
        store: Arc<dyn LedgerStore>,
        cache: Arc<EntryCache>,
        log: Arc<ConfirmedLog>,
    ) -> Self {
        EntryReader {
            name: name.to_string(),
            password,
            store,
            cache,
            log,
            readers: Mutex::new(HashMap::new()),
        }
    }

    /// Reads one entry.
    pub async fn read_entry(&self, position: Position) -> Result<Entry, ManagedLedgerError> {
        let mut entries = self
            .read_run(position.ledger_id, position.entry_id, position.entry_id)
            .await?;
        entries
            .pop()
            .ok_or(ManagedLedgerError::NoSuchEntry(position))
    }

    /// Reads entries `first..=last` of one ledger. May return a prefix when
    /// the tail of the range is not readable yet; errors only when nothing is.
    pub async fn read_run(
        &self,
        ledger_id: u64,
        first: i64,
        last: i64,
    ) -> Result<Vec<Entry>, ManagedLedgerError> {
        let known = self
            .log
            .layout()
            .slots()
            .iter()
            .find(|s| s.ledger_id == ledger_id)
            .map(|s| s.entries);
        match known {
            Some(entries) if first >= 0 && last < entries && first <= last => {}
            _ => {
                return Err(ManagedLedgerError::NoSuchEntry(Position::new(
                    ledger_id, first,
                )))
            }
        }
        let mut out = Vec::with_capacity((last - first + 1) as usize);
        let mut next = first;
        while next <= last {
            let position = Position::new(ledger_id, next);
            let data = match self.cache.get(position) {
                Some(data) => {
                    metrics::ENTRY_CACHE_HITS.inc();
                    data
                }
                None => match self.log.tail_entry(position) {
                    Some(entry) => entry.data,
                    None => break,
                },
            };
            out.push(Entry { position, data });
            next += 1;
        }
        if next > last {
            return Ok(out);
        }
        metrics::ENTRY_CACHE_MISSES.inc();
        let confirmed = known.map_or(-1, |entries| entries - 1);
        match self.read_from_store(ledger_id, next, last, confirmed).await {
            Ok(data) => {
                out.extend(data.into_iter().zip(next..).map(|(data, entry_id)| Entry {
                    position: Position::new(ledger_id, entry_id),
                    data,
                }));
                Ok(out)
            }
            Err(error) if out.is_empty() => Err(error),
            Err(error) => {
                tracing::debug!(managed_ledger = %self.name, ledger_id, error = %error, "partial read");
                Ok(out)
            }
        }
    }

    /// Reads from the bookies. `confirmed`: the last entry of the ledger
    /// this managed ledger confirmed, readable whatever LAC the bookies know.
    async fn read_from_store(
        &self,
        ledger_id: u64,
        first: i64,
        last: i64,
        confirmed: i64,
    ) -> Result<Vec<Bytes>, ManagedLedgerError> {
        let reader = self.reader(ledger_id).await?;
        reader.confirmed_up_to(confirmed);
        let mut readable = reader.readable_up_to();
        if readable < last && reader.closed().is_none() {
            readable = reader.refresh_lac().await?;
        }
        let last = last.min(readable);
        if last < first {
            return Err(ManagedLedgerError::NoSuchEntry(Position::new(
                ledger_id, first,
            )));
        }
        reader.read(first, last).await.map_err(|e| match e {
            LedgerError::NoSuchEntry {
                ledger_id,
                entry_id,
            } => ManagedLedgerError::NoSuchEntry(Position::new(ledger_id, entry_id)),
            other => ManagedLedgerError::Ledger(other),
        })
    }

    async fn reader(&self, ledger_id: u64) -> Result<Arc<dyn LedgerReader>, ManagedLedgerError> {
        if let Some(reader) = self.readers.lock().get(&ledger_id).cloned() {
            return Ok(reader);
        }
        let reader = self
            .store
            .open(ledger_id, self.password.clone(), OpenMode::NoRecovery)
            .await
            .map_err(|e| match e {
                LedgerError::NoSuchLedger(id) => {
                    ManagedLedgerError::NoSuchEntry(Position::before_ledger(id))
                }
                other => ManagedLedgerError::Ledger(other),
            })?;
        self.keep_reader(reader.clone());
        Ok(reader)
    }

    /// Keeps `reader` for later reads of its ledger.
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

    /// Evicts cached entries of `ledger_id` up to `entry_id`: every cursor
    /// has read past them.
    pub fn evict_read(&self, ledger_id: u64, entry_id: i64) {
        self.cache.evict_up_to(ledger_id, entry_id);
    }

    /// Drops the read handle and the cached entries of a trimmed ledger.
    pub fn forget_ledger(&self, ledger_id: u64) {
        self.readers.lock().remove(&ledger_id);
        self.cache.evict_ledger(ledger_id);
    }
}
