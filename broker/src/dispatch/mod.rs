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
//! The subscription type changes [`DispatchState::distribute`] and the
//! redelivery rules: Exclusive and Failover send to one active consumer and
//! redeliver by rewinding; Shared and Key_Shared track what each consumer
//! holds and redeliver through the replay set (see `state.rs`,
//! `failover.rs`, `key_shared.rs`, `delayed.rs`).
//!
//! A subscription that reads compacted (`compacted.rs`) takes entries
//! from the topic's compacted ledger up to the compaction horizon, then
//! from its cursor.
//!
//! On a terminated topic, each time the task goes idle (and after acks) it
//! checks whether the subscription has everything, and then tells each
//! consumer once (`end_of_topic.rs`).

mod compacted;
mod delayed;
mod end_of_topic;
mod failover;
mod key_shared;
mod state;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use thiserror::Error;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use key_shared::{slot_of, KeySharedError, SLOTS};
pub use state::{DispatchState, ROUND_ROBIN_BATCH};

use crate::consumer::{Consumer, SubscriptionType};
use crate::managed_ledger::{ManagedCursor, ManagedLedger, ManagedLedgerError, Position};
use state::unix_millis;

/// Most entries fetched by one cursor read.
pub const MAX_READ_ENTRIES: usize = 100;
/// Approximate byte bound of one cursor read.
pub const MAX_READ_BYTES: usize = 5 * 1024 * 1024;
/// Pause after a failed read before trying again.
const READ_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How dispatchers behave; one copy per broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchConfig {
    /// Failover: how long a new active consumer waits before the cursor
    /// rewinds for it, so the previous one can finish acknowledging.
    pub failover_delay: Duration,
    /// Shared and Key_Shared: a consumer with this many unacknowledged
    /// messages gets nothing more until it is down to half (0: no limit).
    pub max_unacked_per_consumer: u64,
    /// The same for all consumers of a subscription together.
    pub max_unacked_per_subscription: u64,
}

impl Default for DispatchConfig {
    /// Pulsar's defaults.
    fn default() -> Self {
        DispatchConfig {
            failover_delay: Duration::from_secs(1),
            max_unacked_per_consumer: 50_000,
            max_unacked_per_subscription: 200_000,
        }
    }
}

/// A consumer could not join the subscription.
#[derive(Debug, Error)]
pub enum JoinError {
    #[error("subscription {subscription:?} already has an exclusive consumer")]
    ExclusiveTaken { subscription: String },
    #[error(transparent)]
    KeyShared(#[from] KeySharedError),
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
    config: DispatchConfig,
    wake: Notify,
    cancel: CancellationToken,
    /// Set while the subscription reads the compacted view.
    compacted: Mutex<Option<compacted::CompactedRead>>,
}

impl Dispatcher {
    /// Creates the dispatcher and spawns its task.
    /// `partition` is the topic's partition index (Failover's choice).
    pub fn start(
        mode: SubscriptionType,
        subscription: String,
        cursor: Arc<ManagedCursor>,
        ledger: Arc<ManagedLedger>,
        partition: Option<u32>,
        config: DispatchConfig,
    ) -> Arc<Self> {
        let mut state = DispatchState::new(mode, partition, config.max_unacked_per_subscription);
        // Counts recorded before a restart or a move of the topic.
        state.redelivery_counts = cursor.redelivery_counts();
        let dispatcher = Arc::new(Dispatcher {
            subscription,
            cursor,
            ledger,
            state: Mutex::new(state),
            config,
            wake: Notify::new(),
            cancel: CancellationToken::new(),
            compacted: Mutex::new(None),
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

    /// Whether the subscription's consumers together are at its
    /// unacknowledged limit.
    pub fn is_blocked(&self) -> bool {
        self.state.lock().blocked
    }

    /// Changes the subscription's unacknowledged limit (0: none), as a
    /// namespace policy says; a lifted block lets dispatch go on.
    pub fn set_max_unacked(&self, max_unacked: u64) {
        let mut state = self.state.lock();
        if state.max_unacked() == max_unacked {
            return;
        }
        state.set_max_unacked(max_unacked);
        drop(state);
        self.wake.notify_one();
    }

    pub fn consumers(&self) -> Vec<Arc<Consumer>> {
        self.state.lock().consumers.clone()
    }

    /// Attaches a consumer. An Exclusive subscription takes one consumer and
    /// rewinds for it, so it receives everything after the mark-delete
    /// position (including what a previous consumer never acknowledged).
    /// Failover re-elects the active consumer; Key_Shared gives the
    /// consumer its slots.
    pub fn add_consumer(&self, consumer: Arc<Consumer>) -> Result<(), JoinError> {
        let mut state = self.state.lock();
        let stale: Vec<Arc<Consumer>> = state
            .consumers
            .iter()
            .filter(|c| c.is_closed())
            .cloned()
            .collect();
        for gone in stale {
            self.detach(&mut state, &gone);
        }
        match state.mode {
            SubscriptionType::Exclusive if !state.consumers.is_empty() => {
                return Err(JoinError::ExclusiveTaken {
                    subscription: self.subscription.clone(),
                });
            }
            SubscriptionType::KeyShared => {
                let spec = consumer.key_shared().cloned().unwrap_or_default();
                let alive = state.consumers.clone();
                state
                    .key_shared
                    .add_consumer(consumer.key(), consumer.name(), &spec, &alive)?;
            }
            _ => {}
        }
        state.consumers.push(consumer.clone());
        if state.mode.is_single_active() {
            self.on_election(&mut state, Some(&consumer));
        }
        drop(state);
        self.wake.notify_one();
        Ok(())
    }

    /// Applies a new election: the first active consumer starts at once,
    /// a Failover switch after the failover delay; either way the cursor
    /// rewinds to the mark-delete position.
    fn on_election(&self, state: &mut DispatchState, newcomer: Option<&Arc<Consumer>>) {
        let Some((previous, elected)) = state.elect_active(newcomer) else {
            return;
        };
        state.epoch += 1;
        if previous.is_none() || state.mode == SubscriptionType::Exclusive {
            state.resume_at = None;
            self.cursor.rewind();
        } else if elected.is_some() {
            tracing::info!(subscription = %self.subscription, "active consumer changed");
            state.resume_at = Some(tokio::time::Instant::now() + self.config.failover_delay);
        }
    }

    /// Takes a consumer out of the state; its unacknowledged entries go
    /// back for redelivery.
    fn detach(&self, state: &mut DispatchState, consumer: &Arc<Consumer>) {
        state.consumers.retain(|c| !Arc::ptr_eq(c, consumer));
        let unacked = consumer.take_pending(None);
        if !unacked.is_empty() {
            tracing::debug!(
                consumer_id = consumer.id(),
                redelivered = unacked.len(),
                "consumer left, redelivering its unacked entries"
            );
        }
        let counts = state.requeue(unacked);
        self.cursor.record_redeliveries(&counts);
        match state.mode {
            SubscriptionType::KeyShared => state.key_shared.remove_consumer(consumer.key()),
            mode if mode.is_single_active() => self.on_election(state, None),
            _ => {}
        }
    }

    /// Detaches a consumer; its unacknowledged entries go to the others.
    pub fn remove_consumer(&self, consumer_id: u64, cid: u64) -> Option<Arc<Consumer>> {
        let mut state = self.state.lock();
        let consumer = state
            .consumers
            .iter()
            .find(|c| c.id() == consumer_id && c.cid() == cid)
            .cloned()?;
        self.detach(&mut state, &consumer);
        drop(state);
        self.wake.notify_one();
        Some(consumer)
    }

    /// Permits were added.
    pub fn on_flow(&self) {
        self.wake.notify_one();
    }

    /// Acknowledges some messages of batch entries (`ack_set` per
    /// position); entries left with nothing unacknowledged are
    /// acknowledged whole.
    pub fn ack_batch_indexes(&self, consumer: &Consumer, partial: &[(Position, Vec<i64>)]) {
        let complete: Vec<Position> = partial
            .iter()
            .filter(|(position, ack_set)| self.cursor.ack_batch_indexes(*position, ack_set))
            .map(|(position, _)| *position)
            .collect();
        if !complete.is_empty() {
            self.ack_individual(consumer, &complete);
        }
    }

    /// Individual acknowledgement.
    pub fn ack_individual(&self, consumer: &Consumer, positions: &[Position]) {
        self.cursor.ack_individual(positions);
        let unblocked = consumer.acked(positions);
        let mut state = self.state.lock();
        state.forget(positions);
        // Key_Shared: an ack may release a held key slot; any type: it
        // may lift an unacked limit, or reach the end of a terminated topic.
        let wake = unblocked
            || !state.replay.is_empty()
            || state.update_blocked()
            || self.ledger.is_terminated();
        drop(state);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Cumulative acknowledgement (Exclusive and Failover; checked by the caller).
    pub fn ack_cumulative(&self, consumer: &Consumer, position: Position) {
        self.cursor.ack_cumulative(position);
        consumer.acked_up_to(position);
        self.state.lock().forget_up_to(position);
        if self.ledger.is_terminated() {
            self.wake.notify_one();
        }
    }

    /// `REDELIVER_UNACKNOWLEDGED_MESSAGES`. Shared and Key_Shared: the
    /// listed positions (all of the consumer's when none are listed) are
    /// replayed first. Exclusive and Failover: the active consumer's
    /// request rewinds to the successor of the mark-delete position.
    pub fn redeliver(&self, consumer: &Consumer, positions: Option<&[Position]>) {
        let mut state = self.state.lock();
        if state.mode.is_single_active() {
            if state.active != Some(consumer.key()) {
                return;
            }
            state.epoch += 1;
            self.cursor.rewind();
        } else {
            let taken = consumer.take_pending(positions);
            let counts = state.requeue(taken);
            self.cursor.record_redeliveries(&counts);
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Resets the cursor so the next entry delivered is the first at or
    /// after `position` (SEEK), forgets every redelivery, hold and delay,
    /// and closes the consumers from the broker side: they come back at
    /// the new position. Returns once the reset is stored.
    pub async fn reset(&self, position: Position) -> Result<(), ManagedLedgerError> {
        let consumers = {
            let mut state = self.state.lock();
            state.epoch += 1;
            state.clear();
            self.cursor.reset_to(position);
            self.seek_compacted(position, state.epoch);
            state.consumers.clone()
        };
        for consumer in consumers {
            consumer.close_by_broker();
        }
        self.wake.notify_one();
        self.cursor.flush().await
    }

    /// Stops the task; consumers are closed by the caller.
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    async fn run(self: Arc<Self>) {
        let mut last_confirmed = self.ledger.watch_last_confirmed();
        let mut ledger_open = true;
        loop {
            let now = tokio::time::Instant::now();
            let deadline = self.state.lock().next_deadline(now, unix_millis());

            last_confirmed.borrow_and_update();
            match self.dispatch_once().await {
                Ok(Progress::Busy) => {
                    tokio::task::yield_now().await;
                    continue;
                }
                Ok(Progress::Idle) => self.notify_if_end_reached(),
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
                _ = sleep_until(deadline), if deadline.is_some() => {}
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
            if let Some(resume_at) = state.resume_at {
                if tokio::time::Instant::now() < resume_at {
                    return Ok(Progress::Idle);
                }
                state.resume_at = None;
                state.epoch += 1;
                self.cursor.rewind();
            }
            state.release_due(unix_millis());
            let budget = state.entries_to_read(MAX_READ_ENTRIES);
            if budget == 0 {
                return Ok(Progress::Idle);
            }
            let replay = state.take_replay(budget);
            (budget, replay, state.epoch)
        };
        if let Some(progress) = self.dispatch_compacted(budget, epoch).await {
            // Exclusive and Failover rewind instead of replaying.
            return Ok(progress);
        }
        let entries = if !replay.is_empty() {
            match self.cursor.read_positions(&replay).await {
                Ok(entries) => entries,
                Err(error) => {
                    self.state.lock().replay.extend(replay);
                    return Err(error);
                }
            }
        } else if self.state.lock().may_read_ahead() && self.cursor.has_more_entries() {
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
        let ack_sets = self.cursor.batch_ack_sets(&entries);
        if let Some(unsent) = state.distribute(entries, unix_millis(), &ack_sets) {
            // Out of permits mid-read: the next read starts at the first
            // entry that was not sent.
            self.cursor.unread_from(unsent);
        }
        Ok(Progress::Busy)
    }
}

/// Sleeps until `deadline`; never returns without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
