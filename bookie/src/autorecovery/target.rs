//! Where a fragment's entries go, and when an open ledger's tail may be
//! fenced. Pure (bookie lists and time are passed in).
//!
//! - A lost bookie's entries go to a random writable bookie outside the
//!   segment's ensemble and the lost set.
//! - A hole's entries go back to the hole's original bookie when it is
//!   registered writable again (it may already hold some of them), else to
//!   such a spare.
//! - The last segment of a ledger that is not closed belongs to its writer,
//!   which replaces lost bookies and fills holes itself. The worker fences
//!   and recovers such a ledger only when a *spare* (a writable bookie
//!   outside the tail's ensemble and the lost set) existed at every look
//!   during the whole grace period ([`TailTimers`]): a live writer would
//!   have used it by then. The tail's own hole bookies do not count — the
//!   writer just saw them fail, and a dead bookie stays registered until its
//!   session expires. Without a spare the ledger is left alone, so a
//!   healthy writer running degraded is never fenced.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;

use super::fragment::{Fragment, FragmentKind};
use crate::client::BookieId;
use crate::ledger::LedgerId;

/// Writable bookies outside the fragment's ensemble and `lost`.
pub fn spares<'a>(
    fragment: &Fragment,
    writable: &'a [BookieId],
    lost: &BTreeSet<BookieId>,
) -> Vec<&'a BookieId> {
    writable
        .iter()
        .filter(|bookie| !fragment.ensemble.contains(bookie) && !lost.contains(*bookie))
        .collect()
}

/// The bookie to copy `fragment` to, or `None` when there is none.
pub fn choose_target(
    fragment: &Fragment,
    writable: &[BookieId],
    lost: &BTreeSet<BookieId>,
) -> Option<BookieId> {
    let original = fragment.bookie();
    if fragment.kind == FragmentKind::Hole
        && !lost.contains(original)
        && writable.iter().any(|bookie| bookie == original)
    {
        return Some(original.to_string());
    }
    spares(fragment, writable, lost)
        .choose(&mut rand::thread_rng())
        .map(|bookie| (*bookie).clone())
}

/// Per open ledger: since when a spare for its tail has existed without a
/// gap (as far as this worker looked).
#[derive(Debug, Default)]
pub struct TailTimers {
    since: HashMap<LedgerId, Instant>,
}

impl TailTimers {
    /// Records one look at `ledger_id`'s tail; returns whether it may be
    /// fenced now: a spare existed at every look for at least `grace`.
    /// A look without a spare restarts the clock.
    pub fn observe(
        &mut self,
        ledger_id: LedgerId,
        spare: bool,
        now: Instant,
        grace: Duration,
    ) -> bool {
        if !spare {
            self.since.remove(&ledger_id);
            return false;
        }
        let since = *self.since.entry(ledger_id).or_insert_with(|| {
            tracing::debug!(
                ledger_id,
                ?grace,
                "open ledger's tail is under-replicated and a spare exists; leaving it to its writer for the grace period"
            );
            now
        });
        now.saturating_duration_since(since) >= grace
    }

    /// The ledger no longer has an under-replicated open tail.
    pub fn forget(&mut self, ledger_id: LedgerId) {
        self.since.remove(&ledger_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragment(kind: FragmentKind, index: usize) -> Fragment {
        Fragment {
            kind,
            segment_index: 0,
            first_entry: 0,
            last_entry: Some(9),
            ensemble: ["a", "b", "c"].map(String::from).to_vec(),
            holes: vec![2],
            index,
        }
    }

    fn ids(ids: &[&str]) -> Vec<BookieId> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn a_hole_goes_back_to_its_original_bookie_when_it_is_writable() {
        let hole = fragment(FragmentKind::Hole, 2);
        let none = BTreeSet::new();
        for _ in 0..20 {
            let target = choose_target(&hole, &ids(&["a", "b", "c", "d", "e"]), &none);
            assert_eq!(target.as_deref(), Some("c"));
        }
        let target = choose_target(&hole, &ids(&["a", "b", "d"]), &none);
        assert_eq!(target.as_deref(), Some("d"), "c is not registered");
        assert_eq!(choose_target(&hole, &ids(&["a", "b"]), &none), None);
        let lost: BTreeSet<BookieId> = ["d".to_string()].into();
        assert_eq!(choose_target(&hole, &ids(&["a", "b", "d"]), &lost), None);
    }

    #[test]
    fn a_lost_bookie_is_replaced_by_a_spare_only() {
        let lost_fragment = fragment(FragmentKind::Lost, 0);
        let lost: BTreeSet<BookieId> = ["a".to_string()].into();
        assert_eq!(
            choose_target(&lost_fragment, &ids(&["a", "b", "c"]), &lost),
            None
        );
        assert_eq!(
            choose_target(&lost_fragment, &ids(&["b", "c", "e"]), &lost).as_deref(),
            Some("e")
        );
    }

    #[test]
    fn a_tail_is_due_only_after_a_spare_existed_for_the_whole_grace() {
        let grace = Duration::from_secs(30);
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let mut timers = TailTimers::default();
        assert!(!timers.observe(7, false, at(0), grace));
        assert!(
            !timers.observe(7, false, at(100), grace),
            "no spare, never due"
        );
        assert!(!timers.observe(7, true, at(100), grace));
        assert!(!timers.observe(7, true, at(125), grace));
        assert!(
            !timers.observe(7, false, at(128), grace),
            "a gap restarts the clock"
        );
        assert!(!timers.observe(7, true, at(130), grace));
        assert!(!timers.observe(7, true, at(159), grace));
        assert!(timers.observe(7, true, at(160), grace));
        assert!(!timers.observe(8, true, at(160), grace), "per ledger");
        timers.forget(7);
        assert!(!timers.observe(7, true, at(161), grace));
    }
}
