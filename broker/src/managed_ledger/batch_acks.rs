//! Batch-index acknowledgement: the messages of a batch entry acknowledged
//! one by one. Each entry partly acknowledged keeps a bitset in the form
//! the protocol's `ack_set` uses (`java.util.BitSet` words, a *set* bit is
//! a message still unacknowledged). An ack AND-s its set into the stored
//! one; when no bit is left, the whole entry is acknowledged.
//!
//! Kept in memory only: after a restart or a move of the topic a partly
//! acknowledged batch is redelivered whole (at least once, never lost).

use std::collections::HashMap;

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
}
