//! Latency bookkeeping shared by the `magnetar perf` load generators: a
//! histogram for the whole run, one for the current second, a progress line
//! every second and the final summary.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use hdrhistogram::Histogram;

use super::perf_timer::PreciseTimer;

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// 1 µs .. 60 s with 3 significant digits.
/// Ticks once a second from one second after `start` (progress lines).
pub fn every_second(start: Instant) -> tokio::time::Interval {
    tokio::time::interval_at(
        (start + Duration::from_secs(1)).into(),
        Duration::from_secs(1),
    )
}

pub fn new_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000, 3).context("create histogram")
}

pub fn print_summary(
    what: &str,
    count: u64,
    bytes: u64,
    elapsed: Duration,
    latency: &Histogram<u64>,
) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!(
        "{what} summary: {count} msgs in {secs:.1} s = {:.0} msg/s, {:.1} MB/s; latency ms p50 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}",
        count as f64 / secs,
        bytes as f64 / secs / 1e6,
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.value_at_quantile(0.999) as f64 / 1000.0,
        latency.max() as f64 / 1000.0,
    );
}

/// Confirmed operations and their latencies, with a progress line per second.
pub struct LatencyReport {
    label: &'static str,
    unit: &'static str,
    total: Histogram<u64>,
    window: Histogram<u64>,
    confirmed: u64,
    confirmed_at_last_report: u64,
    next_report: Instant,
}

impl LatencyReport {
    /// `label` and `unit` name the progress line: `"{label}: N {unit}/s, ..."`.
    pub fn new(label: &'static str, unit: &'static str, start: Instant) -> Result<Self> {
        Ok(LatencyReport {
            label,
            unit,
            total: new_histogram()?,
            window: new_histogram()?,
            confirmed: 0,
            confirmed_at_last_report: 0,
            next_report: start + Duration::from_secs(1),
        })
    }

    /// One operation confirmed after `latency`.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.total.saturating_record(micros);
        self.window.saturating_record(micros);
        self.confirmed += 1;
    }

    pub fn confirmed(&self) -> u64 {
        self.confirmed
    }

    /// Prints the progress line once a second has passed since the last one.
    pub fn report_if_due(&mut self) {
        if Instant::now() < self.next_report {
            return;
        }
        println!(
            "{}: {} {}/s, latency ms p50 {:.3} p99 {:.3}",
            self.label,
            self.confirmed - self.confirmed_at_last_report,
            self.unit,
            self.window.value_at_quantile(0.5) as f64 / 1000.0,
            self.window.value_at_quantile(0.99) as f64 / 1000.0
        );
        self.window.reset();
        self.confirmed_at_last_report = self.confirmed;
        self.next_report += Duration::from_secs(1);
    }

    /// The final summary line.
    pub fn summarize(&self, bytes: u64, elapsed: Duration) {
        print_summary(self.label, self.confirmed, bytes, elapsed, &self.total);
    }
}

/// One operation in flight: when it started and how it ended.
pub type PendingOp = BoxFuture<'static, (Instant, Result<()>)>;

/// Paces operations at a fixed rate (or as fast as allowed), keeps at most
/// `max_pending` in flight, and records each completion in a
/// [`LatencyReport`], in start order. Completions are recorded while it
/// waits for the next slot too, so a wait never adds to a latency.
pub struct PacedPipeline {
    in_flight: FuturesOrdered<PendingOp>,
    timer: PreciseTimer,
    interval: Option<Duration>,
    max_pending: usize,
    start: Instant,
    end: Instant,
    started: u64,
}

impl PacedPipeline {
    /// `rate` operations per second (0 = unlimited) for `duration` from `start`.
    pub fn new(rate: u64, duration: Duration, max_pending: usize, start: Instant) -> Result<Self> {
        Ok(PacedPipeline {
            in_flight: FuturesOrdered::new(),
            timer: PreciseTimer::start().context("start the pacing timer")?,
            interval: (rate > 0).then(|| Duration::from_secs_f64(1.0 / rate as f64)),
            max_pending: max_pending.max(1),
            start,
            end: start + duration,
            started: 0,
        })
    }

    /// Waits until the next operation may start; `false` once the run is over.
    pub async fn next_slot(&mut self, report: &mut LatencyReport) -> Result<bool> {
        if Instant::now() >= self.end {
            return Ok(false);
        }
        if let Some(interval) = self.interval {
            let due = self.start + interval.mul_f64(self.started as f64);
            let slot = self.timer.sleep_until(due);
            tokio::pin!(slot);
            loop {
                tokio::select! {
                    _ = &mut slot => break,
                    Some((t0, outcome)) = self.in_flight.next() => {
                        outcome?;
                        report.record(t0.elapsed());
                    }
                }
            }
        }
        while self.in_flight.len() >= self.max_pending {
            if let Some((t0, outcome)) = self.in_flight.next().await {
                outcome?;
                report.record(t0.elapsed());
            }
        }
        Ok(true)
    }

    /// Adds a started operation, then records those already complete.
    pub fn push(&mut self, operation: PendingOp, report: &mut LatencyReport) -> Result<()> {
        self.in_flight.push_back(operation);
        self.started += 1;
        while let Some(Some((t0, outcome))) = self.in_flight.next().now_or_never() {
            outcome?;
            report.record(t0.elapsed());
        }
        report.report_if_due();
        Ok(())
    }

    /// Waits for every operation still in flight.
    pub async fn drain(&mut self, report: &mut LatencyReport) -> Result<()> {
        while let Some((t0, outcome)) = self.in_flight.next().await {
            outcome?;
            report.record(t0.elapsed());
        }
        Ok(())
    }
}
