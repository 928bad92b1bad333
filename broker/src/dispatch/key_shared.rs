//! Key_Shared: which consumer owns which key, and the holds that keep each
//! key in order while consumers come and go.
//!
//! A message's sticky key is its `ordering_key`, else its `partition_key`,
//! else the constant `NONE_KEY` (a batch is one entry: its outer metadata
//! decides). The key hashes to a slot in `0..65536`: Murmur3 x86_32 with
//! seed 0, masked to 31 bits, modulo 65536 — the slots the clients' STICKY
//! hash ranges name.
//!
//! - AUTO_SPLIT: a consistent-hash ring with [`RING_POINTS`] points per
//!   consumer; a slot belongs to the first point at or after it, wrapping.
//! - STICKY: each consumer names its hash ranges; they may not overlap
//!   another consumer's. A slot nobody covers waits.
//!
//! The invariant (unless the consumers allow out-of-order delivery): a key
//! is never unacknowledged at two consumers at once, and never delivered
//! past an older entry of the same key. So an entry waits in the replay set
//! while its slot is *held* (another consumer still has unacknowledged
//! entries of it), while an older entry of its slot waits for redelivery, or
//! while its consumer has no permits.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Cursor;
use std::sync::Arc;

use magnetar_proto::pulsar::api::MessageMetadata;
use thiserror::Error;

use crate::consumer::{Consumer, ConsumerKey, KeySharedSpec};
use crate::managed_ledger::Position;

/// Slots in the hash space (Pulsar's `DEFAULT_RANGE_SIZE`).
pub const SLOTS: u32 = 65_536;
/// Points per consumer on the AUTO_SPLIT ring.
pub const RING_POINTS: u32 = 100;
/// Entries that may wait in the replay set per consumer before the
/// dispatcher stops reading ahead (and in all, per subscription).
pub const LOOK_AHEAD_PER_CONSUMER: usize = 2_000;
pub const LOOK_AHEAD_PER_SUBSCRIPTION: usize = 20_000;
/// The sticky key of a message without ordering or partition key.
const NONE_KEY: &[u8] = b"NONE_KEY";

/// A consumer could not join a Key_Shared subscription.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeySharedError {
    #[error("Key_Shared mode mismatch: the subscription is {existing}, the consumer asked for {requested}")]
    ModeMismatch {
        existing: &'static str,
        requested: &'static str,
    },
    #[error("STICKY Key_Shared needs at least one hash range")]
    NoRanges,
    #[error(
        "hash range [{start}, {end}] is invalid: ranges lie within [0, 65535] with start <= end"
    )]
    InvalidRange { start: i32, end: i32 },
    #[error("hash range [{start}, {end}] overlaps another range")]
    RangeConflict { start: i32, end: i32 },
}

/// The slot of a key.
pub fn slot_of(key: &[u8]) -> u32 {
    // Reading from an in-memory cursor cannot fail.
    let hash = murmur3::murmur3_32(&mut Cursor::new(key), 0).unwrap_or(0);
    (hash & i32::MAX as u32) % SLOTS
}

/// The sticky key of a message's metadata.
pub fn sticky_key(metadata: &MessageMetadata) -> Vec<u8> {
    if let Some(key) = &metadata.ordering_key {
        return key.to_vec();
    }
    match &metadata.partition_key {
        Some(key) if metadata.partition_key_b64_encoded == Some(true) => {
            base64_decode(key).unwrap_or_else(|| key.as_bytes().to_vec())
        }
        Some(key) => key.as_bytes().to_vec(),
        None => NONE_KEY.to_vec(),
    }
}

/// The slot of a stored entry from its outer metadata (`None`: unreadable,
/// which counts as `NONE_KEY`).
pub fn entry_slot(metadata: Option<&MessageMetadata>) -> u32 {
    match metadata {
        Some(metadata) => slot_of(&sticky_key(metadata)),
        None => slot_of(NONE_KEY),
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// How slots map to consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    AutoSplit,
    Sticky,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::AutoSplit => "AUTO_SPLIT",
            Mode::Sticky => "STICKY",
        }
    }
}

/// Where an entry goes now.
pub enum Placement {
    To(Arc<Consumer>),
    Wait,
}

#[derive(Default)]
pub struct KeySharedState {
    mode: Option<Mode>,
    allow_out_of_order: bool,
    /// AUTO_SPLIT ring: point -> consumers that hashed to it (first wins).
    ring: BTreeMap<u32, Vec<ConsumerKey>>,
    /// STICKY: range start -> (end, consumer).
    ranges: BTreeMap<u32, (u32, ConsumerKey)>,
    /// Delivered and unacknowledged: position -> (slot, consumer).
    held: HashMap<Position, (u32, ConsumerKey)>,
    /// Slot -> the consumer holding it and how many entries it holds.
    holders: HashMap<u32, (ConsumerKey, u32)>,
    /// Replay positions whose slot is known.
    parked: HashMap<Position, u32>,
    parked_by_slot: HashMap<u32, BTreeSet<Position>>,
}

impl KeySharedState {
    /// Adds a consumer's points or ranges. The first consumer sets the mode.
    pub fn add_consumer(
        &mut self,
        key: ConsumerKey,
        name: &str,
        spec: &KeySharedSpec,
        alive: &[Arc<Consumer>],
    ) -> Result<(), KeySharedError> {
        let requested = if spec.sticky_ranges.is_some() {
            Mode::Sticky
        } else {
            Mode::AutoSplit
        };
        let empty = alive.iter().all(|c| c.key() == key || c.is_closed());
        if empty {
            self.mode = None;
            self.ring.clear();
            self.ranges.clear();
        }
        if let Some(existing) = self.mode {
            if existing != requested {
                return Err(KeySharedError::ModeMismatch {
                    existing: existing.as_str(),
                    requested: requested.as_str(),
                });
            }
        }
        match &spec.sticky_ranges {
            None => {
                let index = alive
                    .iter()
                    .filter(|c| c.name() == name && c.key() != key && !c.is_closed())
                    .count();
                for i in 0..RING_POINTS {
                    let point = slot_of(format!("{name}\0{index}\0{i}").as_bytes());
                    self.ring.entry(point).or_default().push(key);
                }
            }
            Some(ranges) => self.add_ranges(key, ranges)?,
        }
        self.mode = Some(requested);
        self.allow_out_of_order = spec.allow_out_of_order;
        Ok(())
    }

    fn add_ranges(
        &mut self,
        key: ConsumerKey,
        ranges: &[(i32, i32)],
    ) -> Result<(), KeySharedError> {
        if ranges.is_empty() {
            return Err(KeySharedError::NoRanges);
        }
        let mut checked: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for &(start, end) in ranges {
            if start < 0 || end < start || end >= SLOTS as i32 {
                return Err(KeySharedError::InvalidRange { start, end });
            }
            let (s, e) = (start as u32, end as u32);
            let overlaps_own = checked.iter().any(|&(cs, ce)| s <= ce && cs <= e);
            let overlaps_other = self
                .ranges
                .range(..=e)
                .next_back()
                .is_some_and(|(_, (other_end, _))| *other_end >= s);
            if overlaps_own || overlaps_other {
                return Err(KeySharedError::RangeConflict { start, end });
            }
            checked.push((s, e));
        }
        for (s, e) in checked {
            self.ranges.insert(s, (e, key));
        }
        Ok(())
    }

    /// Removes a consumer's points or ranges (its held entries are requeued
    /// by the caller).
    pub fn remove_consumer(&mut self, key: ConsumerKey) {
        self.ring.retain(|_, keys| {
            keys.retain(|k| *k != key);
            !keys.is_empty()
        });
        self.ranges.retain(|_, (_, k)| *k != key);
    }

    /// The consumer owning `slot`, if any.
    pub fn owner(&self, slot: u32) -> Option<ConsumerKey> {
        match self.mode? {
            Mode::AutoSplit => self
                .ring
                .range(slot..)
                .next()
                .or_else(|| self.ring.iter().next())
                .and_then(|(_, keys)| keys.first().copied()),
            Mode::Sticky => {
                let (_, (end, key)) = self.ranges.range(..=slot).next_back()?;
                (*end >= slot).then_some(*key)
            }
        }
    }

    /// Whether `slot` is held by a consumer other than `owner`.
    fn held_by_other(&self, slot: u32, owner: ConsumerKey) -> bool {
        !self.allow_out_of_order
            && self
                .holders
                .get(&slot)
                .is_some_and(|(holder, count)| *holder != owner && *count > 0)
    }

    /// The consumer that takes the entry at `position` of `slot` now, or
    /// `Wait`.
    pub fn place(&self, slot: u32, position: Position, consumers: &[Arc<Consumer>]) -> Placement {
        let Some(owner) = self.owner(slot) else {
            return Placement::Wait;
        };
        if self.held_by_other(slot, owner) {
            return Placement::Wait;
        }
        if !self.allow_out_of_order
            && self
                .parked_by_slot
                .get(&slot)
                .and_then(|p| p.first())
                .is_some_and(|older| *older < position)
        {
            return Placement::Wait;
        }
        match consumers.iter().find(|c| c.key() == owner) {
            Some(c) if c.can_take() => Placement::To(c.clone()),
            _ => Placement::Wait,
        }
    }

    /// Up to `max` replay positions that can go out now, lowest first. A
    /// position whose slot is known and cannot go out is skipped, and so
    /// is every later position of that slot.
    pub fn eligible_replay(
        &self,
        replay: &BTreeSet<Position>,
        consumers: &[Arc<Consumer>],
        max: usize,
    ) -> Vec<Position> {
        let mut blocked: HashSet<u32> = HashSet::new();
        let mut taken = Vec::new();
        for &position in replay {
            if taken.len() >= max {
                break;
            }
            let Some(&slot) = self.parked.get(&position) else {
                taken.push(position);
                continue;
            };
            if blocked.contains(&slot) {
                continue;
            }
            let ready = match self.owner(slot) {
                Some(owner) => {
                    !self.held_by_other(slot, owner)
                        && consumers
                            .iter()
                            .find(|c| c.key() == owner)
                            .is_some_and(|c| c.can_take())
                }
                None => false,
            };
            if ready {
                taken.push(position);
            } else {
                blocked.insert(slot);
            }
        }
        taken
    }

    /// The entry at `position` waits in the replay set.
    pub fn park(&mut self, position: Position, slot: u32) {
        self.parked.insert(position, slot);
        self.parked_by_slot
            .entry(slot)
            .or_default()
            .insert(position);
    }

    /// The replay position was taken for a read.
    pub fn take_from_replay(&mut self, position: Position) {
        if let Some(slot) = self.parked.remove(&position) {
            self.unpark_slot(slot, position);
        }
    }

    fn unpark_slot(&mut self, slot: u32, position: Position) {
        if let Some(positions) = self.parked_by_slot.get_mut(&slot) {
            positions.remove(&position);
            if positions.is_empty() {
                self.parked_by_slot.remove(&slot);
            }
        }
    }

    /// The entry was delivered to `consumer`, which now holds its slot.
    pub fn sent(&mut self, position: Position, slot: u32, consumer: ConsumerKey) {
        if let Some((old_slot, old_holder)) = self.held.insert(position, (slot, consumer)) {
            self.release(old_slot, old_holder);
        }
        let holder = self.holders.entry(slot).or_insert((consumer, 0));
        if holder.0 != consumer {
            *holder = (consumer, 0);
        }
        holder.1 += 1;
    }

    fn release(&mut self, slot: u32, consumer: ConsumerKey) {
        if let Some(holder) = self.holders.get_mut(&slot) {
            if holder.0 == consumer {
                holder.1 = holder.1.saturating_sub(1);
                if holder.1 == 0 {
                    self.holders.remove(&slot);
                }
            }
        }
    }

    /// The delivered entry goes back for redelivery: its consumer no longer
    /// holds it, and it waits with its slot known.
    pub fn requeue(&mut self, position: Position) {
        if let Some((slot, consumer)) = self.held.remove(&position) {
            self.release(slot, consumer);
            self.park(position, slot);
        }
    }

    /// The entry was acknowledged.
    pub fn forget(&mut self, position: Position) {
        if let Some((slot, consumer)) = self.held.remove(&position) {
            self.release(slot, consumer);
        }
        if let Some(slot) = self.parked.remove(&position) {
            self.unpark_slot(slot, position);
        }
    }

    /// Entries allowed to wait in the replay set before reading stops.
    pub fn look_ahead_limit(&self, consumers: usize) -> usize {
        (LOOK_AHEAD_PER_CONSUMER * consumers.max(1)).min(LOOK_AHEAD_PER_SUBSCRIPTION)
    }

    /// Forgets holds and parked slots (the cursor was reset).
    pub fn clear(&mut self) {
        self.held.clear();
        self.holders.clear();
        self.parked.clear();
        self.parked_by_slot.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::testing::consumer;

    fn auto_split() -> KeySharedSpec {
        KeySharedSpec::default()
    }

    #[test]
    fn slots_are_murmur3_of_the_sticky_key() {
        // Murmur3 x86_32 of "hello" with seed 0 is 0x248bfa47.
        assert_eq!(slot_of(b"hello"), 0xfa47);
        let mut metadata = MessageMetadata {
            partition_key: Some("p".into()),
            ..Default::default()
        };
        assert_eq!(sticky_key(&metadata), b"p");
        metadata.ordering_key = Some(bytes::Bytes::from_static(b"o"));
        assert_eq!(sticky_key(&metadata), b"o", "the ordering key wins");
        assert_eq!(sticky_key(&MessageMetadata::default()), NONE_KEY);
    }

    #[test]
    fn auto_split_moves_only_some_slots_when_a_consumer_joins() {
        let (a, b) = (consumer(1, "a", 0), consumer(2, "b", 0));
        let mut state = KeySharedState::default();
        state
            .add_consumer(a.key(), "a", &auto_split(), &[])
            .unwrap();
        assert!((0..SLOTS)
            .step_by(97)
            .all(|s| state.owner(s) == Some(a.key())));
        state
            .add_consumer(b.key(), "b", &auto_split(), std::slice::from_ref(&a))
            .unwrap();
        let to_b = (0..SLOTS)
            .filter(|s| state.owner(*s) == Some(b.key()))
            .count();
        assert!(
            to_b > SLOTS as usize / 5 && to_b < SLOTS as usize * 4 / 5,
            "{to_b} slots moved"
        );
        state.remove_consumer(b.key());
        assert!((0..SLOTS)
            .step_by(97)
            .all(|s| state.owner(s) == Some(a.key())));
    }

    #[test]
    fn a_held_slot_waits_unless_out_of_order_is_allowed() {
        let (a, b) = (consumer(1, "a", 0), consumer(2, "b", 0));
        let consumers = vec![a.clone(), b.clone()];
        for allow_out_of_order in [false, true] {
            let spec = KeySharedSpec {
                sticky_ranges: Some(vec![(0, 65535)]),
                allow_out_of_order,
            };
            let mut state = KeySharedState::default();
            state.add_consumer(a.key(), "a", &spec, &[]).unwrap();
            // "a" got an entry of slot 7, then "b" owns every slot.
            state.sent(Position::new(1, 0), 7, a.key());
            state.remove_consumer(a.key());
            let spec_b = KeySharedSpec {
                sticky_ranges: Some(vec![(0, 65535)]),
                allow_out_of_order,
            };
            state
                .add_consumer(b.key(), "b", &spec_b, std::slice::from_ref(&b))
                .unwrap();
            let placed = matches!(
                state.place(7, Position::new(1, 1), &consumers),
                Placement::To(c) if c.key() == b.key()
            );
            assert_eq!(placed, allow_out_of_order);
            // Once "a" acknowledges, the slot is free for "b".
            state.forget(Position::new(1, 0));
            assert!(matches!(
                state.place(7, Position::new(1, 1), &consumers),
                Placement::To(c) if c.key() == b.key()
            ));
        }
    }

    #[test]
    fn a_parked_older_entry_goes_first() {
        let a = consumer(1, "a", 0);
        let consumers = vec![a.clone()];
        let mut state = KeySharedState::default();
        state
            .add_consumer(a.key(), "a", &auto_split(), &[])
            .unwrap();
        state.park(Position::new(1, 3), 9);
        assert!(matches!(
            state.place(9, Position::new(1, 5), &consumers),
            Placement::Wait
        ));
        assert!(matches!(
            state.place(10, Position::new(1, 5), &consumers),
            Placement::To(_)
        ));
        state.take_from_replay(Position::new(1, 3));
        assert!(matches!(
            state.place(9, Position::new(1, 5), &consumers),
            Placement::To(_)
        ));
    }

    #[test]
    fn sticky_ranges_are_checked() {
        let (a, b) = (consumer(1, "a", 0), consumer(2, "b", 0));
        let sticky = |ranges: Vec<(i32, i32)>| KeySharedSpec {
            sticky_ranges: Some(ranges),
            allow_out_of_order: false,
        };
        let mut state = KeySharedState::default();
        state
            .add_consumer(a.key(), "a", &sticky(vec![(0, 99), (200, 299)]), &[])
            .unwrap();
        assert_eq!(
            state.add_consumer(
                b.key(),
                "b",
                &sticky(vec![(250, 400)]),
                std::slice::from_ref(&a)
            ),
            Err(KeySharedError::RangeConflict {
                start: 250,
                end: 400
            })
        );
        assert_eq!(
            state.add_consumer(
                b.key(),
                "b",
                &sticky(vec![(300, 310), (305, 320)]),
                std::slice::from_ref(&a)
            ),
            Err(KeySharedError::RangeConflict {
                start: 305,
                end: 320
            })
        );
        assert_eq!(
            state.add_consumer(b.key(), "b", &auto_split(), std::slice::from_ref(&a)),
            Err(KeySharedError::ModeMismatch {
                existing: "STICKY",
                requested: "AUTO_SPLIT"
            })
        );
        state
            .add_consumer(
                b.key(),
                "b",
                &sticky(vec![(100, 199)]),
                std::slice::from_ref(&a),
            )
            .unwrap();
        assert_eq!(state.owner(150), Some(b.key()));
        assert_eq!(state.owner(250), Some(a.key()));
        assert_eq!(state.owner(5000), None, "an uncovered slot has no owner");
    }
}
