//! Message traffic of one topic: messages and bytes in (published) and out
//! (dispatched), counted as they happen. The load manager turns the
//! counters into rates per bundle; the process-wide totals in
//! [`crate::metrics`] move with them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics;

/// Counters shared by a topic, its producers and its consumers.
#[derive(Debug, Default)]
pub struct TopicTraffic {
    msgs_in: AtomicU64,
    bytes_in: AtomicU64,
    msgs_out: AtomicU64,
    bytes_out: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficTotals {
    pub msgs_in: u64,
    pub bytes_in: u64,
    pub msgs_out: u64,
    pub bytes_out: u64,
}

impl TrafficTotals {
    /// What happened between `earlier` and `self` (counters only grow).
    pub fn since(&self, earlier: &TrafficTotals) -> TrafficTotals {
        TrafficTotals {
            msgs_in: self.msgs_in.saturating_sub(earlier.msgs_in),
            bytes_in: self.bytes_in.saturating_sub(earlier.bytes_in),
            msgs_out: self.msgs_out.saturating_sub(earlier.msgs_out),
            bytes_out: self.bytes_out.saturating_sub(earlier.bytes_out),
        }
    }
}

impl TopicTraffic {
    /// A published entry of `msgs` messages (a batch counts its messages).
    pub fn record_in(&self, msgs: u64, bytes: u64) {
        self.msgs_in.fetch_add(msgs, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
        metrics::MESSAGES_IN.add(msgs);
        metrics::BYTES_IN.add(bytes);
    }

    /// A dispatched entry of `msgs` messages.
    pub fn record_out(&self, msgs: u64, bytes: u64) {
        self.msgs_out.fetch_add(msgs, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        metrics::MESSAGES_OUT.add(msgs);
        metrics::BYTES_OUT.add(bytes);
    }

    pub fn totals(&self) -> TrafficTotals {
        TrafficTotals {
            msgs_in: self.msgs_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            msgs_out: self.msgs_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_count_both_directions_and_differences_never_underflow() {
        let traffic = TopicTraffic::default();
        traffic.record_in(10, 1000);
        let first = traffic.totals();
        traffic.record_in(5, 500);
        traffic.record_out(15, 1500);
        let delta = traffic.totals().since(&first);
        assert_eq!(
            delta,
            TrafficTotals {
                msgs_in: 5,
                bytes_in: 500,
                msgs_out: 15,
                bytes_out: 1500
            }
        );
        assert_eq!(first.since(&traffic.totals()), TrafficTotals::default());
    }
}
