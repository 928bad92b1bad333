//! [`Notices`]: at most one log line per ledger per interval for a
//! condition that repeats on every retry (the worker finding no spare
//! bookie, every `retry_interval`). Time is passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::ledger::LedgerId;

#[derive(Debug)]
pub struct Notices {
    interval: Duration,
    last: HashMap<LedgerId, Instant>,
}

impl Notices {
    pub fn new(interval: Duration) -> Self {
        Notices {
            interval,
            last: HashMap::new(),
        }
    }

    /// Whether a notice about `ledger_id` may be logged at `now`; if so, it
    /// counts as logged.
    pub fn allow(&mut self, ledger_id: LedgerId, now: Instant) -> bool {
        let interval = self.interval;
        self.last
            .retain(|_, at| now.saturating_duration_since(*at) < interval);
        if self.last.contains_key(&ledger_id) {
            return false;
        }
        self.last.insert(ledger_id, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_notice_per_ledger_per_interval() {
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let mut notices = Notices::new(Duration::from_secs(60));
        assert!(notices.allow(1, at(0)));
        assert!(!notices.allow(1, at(5)));
        assert!(notices.allow(2, at(5)), "per ledger");
        assert!(!notices.allow(1, at(59)));
        assert!(notices.allow(1, at(60)));
        assert!(!notices.allow(2, at(64)));
        assert!(notices.allow(2, at(65)));
    }
}
