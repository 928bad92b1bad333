//! The dispatcher's bookkeeping, free of I/O: attached consumers, the replay
//! set and redelivery counts, and the choice of which consumer gets which
//! entry. Kept apart from the task in [`super::Dispatcher`] so the rules can
//! be unit-tested without a managed ledger.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use crate::consumer::{Consumer, SubscriptionType};
use crate::managed_ledger::{Entry, Position};

/// Entries one Shared consumer may take per round-robin turn.
pub const ROUND_ROBIN_BATCH: usize = 20;

pub struct DispatchState {
    pub mode: SubscriptionType,
    pub consumers: Vec<Arc<Consumer>>,
    /// Positions to redeliver, served before new reads (Shared only).
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
}

impl DispatchState {
    pub fn new(mode: SubscriptionType) -> Self {
        DispatchState {
            mode,
            consumers: Vec::new(),
            replay: BTreeSet::new(),
            redelivery_counts: HashMap::new(),
            next_consumer: 0,
            epoch: 0,
            messages_per_entry: 1.0,
        }
    }

    /// Sum of positive permits (in messages) of the open consumers.
    pub fn permit_budget(&self) -> usize {
        self.consumers
            .iter()
            .filter(|c| !c.is_closed())
            .map(|c| usize::try_from(c.available_permits()).unwrap_or(0))
            .sum()
    }

    /// How many entries the next read should fetch: the permits divided by
    /// the average batch size seen so far, at least one while any permit is
    /// left, at most `max_entries`. Zero when no consumer has permits.
    pub fn entries_to_read(&self, max_entries: usize) -> usize {
        let permits = self.permit_budget();
        if permits == 0 {
            return 0;
        }
        let estimate = (permits as f64 / self.messages_per_entry).ceil() as usize;
        estimate.clamp(1, max_entries)
    }

    fn observe_batch_size(&mut self, messages: u32) {
        const WEIGHT: f64 = 0.2;
        self.messages_per_entry =
            (1.0 - WEIGHT) * self.messages_per_entry + WEIGHT * f64::from(messages.max(1));
    }

    /// Puts positions back for redelivery, counting the redelivery.
    pub fn requeue(&mut self, positions: impl IntoIterator<Item = Position>) {
        for position in positions {
            *self.redelivery_counts.entry(position).or_insert(0) += 1;
            self.replay.insert(position);
        }
    }

    /// Takes up to `max` replay positions, lowest first.
    pub fn take_replay(&mut self, max: usize) -> Vec<Position> {
        let taken: Vec<Position> = self.replay.iter().take(max).copied().collect();
        for position in &taken {
            self.replay.remove(position);
        }
        taken
    }

    pub fn forget(&mut self, positions: &[Position]) {
        for position in positions {
            self.redelivery_counts.remove(position);
            self.replay.remove(position);
        }
    }

    /// Sends `entries` to consumers according to the subscription type.
    /// Returns the position of the first entry an Exclusive consumer had no
    /// permits for: the caller moves the read position back to it. (Shared
    /// puts what nobody could take into the replay set instead.)
    pub fn distribute(&mut self, entries: Vec<Entry>) -> Option<Position> {
        match self.mode {
            SubscriptionType::Exclusive => self.distribute_exclusive(entries),
            SubscriptionType::Shared => {
                self.distribute_shared(entries);
                None
            }
        }
    }

    /// To the single consumer, in order, while it has permits. An entry goes
    /// out while at least one permit is left, even if its batch holds more
    /// messages (permits then go negative, as in Pulsar). If the consumer
    /// vanished, the entries are dropped: the next consumer's rewind reads
    /// them again.
    fn distribute_exclusive(&mut self, entries: Vec<Entry>) -> Option<Position> {
        let consumer = self.consumers.first().cloned()?;
        for entry in &entries {
            if consumer.available_permits() <= 0 {
                return Some(entry.position);
            }
            let count = self
                .redelivery_counts
                .get(&entry.position)
                .copied()
                .unwrap_or(0);
            match consumer.send_entry(entry, count, false) {
                Ok(messages) => self.observe_batch_size(messages),
                Err(_) => return None,
            }
        }
        None
    }

    /// Round-robin over consumers with permits, up to [`ROUND_ROBIN_BATCH`]
    /// entries per turn. What no consumer can take goes to the replay set
    /// (without counting as a redelivery: it was never delivered).
    fn distribute_shared(&mut self, entries: Vec<Entry>) {
        let mut entries: VecDeque<Entry> = entries.into();
        let consumer_count = self.consumers.len();
        let mut turns_without_taker = 0;
        while !entries.is_empty() && consumer_count > 0 && turns_without_taker < consumer_count {
            let index = self.next_consumer % consumer_count;
            self.next_consumer = (index + 1) % consumer_count;
            let consumer = self.consumers[index].clone();
            let mut sent = 0;
            while sent < ROUND_ROBIN_BATCH
                && consumer.available_permits() > 0
                && !consumer.is_closed()
            {
                let Some(entry) = entries.pop_front() else {
                    break;
                };
                let count = self
                    .redelivery_counts
                    .get(&entry.position)
                    .copied()
                    .unwrap_or(0);
                match consumer.send_entry(&entry, count, true) {
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
}
