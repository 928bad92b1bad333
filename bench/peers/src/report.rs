//! Latency histograms and the summary line, in the format of `magnetar perf`
//! (`scripts/bench` parses both the same way).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

/// 1 µs .. 60 s with 3 significant digits, in microseconds.
pub fn new_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000, 3).context("create histogram")
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

pub fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.max(1));
}

/// `"{what} summary: N msgs in S s = R msg/s, M MB/s; latency ms p50 .. p99 .. p99.9 .. max .."`
pub fn print_summary(
    what: &str,
    count: u64,
    bytes: u64,
    elapsed: Duration,
    latency: &Histogram<u64>,
) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{what} summary: {count} msgs in {secs:.1} s = {:.0} msg/s, {:.1} MB/s; latency ms p50 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}",
        count as f64 / secs,
        bytes as f64 / secs / 1e6,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        latency.max() as f64 / 1000.0,
    );
}
