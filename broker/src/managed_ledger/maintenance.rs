//! The per-managed-ledger maintenance task: every `cursor_flush_interval`
//! it persists dirty cursors, trims consumed ledgers when a mark-delete
//! moved, and evicts cached entries every cursor has read past.
//!
//! Trimming order (ML-5): the ledger list without the consumed ledgers is
//! CASed first, and only then are the ledgers deleted from the ledger store;
//! a crash in between leaks ledgers but never leaves the list pointing at
//! deleted ones. Trimming trusts only *persisted* mark-delete positions, so
//! after a crash no cursor can point below the first retained ledger by more
//! than what it had already acknowledged. The current ledger is never
//! trimmed. Consumed ledgers go oldest first as the retention allows
//! (by default at the next pass); with a time limit, every pass checks
//! whether more have aged out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use magnetar_bookie::LedgerStore;

use super::confirmed::ConfirmedLog;
use super::cursor_context::TrimRequest;
use super::cursor_set::CursorSet;
use super::error::ManagedLedgerError;
use super::list::LedgerList;
use super::read::EntryReader;
use super::status::{MlStatus, Status};
use super::stored::now_millis;

/// The maintenance task of one managed ledger.
pub(crate) struct Maintenance {
    pub status: Arc<MlStatus>,
    pub interval: Duration,
    pub store: Arc<dyn LedgerStore>,
    pub list: Arc<LedgerList>,
    pub log: Arc<ConfirmedLog>,
    pub reads: Arc<EntryReader>,
    pub cursors: Arc<CursorSet>,
    pub trim: Arc<TrimRequest>,
}

impl Maintenance {
    pub async fn run(self) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.status.shut_down() => break,
                _ = ticker.tick() => {}
            }
            if self.status.get() != Status::Open {
                break;
            }
            self.flush_dirty_cursors().await;
            if self.trim.retention().time.is_some_and(|t| !t.is_zero()) {
                // Consumed ledgers age out without any ack moving.
                self.trim.request();
            }
            if self.trim.take() {
                if let Err(error) = self.trim_consumed_ledgers().await {
                    tracing::warn!(managed_ledger = %self.status.name(), error = %error, "trimming failed");
                    self.trim.request();
                }
            }
            self.evict_read_entries();
        }
    }

    async fn flush_dirty_cursors(&self) {
        for cursor in self.cursors.snapshot() {
            if !cursor.is_dirty() {
                continue;
            }
            if let Err(error) = cursor.flush().await {
                tracing::warn!(managed_ledger = %self.status.name(), cursor = cursor.name(), error = %error, "cursor flush failed");
            }
        }
    }

    /// Removes ledgers whose every entry is at or below the slowest persisted
    /// mark-delete (all ledgers before the current one when there are no
    /// cursors), oldest first, as far as the retention lets them go.
    /// Returns the removed ledger ids.
    async fn trim_consumed_ledgers(&self) -> Result<Vec<u64>, ManagedLedgerError> {
        let mut list_guard = self.list.lock().await;
        let slowest = self
            .cursors
            .snapshot()
            .iter()
            .map(|c| c.persisted_mark_delete_offset())
            .min()
            .unwrap_or_else(|| self.log.layout().last_confirmed_offset());
        let consumed: Vec<(u64, u64)> = {
            let layout = self.log.layout();
            let slots = layout.slots();
            let Some((_, closed)) = slots.split_last() else {
                return Ok(Vec::new());
            };
            closed
                .iter()
                .take_while(|s| s.base + s.entries - 1 <= slowest)
                .map(|s| (s.ledger_id, s.size))
                .collect()
        };
        let retention = self.trim.retention();
        let closed_at: HashMap<u64, u64> = list_guard
            .current()
            .ledgers
            .iter()
            .map(|l| (l.ledger_id, l.timestamp))
            .collect();
        let now_ms = now_millis();
        let mut kept_bytes: u64 = consumed.iter().map(|(_, size)| size).sum();
        let mut doomed = Vec::new();
        for (ledger_id, size) in consumed {
            let closed_ms = closed_at.get(&ledger_id).copied().unwrap_or(now_ms);
            if !retention.releases(now_ms, closed_ms, kept_bytes) {
                break;
            }
            doomed.push(ledger_id);
            kept_bytes -= size;
        }
        if doomed.is_empty() {
            return Ok(doomed);
        }
        let mut list = list_guard.current().clone();
        list.ledgers.retain(|l| !doomed.contains(&l.ledger_id));
        list_guard.cas(list).await?;
        self.log.remove_trimmed(&doomed);
        drop(list_guard);
        for &ledger_id in &doomed {
            self.reads.forget_ledger(ledger_id);
            if let Err(error) = self.store.delete(ledger_id).await {
                tracing::warn!(managed_ledger = %self.status.name(), ledger_id, error = %error, "could not delete trimmed ledger");
            }
        }
        tracing::info!(managed_ledger = %self.status.name(), ledgers = ?doomed, "trimmed consumed ledgers");
        Ok(doomed)
    }

    /// Evicts cached entries below every cursor's read position.
    fn evict_read_entries(&self) {
        let Some(slowest_read) = self
            .cursors
            .snapshot()
            .iter()
            .map(|c| c.read_offset())
            .min()
        else {
            return;
        };
        let layout = self.log.layout();
        for slot in layout.slots() {
            if slot.base >= slowest_read {
                break;
            }
            self.reads
                .evict_read(slot.ledger_id, slowest_read - 1 - slot.base);
        }
    }
}
