//! Reading the compacted view (`read_compacted`, Exclusive and Failover):
//! while the subscription's next position is at or before the compaction
//! horizon, entries come from the compacted ledger, under their original
//! positions; past it, from the cursor as usual.
//!
//! The next position in the compacted view is kept here, because the
//! cursor cannot name positions of ledgers trimmed since compaction. It
//! restarts after every rewind (a new epoch): at the cursor's read
//! position, or, while the subscription has acknowledged nothing the
//! topic still holds, where it started (a reader's start, or the very
//! beginning for a subscription at Earliest): the cursor cannot tell what
//! of the view in trimmed ledgers it had, so it gets it again (at least
//! once). A SEEK restarts it at the position sought.

use std::sync::Arc;

use crate::compaction::CompactedView;
use crate::managed_ledger::{Entry, Position};

use super::state::unix_millis;
use super::{Dispatcher, Progress, READ_RETRY_DELAY};

/// A subscription's progress through the compacted view.
pub(super) struct CompactedRead {
    view: Arc<CompactedView>,
    /// Where a restart goes while nothing retained is acknowledged.
    start: Option<Position>,
    /// The next position to read in the compacted view (`None`: the
    /// cursor's read position).
    next: Option<Position>,
    /// The dispatcher epoch `next` belongs to.
    epoch: u64,
}

impl Dispatcher {
    /// Reads the compacted view from now on (`Some`), or the topic only.
    /// `start`: where the subscription started, for a reader or a
    /// subscription at Earliest.
    pub fn read_compacted(&self, view: Option<Arc<CompactedView>>, start: Option<Position>) {
        let epoch = self.state.lock().epoch;
        *self.compacted.lock() = view.map(|view| CompactedRead {
            view,
            start,
            next: None,
            epoch: epoch.wrapping_sub(1),
        });
        self.wake.notify_one();
    }

    pub fn is_read_compacted(&self) -> bool {
        self.compacted.lock().is_some()
    }

    /// The compacted view this subscription reads, if it does.
    pub fn compacted_view(&self) -> Option<Arc<CompactedView>> {
        self.compacted.lock().as_ref().map(|c| c.view.clone())
    }

    /// A SEEK to `position` in epoch `epoch`: the compacted view is read
    /// from there.
    pub(super) fn seek_compacted(&self, position: Position, epoch: u64) {
        if let Some(read) = self.compacted.lock().as_mut() {
            read.next = Some(position);
            read.epoch = epoch;
        }
    }

    /// One read from the compacted view, when the subscription is in it;
    /// `None` when the cursor should be read instead.
    pub(super) async fn dispatch_compacted(&self, budget: usize, epoch: u64) -> Option<Progress> {
        let (ledger, from) = {
            let mut compacted = self.compacted.lock();
            let read = compacted.as_mut()?;
            let ledger = read.view.current()?;
            if read.epoch != epoch {
                let nothing_acked = self.cursor.mark_delete_position().entry_id < 0;
                read.next = if nothing_acked { read.start } else { None };
                read.epoch = epoch;
            }
            let from = read.next.unwrap_or_else(|| self.cursor.read_position());
            if from > ledger.info().horizon {
                // Past the view: on with the topic after the horizon.
                read.next = None;
                self.cursor.skip_reading_past(ledger.info().horizon);
                return None;
            }
            (ledger, from)
        };
        let horizon = ledger.info().horizon;
        let entries = match ledger.read_from(from, budget).await {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(%error, "compacted read failed, retrying");
                tokio::time::sleep(READ_RETRY_DELAY).await;
                return Some(Progress::Busy);
            }
        };
        let mut state = self.state.lock();
        let mut compacted = self.compacted.lock();
        let Some(read) = compacted.as_mut() else {
            return Some(Progress::Busy);
        };
        if state.epoch != epoch || read.epoch != epoch {
            // A rewind or a seek raced with this read.
            return Some(Progress::Busy);
        }
        let Some(last) = entries.last().map(|e| e.position) else {
            // Past the view's last entry: on with the topic after the
            // horizon.
            read.next = None;
            self.cursor.skip_reading_past(horizon);
            return Some(Progress::Busy);
        };
        let entries: Vec<Entry> = entries
            .into_iter()
            .filter(|e| !self.acked_retained(e.position))
            .collect();
        let ack_sets = self.cursor.batch_ack_sets(&entries);
        let unsent = if entries.is_empty() {
            None
        } else {
            state.distribute(entries, unix_millis(), &ack_sets)
        };
        read.next = Some(unsent.unwrap_or(Position::new(last.ledger_id, last.entry_id + 1)));
        Some(Progress::Busy)
    }

    /// Acknowledged, in a ledger the topic still holds (positions of
    /// trimmed ledgers count as not acknowledged here: the compacted view
    /// is all that is left of them).
    fn acked_retained(&self, position: Position) -> bool {
        let first = self.ledger.ledgers().first().map(|l| l.0);
        first.is_some_and(|first| position.ledger_id >= first) && self.cursor.is_acked(position)
    }
}
