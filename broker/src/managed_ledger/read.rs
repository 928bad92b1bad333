//! The read path of a managed ledger: entry cache, then the tail buffer of
//! the newest entries, then the ledger store (closed ledgers opened once,
//! non-fencing, and kept in a small handle cache).

use std::sync::Arc;

use bytes::Bytes;
use magnetar_bookie::{LedgerError, LedgerReader, OpenMode};

use super::inner::MlInner;
use super::{Entry, ManagedLedgerError, Position};
use crate::metrics;

impl MlInner {
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
            .layout
            .read()
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
                None => match self.tail_entry(position) {
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
        match self.read_from_store(ledger_id, next, last).await {
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

    async fn read_from_store(
        &self,
        ledger_id: u64,
        first: i64,
        last: i64,
    ) -> Result<Vec<Bytes>, ManagedLedgerError> {
        let reader = self.reader(ledger_id).await?;
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
        if let Some(reader) = self.cached_reader(ledger_id) {
            return Ok(reader);
        }
        let reader = self
            .store
            .open(
                ledger_id,
                self.config.password.clone(),
                OpenMode::NoRecovery,
            )
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
}
