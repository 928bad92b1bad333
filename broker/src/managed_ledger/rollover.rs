//! Rollover, part of the writer task: replacing the current ledger with a
//! new one.
//!
//! Never abandon a writable ledger for one that cannot be created: before a
//! full ledger is rolled over, the store must report at least `E` writable
//! bookies, and the new ledger is created *before* the current one is
//! closed. When either fails the task stays on the current ledger
//! (`RolloverDue`) and checks again on a backoff, so a ledger may exceed
//! its size limits while bookies are short.
//!
//! Durability order of the switch: settle every in-flight add of the old
//! ledger, close it (fixing its final length on the bookies), CAS the
//! ledger list naming the new ledger, and only then append to the new
//! ledger. Adds that arrive meanwhile wait in the channel.

use std::sync::Arc;
use std::time::Duration;

use magnetar_bookie::{LedgerError, LedgerOptions, LedgerWriter};
use tokio::time::Instant;

use super::condition_log::format_duration;
use super::config::ManagedLedgerConfig;
use super::error::ManagedLedgerError;
use super::status::Status;
use super::stored::{now_millis, StoredLedger};
use super::write_state::WriterState;
use super::writer::MlWriterTask;

/// Longest wait for the store's count of writable bookies.
const WRITABLE_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) fn ledger_options(name: &str, config: &ManagedLedgerConfig) -> LedgerOptions {
    LedgerOptions {
        ensemble_size: config.ensemble_size,
        write_quorum: config.write_quorum,
        ack_quorum: config.ack_quorum,
        password: config.password.clone(),
        custom: [("managed-ledger".to_string(), name.to_string())]
            .into_iter()
            .collect(),
    }
}

impl MlWriterTask {
    /// Rolls the full current ledger over if a new one can be created now;
    /// else stays on it and checks again later.
    pub(super) async fn roll_over_if_possible(&mut self) {
        let now = Instant::now();
        if let WriterState::RolloverDue { next_try } = self.state {
            if now < next_try {
                return;
            }
        }
        let needed = self.config.ensemble_size as usize;
        match tokio::time::timeout(WRITABLE_CHECK_TIMEOUT, self.store.writable_bookies()).await {
            Ok(Ok(writable)) if writable >= needed => {}
            Ok(Ok(writable)) => {
                return self.postpone(now, format!("{writable} of {needed} bookies writable"))
            }
            Ok(Err(error)) => {
                return self.postpone(now, format!("counting writable bookies failed: {error}"))
            }
            Err(_) => return self.postpone(now, "counting writable bookies timed out".into()),
        }
        self.drain().await;
        if self.writer.is_none() || !self.state.is_writable() {
            return; // an add failed meanwhile: the NoWriter path replaces the ledger
        }
        let options = ledger_options(self.name(), &self.config);
        let writer = match self.store.create(options).await {
            Ok(writer) => writer,
            Err(source) => {
                self.monitor.create_failed();
                return self.postpone(now, format!("creating a ledger failed: {source}"));
            }
        };
        let new_id = writer.id();
        match self.switch_to(writer).await {
            Ok(()) => {
                tracing::info!(managed_ledger = %self.name(), ledger_id = new_id, "rolled over to a new ledger");
                self.state = WriterState::Writing;
                self.rollover_backoff.reset();
                self.monitor.rollover_done(Instant::now());
            }
            Err(error) if self.status.get() == Status::Open => {
                self.enter_no_writer(format!("rollover failed: {error}"), 0);
            }
            Err(_) => {} // fenced: every later add fails
        }
    }

    /// Keeps writing to the full current ledger; `why` a new one cannot be made.
    fn postpone(&mut self, now: Instant, why: String) {
        let delay = self.rollover_backoff.next_delay();
        self.state = WriterState::RolloverDue {
            next_try: now + delay,
        };
        let ledger_id = self.writer.as_ref().map_or(0, |w| w.id());
        let entries = self.submitted_entries;
        self.monitor.rollover_postponed(now, || {
            format!(
                "ledger {ledger_id} is full ({entries} entries) but no new ledger can be made: {why}; \
                 still writing to it, next check in {}",
                format_duration(delay)
            )
        });
    }

    /// Makes `writer`'s ledger the current one: closes the current writer
    /// (if any), records final lengths, drops the previous ledger if it
    /// stayed empty, CASes the list and starts the ledger in the layout. On
    /// an error the new ledger is deleted and there is no current writer.
    pub(super) async fn switch_to(
        &mut self,
        writer: Arc<dyn LedgerWriter>,
    ) -> Result<(), ManagedLedgerError> {
        let new_id = writer.id();
        if let Err(error) = self.close_writer().await {
            self.delete_orphan(new_id).await;
            return Err(error);
        }
        let old_id = self.log.log().layout().current().map(|slot| slot.ledger_id);
        let mut list_guard = self.list.lock().await;
        let mut list = list_guard.current().clone();
        self.record_final_lengths(&mut list.ledgers);
        let empty_old: Vec<u64> = list
            .ledgers
            .iter()
            .filter(|l| Some(l.ledger_id) == old_id && l.entries == 0)
            .map(|l| l.ledger_id)
            .collect();
        list.ledgers.retain(|l| !empty_old.contains(&l.ledger_id));
        list.ledgers.push(StoredLedger {
            ledger_id: new_id,
            entries: 0,
            size: 0,
            timestamp: now_millis(),
        });
        if let Err(error) = list_guard.cas(list).await {
            drop(list_guard);
            self.delete_orphan(new_id).await;
            return Err(error);
        }
        self.log.start_ledger(new_id, &empty_old);
        drop(list_guard);
        for id in empty_old {
            if let Err(e) = self.store.delete(id).await {
                tracing::warn!(managed_ledger = %self.name(), ledger_id = id, error = %e, "could not delete empty ledger");
            }
        }
        self.writer = Some(writer);
        self.ledger_opened_at = Instant::now();
        self.submitted_entries = 0;
        self.submitted_bytes = 0;
        Ok(())
    }

    async fn delete_orphan(&mut self, ledger_id: u64) {
        let store = Arc::clone(&self.store);
        if let Err(e) = store.delete(ledger_id).await {
            tracing::warn!(managed_ledger = %self.name(), ledger_id, error = %e, "could not delete orphan ledger");
        }
    }

    /// Copies the confirmed entry counts of the layout into the stored list.
    pub(super) fn record_final_lengths(&self, ledgers: &mut [StoredLedger]) {
        let layout = self.log.log().layout();
        for slot in layout.slots() {
            if let Some(stored) = ledgers.iter_mut().find(|l| l.ledger_id == slot.ledger_id) {
                if stored.entries != slot.entries as u64 || stored.size != slot.size {
                    stored.entries = slot.entries as u64;
                    stored.size = slot.size;
                    stored.timestamp = now_millis();
                }
            }
        }
    }

    /// Closes the current ledger writer, keeping the layout's confirmed
    /// counts (the writer closes at its LAC, which is what was confirmed).
    pub(super) async fn close_writer(&mut self) -> Result<(), ManagedLedgerError> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        match writer.close().await {
            Ok(closed) => {
                tracing::debug!(managed_ledger = %self.name(), ledger_id = closed.ledger_id, last_entry_id = closed.last_entry_id, "closed ledger");
                Ok(())
            }
            Err(LedgerError::Fenced(_)) => {
                self.status.set_fenced();
                Err(self.status.fenced())
            }
            Err(e) => {
                // The ledger stays open on the bookies; its confirmed prefix is
                // what the list records, and nothing beyond it was acknowledged.
                tracing::warn!(managed_ledger = %self.name(), ledger_id = writer.id(), error = %e, "closing ledger failed");
                Ok(())
            }
        }
    }
}
