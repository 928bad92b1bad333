//! An availability probe for benchmarks: `tests/python/availability_probe.py`
//! sends one unbatched message every 1/rate s through the official Python
//! client and records when each receipt arrived (wall clock). A fault's
//! unavailability window is the longest gap between receipts around it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use serde_json::Value;

use crate::python::BackgroundScript;

/// A running probe on one topic.
pub struct AvailabilityProbe {
    script: BackgroundScript,
}

/// Seconds since the Unix epoch, as the probe writes them.
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl AvailabilityProbe {
    pub fn start(url: &str, topic: &str, rate: u32) -> Result<AvailabilityProbe> {
        let script =
            BackgroundScript::start("availability_probe.py", url, topic, &[rate.to_string()])?;
        Ok(AvailabilityProbe { script })
    }

    /// Receipt times so far, in seconds since the epoch, in arrival order.
    pub fn receipt_times(&self) -> Vec<f64> {
        self.script
            .read("receipts")
            .lines()
            .filter_map(|line| line.split_whitespace().next()?.parse().ok())
            .collect()
    }

    /// Waits up to `limit` for a receipt later than `after`.
    pub fn wait_for_receipt_after(&self, after: f64, limit: Duration) -> Result<()> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if self.receipt_times().iter().any(|t| *t > after) {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                bail!("no receipt within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The longest time without a receipt from `from` on: between `from`
    /// (or the last receipt before it) and the first receipt after it, or
    /// between two later receipts.
    pub fn longest_gap_from(&self, from: f64) -> Option<f64> {
        longest_gap(&self.receipt_times(), from)
    }

    pub fn stop(&mut self, limit: Duration) -> Result<Value> {
        self.script.stop(limit)
    }
}

/// See [`AvailabilityProbe::longest_gap_from`]; `None` without a receipt
/// after `from`.
pub fn longest_gap(times: &[f64], from: f64) -> Option<f64> {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let first_after = sorted.iter().position(|t| *t > from)?;
    let start = if first_after == 0 {
        from
    } else {
        sorted[first_after - 1]
    };
    let mut longest = sorted[first_after] - start;
    for pair in sorted[first_after..].windows(2) {
        longest = longest.max(pair[1] - pair[0]);
    }
    Some(longest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gap_spans_the_fault_and_later_stalls() {
        let times = [1.0, 1.1, 1.2, 3.0, 3.1, 3.15];
        let gap = |from: f64| longest_gap(&times, from).map(|g| (g * 1000.0).round() as u64);
        assert_eq!(
            gap(1.25),
            Some(1800),
            "from the last receipt before the fault"
        );
        assert_eq!(gap(3.05), Some(100));
        assert_eq!(gap(0.5), Some(1800), "a later stall counts");
        assert_eq!(gap(4.0), None);
    }
}
