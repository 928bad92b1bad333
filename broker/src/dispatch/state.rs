//! The dispatcher's bookkeeping, free of I/O: attached consumers, the replay
//! set and redelivery counts, the active consumer (Exclusive, Failover), the
//! key slots (Key_Shared), delayed entries, and the choice of which consumer
//! gets which entry. Kept apart from the task in [`super::Dispatcher`] so
//! the rules can be unit-tested without a managed ledger.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use magnetar_proto::pulsar::api::MessageMetadata;
use magnetar_proto::pulsar::decode_metadata;
use tokio::time::Instant;

use super::delayed::DelayedTracker;
use super::failover::pick_active;
use super::key_shared::{entry_slot, KeySharedState, Placement};
use crate::consumer::{Consumer, ConsumerKey, SubscriptionType};
use crate::managed_ledger::{Entry, Position};

/// What is left to deliver of partly acknowledged batch entries.
pub type AckSets = HashMap<Position, Vec<i64>>;

/// Entries one Shared consumer may take per round-robin turn.
pub const ROUND_ROBIN_BATCH: usize = 20;

pub struct DispatchState {
    pub mode: SubscriptionType,
    pub consumers: Vec<Arc<Consumer>>,
    /// Positions to redeliver, served before new reads (Shared, Key_Shared).
    pub replay: BTreeSet<Position>,
    /// How many times each position was put back for redelivery.
    pub redelivery_counts: HashMap<Position, u32>,
    /// Index of the consumer whose turn is next (Shared).
    next_consumer: usize,
    /// Bumped on every cursor rewind: reads started before it are stale.
    pub epoch: u64,
    /// Moving average of messages per dispatched entry (batches hold many),
    /// used to turn message permits into a number of entries to read.
    messages_per_entry: f64,
    /// Exclusive and Failover: the consumer that receives entries.
    pub active: Option<ConsumerKey>,
    /// Failover after a switch: nothing is sent until then, and the cursor
    /// rewinds to the mark-delete position when it passes.
    pub resume_at: Option<Instant>,
    /// The partition index of the topic, for Failover's choice.
    partition: Option<u32>,
    /// Key_Shared: key slots, their consumers and what each one holds.
    pub key_shared: KeySharedState,
    /// Shared and Key_Shared: entries held back until their delivery time.
    pub delayed: DelayedTracker,
    /// Unacknowledged messages across consumers at which dispatch stops
    /// until they are down to half (0: no limit).
    max_unacked: u64,
    /// At that limit now.
    pub blocked: bool,
}

impl DispatchState {
    pub fn new(mode: SubscriptionType, partition: Option<u32>, max_unacked: u64) -> Self {
        DispatchState {
            mode,
            consumers: Vec::new(),
            replay: BTreeSet::new(),
            redelivery_counts: HashMap::new(),
            next_consumer: 0,
            epoch: 0,
            messages_per_entry: 1.0,
            active: None,
            resume_at: None,
            partition,
            key_shared: KeySharedState::default(),
            delayed: DelayedTracker::default(),
            max_unacked,
            blocked: false,
        }
    }

    pub fn max_unacked(&self) -> u64 {
        self.max_unacked
    }

    /// A new limit; the block is decided again at once.
    pub fn set_max_unacked(&mut self, max_unacked: u64) {
        self.max_unacked = max_unacked;
        self.blocked = false;
        self.update_blocked();
    }

    /// Unacknowledged messages of every consumer together.
    pub fn unacked_messages(&self) -> u64 {
        self.consumers.iter().map(|c| c.unacked_messages()).sum()
    }

    /// Updates the subscription's block (Shared and Key_Shared); returns
    /// whether it was just lifted.
    pub fn update_blocked(&mut self) -> bool {
        if self.max_unacked == 0 || self.mode.is_single_active() {
            return false;
        }
        let unacked = self.unacked_messages();
        if !self.blocked && unacked >= self.max_unacked {
            tracing::debug!(unacked, "subscription blocked on unacked messages");
            self.blocked = true;
        } else if self.blocked && unacked <= self.max_unacked / 2 {
            self.blocked = false;
            return true;
        }
        false
    }

    /// The consumer that receives entries on Exclusive and Failover.
    pub fn active_consumer(&self) -> Option<&Arc<Consumer>> {
        let active = self.active?;
        self.consumers.iter().find(|c| c.key() == active)
    }

    /// Re-elects the active consumer (Exclusive, Failover) and tells every
    /// consumer whether it is the one. Returns the previous and the new
    /// active consumer when they differ; `newcomer` is told even when
    /// nothing changed.
    pub fn elect_active(
        &mut self,
        newcomer: Option<&Arc<Consumer>>,
    ) -> Option<(Option<ConsumerKey>, Option<ConsumerKey>)> {
        let elected = pick_active(&self.consumers, self.partition);
        if elected == self.active {
            if let Some(newcomer) = newcomer {
                if self.mode == SubscriptionType::Failover {
                    newcomer.notify_active(Some(newcomer.key()) == elected);
                }
            }
            return None;
        }
        let previous = std::mem::replace(&mut self.active, elected);
        if self.mode == SubscriptionType::Failover {
            for consumer in &self.consumers {
                consumer.notify_active(Some(consumer.key()) == elected);
            }
        }
        Some((previous, elected))
    }

    /// Sum of positive permits (in messages) of the consumers that can
    /// receive now.
    pub fn permit_budget(&self) -> usize {
        let permits = |c: &Arc<Consumer>| usize::try_from(c.available_permits()).unwrap_or(0);
        if self.mode.is_single_active() {
            return self
                .active_consumer()
                .filter(|c| !c.is_closed())
                .map_or(0, permits);
        }
        self.consumers
            .iter()
            .filter(|c| !c.is_closed() && !c.is_blocked())
            .map(permits)
            .sum()
    }

    /// How many entries the next read should fetch: the permits (no more
    /// than the subscription's unacknowledged limit leaves room for)
    /// divided by the average batch size seen so far, at least one while
    /// any permit is left, at most `max_entries`. Zero when no consumer has
    /// permits.
    pub fn entries_to_read(&mut self, max_entries: usize) -> usize {
        self.update_blocked();
        if self.blocked {
            return 0;
        }
        let mut permits = self.permit_budget();
        if self.max_unacked > 0 && !self.mode.is_single_active() {
            // No more than the subscription's limit leaves room for.
            let room = self.max_unacked.saturating_sub(self.unacked_messages());
            permits = permits.min(usize::try_from(room).unwrap_or(usize::MAX));
        }
        if permits == 0 {
            return 0;
        }
        let estimate = (permits as f64 / self.messages_per_entry).ceil() as usize;
        estimate.clamp(1, max_entries)
    }

    /// Whether new entries may be read: Key_Shared stops reading ahead
    /// while too many entries wait in the replay set for their consumers.
    pub fn may_read_ahead(&self) -> bool {
        self.mode != SubscriptionType::KeyShared
            || self.replay.len() < self.key_shared.look_ahead_limit(self.consumers.len())
    }

    fn observe_batch_size(&mut self, messages: u32) {
        const WEIGHT: f64 = 0.2;
        self.messages_per_entry =
            (1.0 - WEIGHT) * self.messages_per_entry + WEIGHT * f64::from(messages.max(1));
    }

    /// Puts delivered positions back for redelivery, counting the
    /// redelivery. Key_Shared: the consumer no longer holds their keys.
    /// Returns the new counts (for the cursor to persist).
    pub fn requeue(
        &mut self,
        positions: impl IntoIterator<Item = Position>,
    ) -> Vec<(Position, u32)> {
        let mut counts = Vec::new();
        for position in positions {
            let count = self.redelivery_counts.entry(position).or_insert(0);
            *count += 1;
            counts.push((position, *count));
            self.key_shared.requeue(position);
            self.replay.insert(position);
        }
        counts
    }

    /// Takes up to `max` replay positions, lowest first. Key_Shared skips
    /// positions whose key cannot go out now (and every later one of the
    /// same key), so that they are not read for nothing.
    pub fn take_replay(&mut self, max: usize) -> Vec<Position> {
        let taken: Vec<Position> = if self.mode == SubscriptionType::KeyShared {
            self.key_shared
                .eligible_replay(&self.replay, &self.consumers, max)
        } else {
            self.replay.iter().take(max).copied().collect()
        };
        for position in &taken {
            self.replay.remove(position);
            self.key_shared.take_from_replay(*position);
        }
        taken
    }

    /// Acknowledged positions: no longer redelivered or held. (A delayed
    /// one stays in the tracker; when due, the cursor skips it as acked.)
    pub fn forget(&mut self, positions: &[Position]) {
        for position in positions {
            self.redelivery_counts.remove(position);
            self.replay.remove(position);
            self.key_shared.forget(*position);
        }
    }

    /// Everything acknowledged up to `position` (cumulative ack).
    pub fn forget_up_to(&mut self, position: Position) {
        self.redelivery_counts.retain(|p, _| *p > position);
    }

    /// Drops every redelivery, hold and delay (the cursor was reset).
    pub fn clear(&mut self) {
        self.replay.clear();
        self.redelivery_counts.clear();
        self.key_shared.clear();
        self.delayed.clear();
        for consumer in &self.consumers {
            consumer.take_pending(None);
        }
    }

    /// Moves delayed entries whose time has come to the replay set.
    pub fn release_due(&mut self, now_millis: u64) {
        for position in self.delayed.take_due(now_millis) {
            self.replay.insert(position);
        }
    }

    /// The next instant the task must wake by itself: the end of a failover
    /// pause or the next delayed entry.
    pub fn next_deadline(&self, now: Instant, now_millis: u64) -> Option<Instant> {
        let delayed = self
            .delayed
            .next_due()
            .map(|at| now + Duration::from_millis(at.saturating_sub(now_millis)));
        match (self.resume_at, delayed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends `entries` to consumers according to the subscription type.
    /// Returns the position of the first entry the active consumer had no
    /// permits for (Exclusive, Failover): the caller moves the read position
    /// back to it. (Shared and Key_Shared put what nobody could take into
    /// the replay set instead.)
    /// `ack_sets` holds what is left of partly acknowledged batches.
    pub fn distribute(
        &mut self,
        entries: Vec<Entry>,
        now_millis: u64,
        ack_sets: &AckSets,
    ) -> Option<Position> {
        match self.mode {
            SubscriptionType::Exclusive | SubscriptionType::Failover => {
                self.distribute_single(entries, ack_sets)
            }
            SubscriptionType::Shared => {
                let entries = self.hold_delayed(entries, now_millis);
                let entries = entries.into_iter().map(|(entry, _)| entry).collect();
                self.distribute_shared(entries, ack_sets);
                None
            }
            SubscriptionType::KeyShared => {
                let entries = self.hold_delayed(entries, now_millis);
                self.distribute_key_shared(entries, ack_sets);
                None
            }
        }
    }

    fn redelivery_count(&self, position: Position) -> u32 {
        self.redelivery_counts.get(&position).copied().unwrap_or(0)
    }

    /// Keeps back the entries whose delivery time is still ahead; returns
    /// the others with their metadata (decoded once, here; `None` when
    /// unreadable).
    fn hold_delayed(
        &mut self,
        entries: Vec<Entry>,
        now_millis: u64,
    ) -> Vec<(Entry, Option<MessageMetadata>)> {
        entries
            .into_iter()
            .map(|entry| {
                let metadata = decode_metadata(&entry.data).ok();
                (entry, metadata)
            })
            .filter(|(entry, metadata)| {
                let deliver_at = metadata.as_ref().and_then(|m| m.deliver_at_time);
                !self.delayed.hold_at(entry.position, deliver_at, now_millis)
            })
            .collect()
    }

    /// To the active consumer, in order, while it has permits. An entry goes
    /// out while at least one permit is left, even if its batch holds more
    /// messages (permits then go negative, as in Pulsar). If the consumer
    /// vanished, the entries are dropped: the next active consumer's rewind
    /// reads them again.
    fn distribute_single(&mut self, entries: Vec<Entry>, ack_sets: &AckSets) -> Option<Position> {
        let consumer = self.active_consumer().cloned()?;
        for entry in &entries {
            if consumer.available_permits() <= 0 {
                return Some(entry.position);
            }
            let count = self.redelivery_count(entry.position);
            match consumer.send_entry(entry, count, false, ack_sets.get(&entry.position).cloned()) {
                Ok(messages) => self.observe_batch_size(messages),
                Err(_) => return None,
            }
        }
        None
    }

    /// Round-robin over consumers with permits, up to [`ROUND_ROBIN_BATCH`]
    /// entries per turn. What no consumer can take goes to the replay set
    /// (without counting as a redelivery: it was never delivered).
    fn distribute_shared(&mut self, entries: Vec<Entry>, ack_sets: &AckSets) {
        let mut entries: VecDeque<Entry> = entries.into();
        let consumer_count = self.consumers.len();
        let mut turns_without_taker = 0;
        while !entries.is_empty() && consumer_count > 0 && turns_without_taker < consumer_count {
            let index = self.next_consumer % consumer_count;
            self.next_consumer = (index + 1) % consumer_count;
            let consumer = self.consumers[index].clone();
            let mut sent = 0;
            while sent < ROUND_ROBIN_BATCH && consumer.can_take() {
                let Some(entry) = entries.pop_front() else {
                    break;
                };
                let count = self.redelivery_count(entry.position);
                let ack_set = ack_sets.get(&entry.position).cloned();
                match consumer.send_entry(&entry, count, true, ack_set) {
                    Ok(messages) => self.observe_batch_size(messages),
                    Err(_) => {
                        entries.push_front(entry);
                        break;
                    }
                }
                sent += 1;
            }
            turns_without_taker = if sent == 0 {
                turns_without_taker + 1
            } else {
                0
            };
        }
        self.replay
            .extend(entries.into_iter().map(|entry| entry.position));
    }

    /// Each entry to the consumer that owns its key slot, unless the slot
    /// is still held by another consumer (it has unacknowledged entries of
    /// the slot), an older entry of the slot waits for redelivery, or the
    /// owner has no permits: then the entry waits in the replay set.
    fn distribute_key_shared(
        &mut self,
        entries: Vec<(Entry, Option<MessageMetadata>)>,
        ack_sets: &AckSets,
    ) {
        for (entry, metadata) in entries {
            let slot = entry_slot(metadata.as_ref());
            let placement = self.key_shared.place(slot, entry.position, &self.consumers);
            let consumer = match placement {
                Placement::To(consumer) => consumer,
                Placement::Wait => {
                    self.key_shared.park(entry.position, slot);
                    self.replay.insert(entry.position);
                    continue;
                }
            };
            let count = self.redelivery_count(entry.position);
            let ack_set = ack_sets.get(&entry.position).cloned();
            match consumer.send_entry(&entry, count, true, ack_set) {
                Ok(messages) => {
                    self.observe_batch_size(messages);
                    self.key_shared.sent(entry.position, slot, consumer.key());
                }
                Err(_) => {
                    self.key_shared.park(entry.position, slot);
                    self.replay.insert(entry.position);
                }
            }
        }
    }
}

/// Milliseconds since the Unix epoch: the clock of `deliver_at_time`.
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
