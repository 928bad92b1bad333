//! [`AddLatencyStats`]: how long adds take inside the bookie, from the
//! moment their batch is taken off the stream (or handed over in process)
//! to the moment the journal fsync covering them has completed.
//!
//! It separates the bookie's own share of an add's latency (admission,
//! journal queue, group commit, fsync) from the network and client share a
//! caller measures. `Info` reports it, and can start a new measurement.

use std::time::Duration;

use hdrhistogram::Histogram;
use magnetar_proto::bookie::AddLatency;
use parking_lot::Mutex;

/// Longest latency tracked exactly; longer ones are recorded as this.
const MAX_TRACKED_US: u64 = 60_000_000;

/// A latency histogram in microseconds, shared by every add stream.
pub struct AddLatencyStats {
    histogram: Mutex<Histogram<u64>>,
}

impl Default for AddLatencyStats {
    fn default() -> Self {
        // Three significant figures over 1 µs .. 60 s; the bounds are
        // constants that `new_with_bounds` accepts.
        let histogram = Histogram::new_with_bounds(1, MAX_TRACKED_US, 3)
            .expect("constant histogram bounds are valid");
        AddLatencyStats {
            histogram: Mutex::new(histogram),
        }
    }
}

impl AddLatencyStats {
    /// Records `adds` adds that all took `elapsed`.
    pub fn record(&self, elapsed: Duration, adds: u64) {
        if adds == 0 {
            return;
        }
        let micros = (elapsed.as_micros() as u64).clamp(1, MAX_TRACKED_US);
        // Cannot fail: the value is clamped into the histogram's range.
        let _ = self.histogram.lock().record_n(micros, adds);
    }

    /// The figures so far; with `reset`, a new measurement starts.
    pub fn summary(&self, reset: bool) -> AddLatency {
        let mut histogram = self.histogram.lock();
        let summary = AddLatency {
            count: histogram.len(),
            p50_us: histogram.value_at_quantile(0.5),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
        };
        if reset {
            histogram.reset();
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_quantiles_of_what_was_recorded_and_resets() {
        let stats = AddLatencyStats::default();
        stats.record(Duration::from_micros(200), 98);
        stats.record(Duration::from_millis(5), 2);
        stats.record(Duration::from_millis(1), 0);
        let summary = stats.summary(true);
        assert_eq!(summary.count, 100);
        assert!((199..=201).contains(&summary.p50_us), "{summary:?}");
        assert!((4990..=5010).contains(&summary.p999_us), "{summary:?}");
        assert_eq!(stats.summary(false).count, 0);
    }
}
