//! Termination, part of the writer task: the log ends at its last
//! confirmed entry, for good (Pulsar's terminated managed ledger).
//!
//! Order: adds already handed to the ledger writer settle first (confirmed
//! or failed); adds held while no ledger was writable were never written
//! and fail with `Terminated`, as does every add after the command. The
//! terminated position is then stored with the ledger list (CAS), so it
//! holds across restarts and moves of the topic, and only then published
//! through the status. Last, the current ledger is closed and no new one
//! is ever created: a terminated managed ledger opens without a writer.

use tokio::time::Instant;

use super::error::ManagedLedgerError;
use super::position::Position;
use super::write_state::WriterState;
use super::writer::MlWriterTask;

impl MlWriterTask {
    /// Terminates the managed ledger and returns its last entry (`(L, -1)`
    /// when it holds none); the same position again when it already is.
    pub(super) async fn terminate(&mut self) -> Result<Position, ManagedLedgerError> {
        if let Some(position) = self.status.terminated() {
            return Ok(position);
        }
        if let Some(error) = self.status.error() {
            return Err(error);
        }
        self.drain().await;
        let held = self.held.take_all();
        if !held.is_empty() {
            self.monitor.set_held(0);
            for add in held {
                let _ = add.reply.send(Err(self.status.terminated_error()));
            }
        }
        if let Some(error) = self.status.error() {
            return Err(error);
        }
        let position = {
            let layout = self.log.log().layout();
            layout.position_of(layout.last_confirmed_offset())
        };
        {
            let mut list_guard = self.list.lock().await;
            let mut list = list_guard.current().clone();
            self.record_final_lengths(&mut list.ledgers);
            list.terminated_at = Some(position);
            list_guard.cas(list).await?;
        }
        self.status.set_terminated(position);
        tracing::info!(managed_ledger = %self.name(), %position, "terminated");
        self.close_failed_writer().await;
        if let Err(error) = self.close_writer().await {
            // Stored already: whoever opens the list next finds it terminated.
            tracing::debug!(managed_ledger = %self.name(), %error, "closing the last ledger after termination failed");
        }
        // Nothing is written any more: no rollover, no creation retries.
        let now = Instant::now();
        if !matches!(self.state, WriterState::Writing) {
            self.state = WriterState::Writing;
            self.monitor.rollover_done(now);
            self.monitor.writable_again(now);
        }
        self.monitor.observe_health(now, 0, None);
        Ok(position)
    }
}
