//! Batch-index acknowledgement: the messages of a batch entry acknowledged
//! one by one. Each entry partly acknowledged keeps a bitset in the form
//! the protocol's `ack_set` uses (`java.util.BitSet` words, a *set* bit is
//! a message still unacknowledged). An ack AND-s its set into the stored
//! one; when no bit is left, the whole entry is acknowledged.
//!
//! Stored with the cursor (the first [`MAX_PERSISTED_BATCH_ACKS`] entries),
//! so after a restart or a move of the topic a partly acknowledged batch
//! is redelivered with its acknowledged messages marked; beyond the cap it
//! is redelivered whole (at least once, never lost).

use std::collections::HashMap;

/// Partly acknowledged batch entries stored with a cursor at most.
pub const MAX_PERSISTED_BATCH_ACKS: usize = 10_000;

#[derive(Debug, Default)]
pub struct BatchAcks {
    /// Offset -> remaining (unacknowledged) bits.
    remaining: HashMap<i64, Vec<i64>>,
}

impl BatchAcks {
    /// Applies an ack set to the entry at `offset`; returns whether the
    /// entry is now fully acknowledged (and forgets it then).
    pub fn apply(&mut self, offset: i64, ack_set: &[i64]) -> bool {
        let remaining = self
            .remaining
            .entry(offset)
            .or_insert_with(|| ack_set.to_vec());
        remaining.truncate(ack_set.len());
        for (word, acked) in remaining.iter_mut().zip(ack_set) {
            *word &= *acked;
        }
        if remaining.iter().all(|word| *word == 0) {
            self.remaining.remove(&offset);
            return true;
        }
        false
    }

    /// What is left unacknowledged of the entry at `offset`, if it is
    /// partly acknowledged.
    pub fn remaining(&self, offset: i64) -> Option<&[i64]> {
        self.remaining.get(&offset).map(Vec::as_slice)
    }

    /// Restores what a stored cursor kept of the entry at `offset`.
    pub fn restore(&mut self, offset: i64, remaining: Vec<i64>) {
        if remaining.iter().any(|word| *word != 0) {
            self.remaining.insert(offset, remaining);
        }
    }

    /// The partly acknowledged entries, lowest offset first, at most
    /// `limit` of them.
    pub fn lowest(&self, limit: usize) -> Vec<(i64, Vec<i64>)> {
        let mut offsets: Vec<i64> = self.remaining.keys().copied().collect();
        offsets.sort_unstable();
        offsets
            .into_iter()
            .take(limit)
            .filter_map(|o| self.remaining.get(&o).map(|words| (o, words.clone())))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.remaining.is_empty()
    }

    /// The entry was acknowledged whole.
    pub fn forget(&mut self, offset: i64) {
        self.remaining.remove(&offset);
    }

    /// Everything up to `offset` was acknowledged.
    pub fn forget_up_to(&mut self, offset: i64) {
        self.remaining.retain(|o, _| *o > offset);
    }

    pub fn clear(&mut self) {
        self.remaining.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ack set a client sends for index `i` of a batch of `n`: all
    /// bits of the batch set except `i`.
    fn ack_of(i: u32, n: u32) -> Vec<i64> {
        let all = if n == 64 { -1i64 } else { (1i64 << n) - 1 };
        vec![all & !(1i64 << i)]
    }

    #[test]
    fn an_entry_is_acknowledged_when_every_index_is() {
        let mut acks = BatchAcks::default();
        assert!(!acks.apply(7, &ack_of(0, 3)));
        assert!(!acks.apply(7, &ack_of(2, 3)));
        assert_eq!(acks.remaining(7), Some(&[0b010i64][..]));
        assert!(
            !acks.apply(7, &ack_of(2, 3)),
            "acking twice changes nothing"
        );
        assert!(acks.apply(7, &ack_of(1, 3)));
        assert!(acks.is_empty());
    }

    #[test]
    fn cumulative_and_whole_acks_forget_partial_state() {
        let mut acks = BatchAcks::default();
        acks.apply(1, &ack_of(0, 2));
        acks.apply(5, &ack_of(0, 2));
        acks.forget_up_to(3);
        assert_eq!(acks.remaining(1), None);
        assert!(acks.remaining(5).is_some());
        acks.forget(5);
        assert!(acks.is_empty());
    }

    #[test]
    fn stored_form_round_trips_lowest_first() {
        let mut acks = BatchAcks::default();
        acks.apply(9, &ack_of(1, 3));
        acks.apply(4, &ack_of(0, 2));
        let stored = acks.lowest(10);
        assert_eq!(stored.iter().map(|(o, _)| *o).collect::<Vec<_>>(), [4, 9]);
        assert_eq!(acks.lowest(1).len(), 1);
        let mut restored = BatchAcks::default();
        for (offset, remaining) in stored {
            restored.restore(offset, remaining);
        }
        assert_eq!(restored.remaining(9), acks.remaining(9));
        assert!(
            restored.apply(4, &ack_of(1, 2)),
            "the last index completes it"
        );
        restored.restore(5, vec![0]);
        assert_eq!(restored.remaining(5), None, "nothing left is not kept");
    }
}
