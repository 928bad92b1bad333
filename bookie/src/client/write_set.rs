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

    /// Definitive answers needed from one write set before its entry is known
    /// absent (or the set is known fenced): more than `Qw - Qa` of it.
    pub fn definitive_per_write_set(&self) -> usize {
        self.write - self.ack + 1
    }
}

/// Tracks which bookies of an ensemble answered definitively, and decides
/// when every write set has enough answers (`Qw - Qa + 1` each). Once covered,
/// no write set still contains `Qa` bookies that did not answer, so a fenced
/// writer can never again gather an ack quorum.
#[derive(Debug, Clone)]
pub struct Coverage {
    quorum: Quorum,
    answered: Vec<bool>,
}

impl Coverage {
    pub fn new(quorum: Quorum) -> Self {
        Coverage {
            quorum,
            answered: vec![false; quorum.ensemble],
        }
    }

    pub fn record(&mut self, index: usize) {
        if let Some(slot) = self.answered.get_mut(index) {
            *slot = true;
        }
    }

    pub fn is_covered(&self) -> bool {
        let needed = self.quorum.definitive_per_write_set();
        (0..self.quorum.ensemble as i64).all(|start| {
            self.quorum
                .write_set(start)
                .into_iter()
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
}
