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
        }
    }

    /// Sum of positive permits: how many entries a read may fetch at most.
    pub fn permit_budget(&self) -> usize {
        self.consumers
            .iter()
            .filter(|c| !c.is_closed())
            .map(|c| c.available_permits().max(0) as usize)
            .sum()
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
    pub fn distribute(&mut self, entries: Vec<Entry>) {
        match self.mode {
            SubscriptionType::Exclusive => self.distribute_exclusive(entries),
            SubscriptionType::Shared => self.distribute_shared(entries),
        }
    }

    /// Everything to the single consumer, in order. If it vanished, the
    /// entries are dropped: the next consumer's rewind reads them again.
    fn distribute_exclusive(&mut self, entries: Vec<Entry>) {
        let Some(consumer) = self.consumers.first().cloned() else {
            return;
        };
        for entry in &entries {
            let count = self
                .redelivery_counts
                .get(&entry.position)
                .copied()
                .unwrap_or(0);
            if consumer.send_entry(entry, count, false).is_err() {
                return;
            }
        }
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
                if consumer.send_entry(&entry, count, true).is_err() {
                    entries.push_front(entry);
                    break;
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
