//! Message traffic: messages and bytes through a topic (in: published,
//! out: dispatched), a producer or a consumer, counted as they happen, with
//! rates per second over the last sampling interval and the latency of
//! durable writes. The load manager turns the topic counters into rates
//! per bundle; the process-wide totals in [`crate::metrics`] move with
//! them; topic stats and the `pulsar_*` metrics read the rates.
//!
//! Counting is one relaxed atomic add per figure. Rates change only when
//! [`Flow::sample`] is called (the topic registry's sampler does it every
//! few seconds), so every reader sees the same rate in between.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::metrics;

/// Messages and bytes through one point, with their rates.
#[derive(Debug, Default)]
pub struct Flow {
    msgs: AtomicU64,
    bytes: AtomicU64,
    rates: Mutex<Rates>,
}

#[derive(Debug, Default)]
struct Rates {
    /// When the counters were last sampled, and what they said.
    sampled: Option<(Instant, u64, u64)>,
    now: FlowRate,
}

/// Rates per second over the last sampling interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FlowRate {
    pub msgs: f64,
    pub bytes: f64,
}

impl Flow {
    pub fn record(&self, msgs: u64, bytes: u64) {
        self.msgs.fetch_add(msgs, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Messages counted since the start.
    pub fn msgs(&self) -> u64 {
        self.msgs.load(Ordering::Relaxed)
    }

    /// Bytes counted since the start.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Closes a sampling interval at `now`: the rates become what was
    /// counted since the previous sample, per second. The first sample
    /// only starts the first interval.
    pub fn sample(&self, now: Instant) {
        let (msgs, bytes) = (self.msgs(), self.bytes());
        let mut rates = self.rates.lock();
        if let Some((at, last_msgs, last_bytes)) = rates.sampled {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            if elapsed <= 0.0 {
                return;
            }
            rates.now = FlowRate {
                msgs: msgs.saturating_sub(last_msgs) as f64 / elapsed,
                bytes: bytes.saturating_sub(last_bytes) as f64 / elapsed,
            };
        }
        rates.sampled = Some((now, msgs, bytes));
    }

    /// The rates of the last sampling interval (zero before two samples).
    pub fn rate(&self) -> FlowRate {
        self.rates.lock().now
    }
}

/// Upper bounds of the write-latency buckets, in milliseconds: Pulsar's
/// `pulsar_storage_write_latency_le_*` bounds. A last bucket takes the rest.
pub const WRITE_LATENCY_BOUNDS_MS: [f64; 9] =
    [0.5, 1.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 1000.0];

/// How long durable writes took, counted per bucket since the start.
#[derive(Debug, Default)]
pub struct LatencyBuckets {
    /// Non-cumulative: `counts[i]` holds writes in bucket `i`; the last
    /// slot holds those above every bound.
    counts: [AtomicU64; WRITE_LATENCY_BOUNDS_MS.len() + 1],
    sum_micros: AtomicU64,
}

/// A histogram at one moment, as the metrics encoder takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyHistogram {
    /// `(upper bound in seconds, writes in this bucket)`: not cumulative
    /// (the encoder sums them up); the last bound infinite.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl LatencyBuckets {
    pub fn record(&self, latency: Duration) {
        let millis = latency.as_secs_f64() * 1000.0;
        let slot = WRITE_LATENCY_BOUNDS_MS
            .iter()
            .position(|bound| millis <= *bound)
            .unwrap_or(WRITE_LATENCY_BOUNDS_MS.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn histogram(&self) -> LatencyHistogram {
        let mut total = 0;
        let mut buckets = Vec::with_capacity(self.counts.len());
        for (slot, count) in self.counts.iter().enumerate() {
            let count = count.load(Ordering::Relaxed);
            total += count;
            let bound = WRITE_LATENCY_BOUNDS_MS
                .get(slot)
                .map_or(f64::INFINITY, |ms| ms / 1000.0);
            buckets.push((bound, count));
        }
        LatencyHistogram {
            buckets,
            count: total,
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// Counters shared by a topic, its producers and its consumers.
#[derive(Debug, Default)]
pub struct TopicTraffic {
    inbound: Flow,
    outbound: Flow,
    write_latency: LatencyBuckets,
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
        self.inbound.record(msgs, bytes);
        metrics::MESSAGES_IN.add(msgs);
        metrics::BYTES_IN.add(bytes);
    }

    /// A dispatched entry of `msgs` messages.
    pub fn record_out(&self, msgs: u64, bytes: u64) {
        self.outbound.record(msgs, bytes);
        metrics::MESSAGES_OUT.add(msgs);
        metrics::BYTES_OUT.add(bytes);
    }

    /// A durable write that took `latency` from its publish to its receipt.
    pub fn record_write(&self, latency: Duration) {
        self.write_latency.record(latency);
    }

    pub fn totals(&self) -> TrafficTotals {
        TrafficTotals {
            msgs_in: self.inbound.msgs(),
            bytes_in: self.inbound.bytes(),
            msgs_out: self.outbound.msgs(),
            bytes_out: self.outbound.bytes(),
        }
    }

    /// Closes a sampling interval of both directions.
    pub fn sample(&self, now: Instant) {
        self.inbound.sample(now);
        self.outbound.sample(now);
    }

    pub fn rate_in(&self) -> FlowRate {
        self.inbound.rate()
    }

    pub fn rate_out(&self) -> FlowRate {
        self.outbound.rate()
    }

    pub fn write_latency(&self) -> LatencyHistogram {
        self.write_latency.histogram()
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

    #[test]
    fn rates_cover_the_last_interval_only() {
        let flow = Flow::default();
        let start = Instant::now();
        flow.record(100, 10_000);
        flow.sample(start);
        assert_eq!(
            flow.rate(),
            FlowRate::default(),
            "one sample is no interval"
        );
        flow.record(50, 5_000);
        flow.sample(start + Duration::from_secs(2));
        assert_eq!(
            flow.rate(),
            FlowRate {
                msgs: 25.0,
                bytes: 2_500.0
            }
        );
        flow.sample(start + Duration::from_secs(4));
        assert_eq!(flow.rate(), FlowRate::default(), "an idle interval");
        // A sample at the same instant changes nothing.
        flow.record(1, 1);
        flow.sample(start + Duration::from_secs(4));
        assert_eq!(flow.rate(), FlowRate::default());
    }

    #[test]
    fn write_latency_buckets_count_each_bucket_with_an_infinite_last() {
        let buckets = LatencyBuckets::default();
        buckets.record(Duration::from_micros(300));
        buckets.record(Duration::from_millis(3));
        buckets.record(Duration::from_millis(5));
        buckets.record(Duration::from_secs(2));
        let histogram = buckets.histogram();
        assert_eq!(histogram.count, 4);
        assert_eq!(histogram.buckets.len(), WRITE_LATENCY_BOUNDS_MS.len() + 1);
        assert_eq!(histogram.buckets[0], (0.0005, 1));
        assert_eq!(histogram.buckets[1], (0.001, 0));
        assert_eq!(histogram.buckets[2], (0.005, 2), "5 ms is at its bound");
        assert_eq!(histogram.buckets[8], (1.0, 0));
        assert_eq!(histogram.buckets[9], (f64::INFINITY, 1));
        assert!((histogram.sum_seconds - 2.0083).abs() < 1e-9);
    }
}
