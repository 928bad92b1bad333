//! Striping arithmetic: which bookies of an ensemble hold an entry, and when
//! enough of them have answered for a quorum decision.
//!
//! Entry `e` of an ensemble `B[0..E)` is written to `B[(e + i) mod E]` for
//! `i < Qw` (`e` is the absolute entry id). There are exactly `E` distinct
//! write sets, one starting at each index.

use crate::ledger::EntryId;

/// Ensemble size, write quorum and ack quorum of a ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorum {
    pub ensemble: usize,
    pub write: usize,
    pub ack: usize,
}

impl Quorum {
    pub fn new(ensemble: u32, write: u32, ack: u32) -> Self {
        Quorum {
            ensemble: ensemble as usize,
            write: write as usize,
            ack: ack as usize,
        }
    }

    /// Ensemble indices of the bookies that store `entry_id`, in write order.
    pub fn write_set(&self, entry_id: EntryId) -> Vec<usize> {
        let ensemble = self.ensemble.max(1);
        let start = entry_id.rem_euclid(ensemble as i64) as usize;
        (0..self.write.min(ensemble))
            .map(|i| (start + i) % ensemble)
            .collect()
    }

    /// Whether the bookie at `index` stores `entry_id`.
    pub fn holds(&self, index: usize, entry_id: EntryId) -> bool {
        let ensemble = self.ensemble.max(1);
        let start = entry_id.rem_euclid(ensemble as i64) as usize;
        (index + ensemble - start) % ensemble < self.write
    }

    /// The write set of `entry_id` without the `holes`, in write order.
    pub fn live_write_set(&self, entry_id: EntryId, holes: &[usize]) -> Vec<usize> {
        self.write_set(entry_id)
            .into_iter()
            .filter(|index| !holes.contains(index))
            .collect()
    }

    /// Whether a segment with these `holes` can still confirm entries: every
    /// one of its `E` write sets keeps at least `Qa` live members.
    pub fn tolerates(&self, holes: &[usize]) -> bool {
        holes.iter().all(|&hole| hole < self.ensemble)
            && (0..self.ensemble as EntryId)
                .all(|start| self.live_write_set(start, holes).len() >= self.ack)
    }

    /// "Absent" answers needed from a write set of `live` members before its
    /// entry is known never confirmed: an entry confirmed there has `Qa` acks
    /// among those members, so at most `live - Qa` of them can lack it.
    pub fn absent_threshold(&self, live: usize) -> usize {
        (live + 1).saturating_sub(self.ack).max(1)
    }
}

/// Tracks which bookies of an ensemble answered definitively, and decides
/// when every write set has enough answers (`live - Qa + 1` each, where
/// `live` counts the set's members that are not holes). Once covered, no
/// write set still contains `Qa` live bookies that did not answer, so a
/// fenced writer can never again gather an ack quorum. Holes never count:
/// the writer does not send to them.
#[derive(Debug, Clone)]
pub struct Coverage {
    quorum: Quorum,
    holes: Vec<usize>,
    answered: Vec<bool>,
}

impl Coverage {
    pub fn new(quorum: Quorum) -> Self {
        Coverage::with_holes(quorum, Vec::new())
    }

    pub fn with_holes(quorum: Quorum, holes: Vec<usize>) -> Self {
        Coverage {
            quorum,
            holes,
            answered: vec![false; quorum.ensemble],
        }
    }

    pub fn record(&mut self, index: usize) {
        if let Some(slot) = self.answered.get_mut(index) {
            *slot = true;
        }
    }

    pub fn is_covered(&self) -> bool {
        (0..self.quorum.ensemble as i64).all(|start| {
            let live = self.quorum.live_write_set(start, &self.holes);
            let needed = self.quorum.absent_threshold(live.len());
            live.into_iter()
                .filter(|&index| self.answered[index])
                .count()
                >= needed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn write_set_matches_the_documented_example() {
        let quorum = Quorum::new(4, 3, 2);
        assert_eq!(quorum.write_set(0), vec![0, 1, 2]);
        assert_eq!(quorum.write_set(1), vec![1, 2, 3]);
        assert_eq!(quorum.write_set(2), vec![2, 3, 0]);
        assert_eq!(quorum.write_set(3), vec![3, 0, 1]);
        assert_eq!(quorum.write_set(4), vec![0, 1, 2]);
    }

    #[test]
    fn random_write_sets_follow_the_formula() {
        let mut rng = rand::thread_rng();
        for _ in 0..1000 {
            let ensemble = rng.gen_range(1..8u32);
            let write = rng.gen_range(1..=ensemble);
            let quorum = Quorum::new(ensemble, write, 1);
            let entry: i64 = rng.gen_range(0..1_000_000);
            let set = quorum.write_set(entry);
            assert_eq!(set.len(), write as usize);
            for (i, index) in set.iter().enumerate() {
                assert_eq!(*index as i64, (entry + i as i64) % ensemble as i64);
            }
            for index in 0..ensemble as usize {
                assert_eq!(
                    quorum.holds(index, entry),
                    set.contains(&index),
                    "E={ensemble} Qw={write} e={entry}"
                );
            }
            let distinct: std::collections::BTreeSet<_> = (0..3 * ensemble as i64)
                .map(|e| quorum.write_set(e))
                .collect();
            assert_eq!(distinct.len(), ensemble as usize);
        }
    }

    #[test]
    fn coverage_needs_enough_answers_in_every_write_set() {
        // E=3, Qw=3, Qa=2: two answers anywhere cover all (each set is everything).
        let mut coverage = Coverage::new(Quorum::new(3, 3, 2));
        coverage.record(0);
        assert!(!coverage.is_covered());
        coverage.record(2);
        assert!(coverage.is_covered());

        // E=4, Qw=2, Qa=2: one answer per set {0,1},{1,2},{2,3},{3,0}.
        let mut striped = Coverage::new(Quorum::new(4, 2, 2));
        striped.record(0);
        striped.record(2);
        assert!(striped.is_covered());
        let mut uncovered = Coverage::new(Quorum::new(4, 2, 2));
        uncovered.record(0);
        uncovered.record(1);
        assert!(!uncovered.is_covered(), "set {{2,3}} has no answer");
    }

    #[test]
    fn holes_shrink_write_sets_and_thresholds() {
        let quorum = Quorum::new(3, 3, 2);
        assert_eq!(quorum.live_write_set(1, &[2]), vec![1, 0]);
        assert!(quorum.tolerates(&[2]));
        assert!(!quorum.tolerates(&[0, 2]), "one live member is below Qa");
        assert!(!quorum.tolerates(&[3]), "index outside the ensemble");
        // E=4, Qw=3, Qa=2: holes {0,2} leave set {2,3,0} one live member.
        assert!(!Quorum::new(4, 3, 2).tolerates(&[0, 2]));
        assert!(Quorum::new(4, 3, 2).tolerates(&[1]));

        // 3/3/2 with hole 2: the one answer from a live member that an
        // unconfirmed entry may lack is enough ("absent" needs 2 - 2 + 1).
        let mut coverage = Coverage::with_holes(quorum, vec![2]);
        assert!(!coverage.is_covered());
        coverage.record(2);
        assert!(!coverage.is_covered(), "a hole's answer never counts");
        coverage.record(0);
        assert!(coverage.is_covered());

        // 2/2/1 with a hole: the live member alone decides.
        let mut small = Coverage::with_holes(Quorum::new(2, 2, 1), vec![1]);
        small.record(0);
        assert!(small.is_covered());
    }

    /// Brute force: for every hole set a segment tolerates, and every set of
    /// answers the coverage accepts, no write set keeps `Qa` live members
    /// that did not answer, so no entry could still be confirmed unseen.
    #[test]
    fn coverage_with_holes_never_leaves_an_ack_quorum_unanswered() {
        for ensemble in 1..=5u32 {
            for write in 1..=ensemble {
                for ack in 1..=write {
                    let quorum = Quorum::new(ensemble, write, ack);
                    let e = ensemble as usize;
                    for hole_mask in 0..(1u32 << e) {
                        let holes: Vec<usize> =
                            (0..e).filter(|i| hole_mask & (1 << i) != 0).collect();
                        if !quorum.tolerates(&holes) {
                            continue;
                        }
                        for answer_mask in 0..(1u32 << e) {
                            let mut coverage = Coverage::with_holes(quorum, holes.clone());
                            (0..e)
                                .filter(|i| answer_mask & (1 << i) != 0)
                                .for_each(|i| coverage.record(i));
                            if !coverage.is_covered() {
                                continue;
                            }
                            for start in 0..e as EntryId {
                                let silent = quorum
                                    .live_write_set(start, &holes)
                                    .into_iter()
                                    .filter(|i| answer_mask & (1 << i) == 0)
                                    .count();
                                assert!(silent < ack as usize, "E={ensemble} Qw={write} Qa={ack} holes={holes:?} answers={answer_mask:b}");
                            }
                        }
                    }
                }
            }
        }
    }
}
