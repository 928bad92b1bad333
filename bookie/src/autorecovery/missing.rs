//! [`MissingBookies`]: the auditor's bookkeeping of which bookies are gone
//! and since when. Pure (time is passed in), so the grace-period rules are
//! unit-tested without a cluster.
//!
//! A bookie becomes *missing* when its registration disappears, or when a
//! ledger references it and it is not registered (a bookie that was gone
//! before this auditor started). It is *lost* once missing for at least the
//! recovery delay. Registering again clears it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::client::BookieId;

#[derive(Debug, Clone, Copy)]
struct Missing {
    since: Instant,
    /// Whether a ledger scan has marked its ledgers since it became lost.
    audited: bool,
}

#[derive(Debug, Default)]
pub struct MissingBookies {
    available: BTreeSet<BookieId>,
    missing: BTreeMap<BookieId, Missing>,
}

impl MissingBookies {
    /// Takes in the current registrations: bookies that vanished since the
    /// last call start missing at `now`; registered ones are not missing.
    pub fn observe_available(&mut self, available: BTreeSet<BookieId>, now: Instant) {
        for gone in self.available.difference(&available) {
            self.missing.entry(gone.clone()).or_insert(Missing {
                since: now,
                audited: false,
            });
        }
        self.missing.retain(|id, _| !available.contains(id));
        self.available = available;
    }

    /// A ledger references `bookie`: if it is not registered it is missing
    /// (from `now`, unless already known).
    pub fn observe_referenced(&mut self, bookie: &str, now: Instant) {
        if !self.available.contains(bookie) && !self.missing.contains_key(bookie) {
            self.missing.insert(
                bookie.to_string(),
                Missing {
                    since: now,
                    audited: false,
                },
            );
        }
    }

    pub fn is_available(&self, bookie: &str) -> bool {
        self.available.contains(bookie)
    }

    /// Whether a bookie became lost that no scan has handled yet.
    pub fn audit_due(&self, now: Instant, delay: Duration) -> bool {
        self.missing.values().any(|missing| {
            !missing.audited && now.saturating_duration_since(missing.since) >= delay
        })
    }

    /// The bookies missing for at least `delay`.
    pub fn lost(&self, now: Instant, delay: Duration) -> BTreeSet<BookieId> {
        self.missing
            .iter()
            .filter(|(_, missing)| now.saturating_duration_since(missing.since) >= delay)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Records that a scan marked the ledgers of `bookies`.
    pub fn mark_audited(&mut self, bookies: &BTreeSet<BookieId>) {
        for id in bookies {
            if let Some(missing) = self.missing.get_mut(id) {
                missing.audited = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> BTreeSet<BookieId> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn a_vanished_bookie_is_lost_only_after_the_delay() {
        let delay = Duration::from_secs(30);
        let t0 = Instant::now();
        let mut bookies = MissingBookies::default();
        bookies.observe_available(set(&["a", "b", "c"]), t0);
        assert!(!bookies.audit_due(t0, delay));

        bookies.observe_available(set(&["a", "c"]), t0 + Duration::from_secs(1));
        assert!(!bookies.is_available("b"));
        assert!(!bookies.audit_due(t0 + Duration::from_secs(30), delay));
        assert!(bookies.lost(t0 + Duration::from_secs(30), delay).is_empty());
        let later = t0 + Duration::from_secs(31);
        assert!(bookies.audit_due(later, delay));
        assert_eq!(bookies.lost(later, delay), set(&["b"]));

        bookies.mark_audited(&set(&["b"]));
        assert!(!bookies.audit_due(later, delay), "audited once");
        assert_eq!(
            bookies.lost(later, delay),
            set(&["b"]),
            "still lost for periodic checks"
        );
    }

    #[test]
    fn a_bookie_back_within_the_delay_is_never_lost() {
        let delay = Duration::from_secs(5);
        let t0 = Instant::now();
        let mut bookies = MissingBookies::default();
        bookies.observe_available(set(&["a", "b"]), t0);
        bookies.observe_available(set(&["a"]), t0);
        bookies.observe_available(set(&["a", "b"]), t0 + Duration::from_secs(2));
        assert!(bookies.lost(t0 + Duration::from_secs(60), delay).is_empty());
        // Leaving again restarts the clock.
        bookies.observe_available(set(&["a"]), t0 + Duration::from_secs(60));
        assert!(bookies.lost(t0 + Duration::from_secs(64), delay).is_empty());
        assert_eq!(
            bookies.lost(t0 + Duration::from_secs(65), delay),
            set(&["b"])
        );
    }

    #[test]
    fn referenced_unregistered_bookies_start_missing_when_first_seen() {
        let delay = Duration::from_secs(5);
        let t0 = Instant::now();
        let mut bookies = MissingBookies::default();
        bookies.observe_available(set(&["a"]), t0);
        bookies.observe_referenced("a", t0);
        bookies.observe_referenced("z", t0);
        bookies.observe_referenced("z", t0 + Duration::from_secs(4));
        assert_eq!(
            bookies.lost(t0 + Duration::from_secs(5), delay),
            set(&["z"])
        );
    }
}
