//! Acknowledgement algebra of a cursor, over dense offsets (see
//! [`super::layout`]): a mark-delete offset `M` (everything `<= M` is acked)
//! plus sorted, disjoint, non-adjacent closed ranges of acked offsets `> M`.
//!
//! Invariants kept by every operation (checked by the property test):
//! - every range lies strictly above `M + 1` (a range starting at `M + 1`
//!   is folded into `M` at once);
//! - ranges are disjoint and never touch (`end + 1 < next.start`).

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckState {
    mark_delete: i64,
    /// start -> end (inclusive).
    ranges: BTreeMap<i64, i64>,
}

impl AckState {
    pub fn new(mark_delete: i64) -> Self {
        AckState {
            mark_delete,
            ranges: BTreeMap::new(),
        }
    }

    pub fn mark_delete(&self) -> i64 {
        self.mark_delete
    }

    /// Acked ranges above the mark-delete offset, ascending.
    pub fn ranges(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ranges.iter().map(|(s, e)| (*s, *e))
    }

    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_acked(&self, offset: i64) -> bool {
        offset <= self.mark_delete || self.range_containing(offset).is_some()
    }

    /// The range holding `offset`, if any.
    pub fn range_containing(&self, offset: i64) -> Option<(i64, i64)> {
        let (start, end) = self.ranges.range(..=offset).next_back()?;
        (*end >= offset).then_some((*start, *end))
    }

    /// Acks the closed range `[start, end]`. Returns whether `M` moved.
    pub fn ack_range(&mut self, start: i64, end: i64) -> bool {
        let start = start.max(self.mark_delete + 1);
        if start > end {
            return false;
        }
        let (mut new_start, mut new_end) = (start, end);
        // Absorb every range that overlaps or touches [start, end].
        let touching: Vec<(i64, i64)> = self
            .ranges
            .range(..=end.saturating_add(1))
            .rev()
            .take_while(|(_, e)| **e >= start - 1)
            .map(|(s, e)| (*s, *e))
            .collect();
        for (s, e) in touching {
            self.ranges.remove(&s);
            new_start = new_start.min(s);
            new_end = new_end.max(e);
        }
        self.ranges.insert(new_start, new_end);
        self.fold_into_mark_delete()
    }

    pub fn ack(&mut self, offset: i64) -> bool {
        self.ack_range(offset, offset)
    }

    /// Cumulative ack: `M := max(M, offset)`. Returns whether `M` moved.
    pub fn ack_cumulative(&mut self, offset: i64) -> bool {
        if offset <= self.mark_delete {
            return false;
        }
        self.mark_delete = offset;
        let covered: Vec<(i64, i64)> = self
            .ranges
            .range(..=offset)
            .map(|(s, e)| (*s, *e))
            .collect();
        for (s, e) in covered {
            self.ranges.remove(&s);
            if e > offset {
                self.ranges.insert(offset + 1, e);
            }
        }
        self.fold_into_mark_delete();
        true
    }

    /// Number of unacked offsets in `(M, last]`.
    pub fn unacked_up_to(&self, last: i64) -> u64 {
        if last <= self.mark_delete {
            return 0;
        }
        let acked: i64 = self
            .ranges
            .range(..=last)
            .map(|(s, e)| (*e).min(last) - s + 1)
            .sum();
        (last - self.mark_delete - acked).max(0) as u64
    }

    /// The first unacked offset `>= offset`.
    pub fn next_unacked(&self, offset: i64) -> i64 {
        let offset = offset.max(self.mark_delete + 1);
        match self.range_containing(offset) {
            Some((_, end)) => end + 1,
            None => offset,
        }
    }

    fn fold_into_mark_delete(&mut self) -> bool {
        let mut moved = false;
        while let Some((&start, &end)) = self.ranges.iter().next() {
            if start > self.mark_delete + 1 {
                break;
            }
            self.ranges.remove(&start);
            self.mark_delete = self.mark_delete.max(end);
            moved = true;
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn individual_acks_fold_into_mark_delete() {
        let mut s = AckState::new(-1);
        assert!(!s.ack(2));
        assert!(!s.ack(1));
        assert_eq!(s.ranges().collect::<Vec<_>>(), vec![(1, 2)]);
        assert!(s.ack(0));
        assert_eq!(s.mark_delete(), 2);
        assert_eq!(s.range_count(), 0);
    }

    #[test]
    fn cumulative_ack_splits_a_straddling_range() {
        let mut s = AckState::new(-1);
        s.ack_range(5, 9);
        s.ack_cumulative(6);
        assert_eq!(
            s.mark_delete(),
            9,
            "7..=9 is contiguous with the new mark-delete"
        );
        assert_eq!(s.unacked_up_to(12), 3);
    }

    /// ML-6: random individual and cumulative acks against a brute-force set.
    #[test]
    fn matches_brute_force_model_under_random_acks() {
        for seed in 0..200u64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut state = AckState::new(-1);
            let mut model: BTreeSet<i64> = BTreeSet::new();
            let universe = rng.gen_range(1..80i64);
            for _ in 0..rng.gen_range(1..120) {
                let p = rng.gen_range(0..universe);
                if rng.gen_bool(0.1) {
                    state.ack_cumulative(p);
                    model.extend(0..=p);
                } else {
                    state.ack(p);
                    model.insert(p);
                }
                check_against_model(&state, &model, universe, seed);
            }
        }
    }

    /// One step of the property test: an individual ack, a range ack or a
    /// cumulative ack.
    #[derive(Debug, Clone)]
    enum Op {
        Ack(i64),
        Range(i64, i64),
        Cumulative(i64),
    }

    fn op(universe: i64) -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..universe).prop_map(Op::Ack),
            2 => (0..universe, 0..8i64).prop_map(|(start, len)| Op::Range(start, start + len)),
            1 => (0..universe).prop_map(Op::Cumulative),
        ]
    }

    proptest! {
        /// The mark-delete position is the largest fully acknowledged
        /// prefix and the ranges hold exactly the acks above it, whatever
        /// the order of individual, range and cumulative acks; shrinking
        /// finds the shortest failing sequence.
        #[test]
        fn acks_in_any_order_match_the_set_of_acked_offsets(
            ops in proptest::collection::vec(op(64), 1..200)
        ) {
            let mut state = AckState::new(-1);
            let mut model: BTreeSet<i64> = BTreeSet::new();
            for op in ops {
                let moved_before = state.mark_delete();
                let moved = match op {
                    Op::Ack(p) => {
                        model.insert(p);
                        state.ack(p)
                    }
                    Op::Range(start, end) => {
                        model.extend(start..=end);
                        state.ack_range(start, end)
                    }
                    Op::Cumulative(p) => {
                        model.extend(0..=p);
                        state.ack_cumulative(p)
                    }
                };
                prop_assert_eq!(moved, state.mark_delete() != moved_before);
                check_against_model(&state, &model, 72, 0);
            }
        }
    }

    fn check_against_model(state: &AckState, model: &BTreeSet<i64>, universe: i64, seed: u64) {
        let expected_md = (0..).take_while(|p| model.contains(p)).last().unwrap_or(-1);
        assert_eq!(state.mark_delete(), expected_md, "seed {seed}");
        let mut previous_end = state.mark_delete() + 1;
        for (start, end) in state.ranges() {
            assert!(
                start > previous_end,
                "seed {seed}: ranges must be disjoint, non-adjacent, > M+1"
            );
            assert!(start <= end, "seed {seed}");
            previous_end = end + 1;
        }
        for p in 0..universe + 2 {
            assert_eq!(
                state.is_acked(p),
                model.contains(&p),
                "seed {seed} offset {p}"
            );
        }
        let last = universe - 1;
        let brute = (0..=last).filter(|p| !model.contains(p)).count() as u64;
        assert_eq!(state.unacked_up_to(last), brute, "seed {seed} backlog");
        let first_unacked = (0..).find(|p| !model.contains(p)).unwrap_or(0);
        assert_eq!(state.next_unacked(0), first_unacked, "seed {seed}");
    }
}
