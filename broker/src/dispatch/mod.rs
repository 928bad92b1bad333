//! Dispatchers: one task per subscription that moves entries from the
//! subscription's cursor to its consumers.
//!
//! Design: a single task per subscription owns all reads from the cursor,
//! so there is never more than one read in flight and the cursor's read
//! position has one writer. Everything else (FLOW, acks, redelivery,
//! consumers joining or leaving) only updates [`DispatchState`] under a lock
//! and wakes the task. The task reads only as much as the consumers' permits
//! allow (at most [`MAX_READ_ENTRIES`] / [`MAX_READ_BYTES`] per read), serves
//! the replay set before new entries, and when caught up sleeps until a
//! wake-up or a new last-confirmed position (`watch_last_confirmed`).
//!
//! Rewinds (Exclusive redelivery, a new Exclusive consumer) bump an epoch;
//! a read that started before the rewind is discarded and the cursor is
//! rewound again, because the completed read has moved the read position
//! past the entries the rewind wanted back.
//!
//! The subscription type only changes [`DispatchState::distribute`] and the
//! redelivery rules, which is where Failover and Key_Shared will slot in.

mod state;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use thiserror::Error;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use state::{DispatchState, ROUND_ROBIN_BATCH};

use crate::consumer::{Consumer, SubscriptionType};
use crate::managed_ledger::{ManagedCursor, ManagedLedger, ManagedLedgerError, Position};

/// Most entries fetched by one cursor read.
pub const MAX_READ_ENTRIES: usize = 100;
/// Approximate byte bound of one cursor read.
pub const MAX_READ_BYTES: usize = 5 * 1024 * 1024;
/// Pause after a failed read before trying again.
const READ_RETRY_DELAY: Duration = Duration::from_millis(100);

/// An Exclusive subscription refused a second consumer.
#[derive(Debug, Error)]
#[error("subscription {subscription:?} already has an exclusive consumer")]
pub struct ExclusiveTaken {
    pub subscription: String,
}

enum Progress {
    /// Something happened; try again right away.
    Busy,
    /// Nothing to do until a wake-up or new entries.
    Idle,
}

pub struct Dispatcher {
    subscription: String,
    cursor: Arc<ManagedCursor>,
    ledger: Arc<ManagedLedger>,
    state: Mutex<DispatchState>,
    wake: Notify,
    cancel: CancellationToken,
}

impl Dispatcher {
    /// Creates the dispatcher and spawns its task.
    pub fn start(
        mode: SubscriptionType,
        subscription: String,
        cursor: Arc<ManagedCursor>,
        ledger: Arc<ManagedLedger>,
    ) -> Arc<Self> {
        let dispatcher = Arc::new(Dispatcher {
            subscription,
            cursor,
            ledger,
            state: Mutex::new(DispatchState::new(mode)),
            wake: Notify::new(),
            cancel: CancellationToken::new(),
        });
        let span = tracing::info_span!("dispatcher", subscription = %dispatcher.subscription, topic = dispatcher.ledger.name());
        tokio::spawn(tracing::Instrument::instrument(
            dispatcher.clone().run(),
            span,
        ));
        dispatcher
    }

    pub fn mode(&self) -> SubscriptionType {
        self.state.lock().mode
    }

    pub fn cursor(&self) -> &Arc<ManagedCursor> {
        &self.cursor
    }

    pub fn consumers(&self) -> Vec<Arc<Consumer>> {
        self.state.lock().consumers.clone()
    }

    /// Attaches a consumer. An Exclusive subscription takes one consumer and
    /// rewinds for it, so it receives everything after the mark-delete
    /// position (including what a previous consumer never acknowledged).
    pub fn add_consumer(&self, consumer: Arc<Consumer>) -> Result<(), ExclusiveTaken> {
        let mut state = self.state.lock();
        state.consumers.retain(|c| !c.is_closed());
        if state.mode == SubscriptionType::Exclusive {
            if !state.consumers.is_empty() {
                return Err(ExclusiveTaken {
                    subscription: self.subscription.clone(),
                });
            }
            state.epoch += 1;
            self.cursor.rewind();
        }
        state.consumers.push(consumer);
        drop(state);
        self.wake.notify_one();
        Ok(())
    }

    /// Detaches a consumer; its unacknowledged entries go to the others.
    pub fn remove_consumer(&self, consumer_id: u64, cid: u64) -> Option<Arc<Consumer>> {
        let mut state = self.state.lock();
        let index = state
            .consumers
            .iter()
            .position(|c| c.id() == consumer_id && c.cid() == cid)?;
        let consumer = state.consumers.remove(index);
        let unacked = consumer.take_pending(None);
        if !unacked.is_empty() {
            tracing::debug!(
                consumer_id,
                redelivered = unacked.len(),
                "consumer left, redelivering its unacked entries"
            );
        }
        state.requeue(unacked);
        drop(state);
        self.wake.notify_one();
        Some(consumer)
    }

    /// Permits were added.
    pub fn on_flow(&self) {
        self.wake.notify_one();
    }

    /// Individual acknowledgement.
    pub fn ack_individual(&self, consumer: &Consumer, positions: &[Position]) {
        self.cursor.ack_individual(positions);
        consumer.acked(positions);
        self.state.lock().forget(positions);
    }

    /// Cumulative acknowledgement (Exclusive only; checked by the caller).
    pub fn ack_cumulative(&self, consumer: &Consumer, position: Position) {
        self.cursor.ack_cumulative(position);
        consumer.acked_up_to(position);
        self.state
            .lock()
            .redelivery_counts
            .retain(|p, _| *p > position);
    }

    /// `REDELIVER_UNACKNOWLEDGED_MESSAGES`. Shared: the listed positions
    /// (all of the consumer's when none are listed) are replayed first.
    /// Exclusive: rewind to the successor of the mark-delete position.
    pub fn redeliver(&self, consumer: &Consumer, positions: Option<&[Position]>) {
        let mut state = self.state.lock();
        match state.mode {
            SubscriptionType::Shared => {
                let taken = consumer.take_pending(positions);
                state.requeue(taken);
            }
            SubscriptionType::Exclusive => {
                state.epoch += 1;
                self.cursor.rewind();
            }
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Stops the task; consumers are closed by the caller.
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    async fn run(self: Arc<Self>) {
        let mut last_confirmed = self.ledger.watch_last_confirmed();
        let mut ledger_open = true;
        loop {
            last_confirmed.borrow_and_update();
            match self.dispatch_once().await {
                Ok(Progress::Busy) => {
                    tokio::task::yield_now().await;
                    continue;
                }
                Ok(Progress::Idle) => {}
                Err(error) => {
                    tracing::warn!(error = %error, "dispatch read failed, retrying");
                    tokio::select! {
                        _ = self.cancel.cancelled() => break,
                        _ = tokio::time::sleep(READ_RETRY_DELAY) => continue,
                    }
                }
            }
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                _ = self.wake.notified() => {}
                changed = last_confirmed.changed(), if ledger_open => {
                    ledger_open = changed.is_ok();
                }
            }
        }
        tracing::debug!("dispatcher stopped");
    }

    /// One read-and-send step.
    async fn dispatch_once(&self) -> Result<Progress, ManagedLedgerError> {
        let (budget, replay, epoch) = {
            let mut state = self.state.lock();
            let budget = state.entries_to_read(MAX_READ_ENTRIES);
            if budget == 0 {
                return Ok(Progress::Idle);
            }
            let replay = state.take_replay(budget);
            (budget, replay, state.epoch)
        };
        let entries = if !replay.is_empty() {
            match self.cursor.read_positions(&replay).await {
                Ok(entries) => entries,
                Err(error) => {
                    self.state.lock().replay.extend(replay);
                    return Err(error);
                }
            }
        } else if self.cursor.has_more_entries() {
            self.cursor.read_entries(budget, MAX_READ_BYTES).await?
        } else {
            return Ok(Progress::Idle);
        };
        let mut state = self.state.lock();
        if state.epoch != epoch {
            // A rewind raced with this read: drop the stale entries and
            // restore the rewound read position the read overwrote.
            self.cursor.rewind();
            return Ok(Progress::Busy);
        }
        if entries.is_empty() {
            return Ok(if replay.is_empty() {
                Progress::Idle
            } else {
                Progress::Busy
            });
        }
        if let Some(unsent) = state.distribute(entries) {
            // Out of permits mid-read: the next read starts at the first
            // entry that was not sent.
            self.cursor.unread_from(unsent);
        }
        Ok(Progress::Busy)
    }
}
