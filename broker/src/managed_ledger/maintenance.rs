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
//! trimmed. Retention is 0: consumed ledgers go at the next pass.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::inner::{MlInner, Status};
use super::ManagedLedgerError;

pub(crate) async fn run(inner: Arc<MlInner>) {
    let mut ticker = tokio::time::interval(inner.config.cursor_flush_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = inner.shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        if inner.status() != Status::Open {
            break;
        }
        flush_dirty_cursors(&inner).await;
        if inner.trim_requested.swap(false, Ordering::AcqRel) {
            if let Err(error) = trim_consumed_ledgers(&inner).await {
                tracing::warn!(managed_ledger = %inner.name, error = %error, "trimming failed");
                inner.request_trim();
            }
        }
        evict_read_entries(&inner);
    }
}

async fn flush_dirty_cursors(inner: &MlInner) {
    for cursor in inner.cursor_snapshot() {
        if !cursor.is_dirty() {
            continue;
        }
        if let Err(error) = cursor.flush().await {
            tracing::warn!(managed_ledger = %inner.name, cursor = cursor.name(), error = %error, "cursor flush failed");
        }
    }
}

/// Removes ledgers whose every entry is at or below the slowest persisted
/// mark-delete (all ledgers before the current one when there are no
/// cursors). Returns the removed ledger ids.
pub(crate) async fn trim_consumed_ledgers(inner: &MlInner) -> Result<Vec<u64>, ManagedLedgerError> {
    let mut list_state = inner.list.lock().await;
    let slowest = inner
        .cursor_snapshot()
        .iter()
        .map(|c| c.persisted_mark_delete_offset())
        .min()
        .unwrap_or_else(|| inner.layout.read().last_confirmed_offset());
    let doomed: Vec<u64> = {
        let layout = inner.layout.read();
        let slots = layout.slots();
        let Some((_, closed)) = slots.split_last() else {
            return Ok(Vec::new());
        };
        closed
            .iter()
            .filter(|s| s.base + s.entries - 1 <= slowest)
            .map(|s| s.ledger_id)
            .collect()
    };
    if doomed.is_empty() {
        return Ok(doomed);
    }
    let mut list = list_state.list.clone();
    list.ledgers.retain(|l| !doomed.contains(&l.ledger_id));
    inner.cas_list(&mut list_state, list).await?;
    inner.layout.write().remove_ledgers(&doomed);
    drop(list_state);
    for &ledger_id in &doomed {
        inner.forget_ledger(ledger_id);
        if let Err(error) = inner.store.delete(ledger_id).await {
            tracing::warn!(managed_ledger = %inner.name, ledger_id, error = %error, "could not delete trimmed ledger");
        }
    }
    tracing::info!(managed_ledger = %inner.name, ledgers = ?doomed, "trimmed consumed ledgers");
    Ok(doomed)
}

/// Evicts cached entries below every cursor's read position.
fn evict_read_entries(inner: &MlInner) {
    let Some(slowest_read) = inner
        .cursor_snapshot()
        .iter()
        .map(|c| c.read_offset())
        .min()
    else {
        return;
    };
    let layout = inner.layout.read();
    for slot in layout.slots() {
        if slot.base >= slowest_read {
            break;
        }
        inner
            .cache
            .evict_up_to(slot.ledger_id, slowest_read - 1 - slot.base);
    }
}
