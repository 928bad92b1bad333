//! A paced produce stream from the official Python client
//! (`tests/python/stream_producer.py`) that runs while a test breaks things,
//! and the consumption check that follows it.
//!
//! The script appends each receipt and each failed send to files as they
//! happen; [`StreamProducer`] reads them at any time. The stream stops when
//! the test asks ([`StreamProducer::stop`]); the child is killed on drop
//! (see [`BackgroundScript`]).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::python::{run_python, BackgroundScript};

/// A running `stream_producer.py`.
pub struct StreamProducer {
    script: BackgroundScript,
}

/// One failed send: its sequence number and the client's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub seq: u64,
    pub result: String,
}

impl StreamProducer {
    /// Starts producing `seq-0`, `seq-1`, … to `topic` at `rate` msg/s with
    /// at most `max_pending` messages without a receipt.
    pub fn start(url: &str, topic: &str, rate: u32, max_pending: u32) -> Result<StreamProducer> {
        let args = [rate.to_string(), max_pending.to_string()];
        Ok(StreamProducer {
            script: BackgroundScript::start("stream_producer.py", url, topic, &args)?,
        })
    }

    fn read(&self, name: &str) -> String {
        self.script.read(name)
    }

    /// Sequence numbers receipted so far, in receipt order.
    pub fn receipts(&self) -> Vec<u64> {
        self.read("receipts")
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect()
    }

    /// Failed sends so far, in the order they were reported.
    pub fn errors(&self) -> Vec<SendError> {
        self.read("errors")
            .lines()
            .filter_map(|line| {
                let (seq, result) = line.split_once(' ')?;
                Some(SendError {
                    seq: seq.parse().ok()?,
                    result: result.to_string(),
                })
            })
            .collect()
    }

    /// Waits up to `limit` until `ready(receipts, errors)` holds; returns
    /// how long that took, or an error with the last counts.
    pub fn wait_until(
        &self,
        limit: Duration,
        what: &str,
        mut ready: impl FnMut(&[u64], &[SendError]) -> bool,
    ) -> Result<Duration> {
        let started = Instant::now();
        loop {
            let (receipts, errors) = (self.receipts(), self.errors());
            if ready(&receipts, &errors) {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= limit {
                bail!(
                    "stream: not {what} within {limit:?} ({} receipts, {} errors, last error {:?})",
                    receipts.len(),
                    errors.len(),
                    errors.last()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Asks the script to stop, waits up to `limit` for it to flush and
    /// exit, and returns its JSON summary.
    pub fn stop(&mut self, limit: Duration) -> Result<Value> {
        self.script.stop(limit)
    }
}

/// Every message on `subscription` from the earliest position (created by
/// the first call), as sequence numbers in arrival order, via
/// `tests/python/consume_all.py`; `max` stops early (0 only subscribes).
pub fn consume_seqs(
    url: &str,
    topic: &str,
    subscription: &str,
    ack: bool,
    max: Option<usize>,
) -> Result<Vec<u64>> {
    let max = max.map(|m| m.to_string());
    let mut args = vec![url, topic, subscription, if ack { "ack" } else { "noack" }];
    if let Some(max) = max.as_deref() {
        args.push(max);
    }
    let out = run_python("consume_all.py", &args, Duration::from_secs(180))?;
    let line = out
        .lines()
        .rfind(|line| line.starts_with('{'))
        .context("consume_all.py printed no JSON")?;
    let result: Value = serde_json::from_str(line).context("parse consume_all.py output")?;
    if result["twice"].as_array().is_some_and(|t| !t.is_empty()) {
        tracing::warn!(
            %topic,
            twice = %result["twice"],
            "sequence numbers consumed twice under different message ids (stored twice); first few as [seq, first id, second id]"
        );
    }
    result["seqs"]
        .as_array()
        .context("no seqs in consume_all.py output")?
        .iter()
        .map(|v| v.as_u64().context("seq is not a number"))
        .collect()
}

/// What a consumption saw compared with the producer's receipts.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Receipted sequence numbers that were never consumed (first 20).
    pub lost: Vec<u64>,
    pub lost_count: usize,
    /// Messages consumed more than once: `consumed.len() − distinct`.
    pub duplicates: usize,
    /// Whether the first occurrences are strictly increasing.
    pub first_occurrences_in_order: bool,
    /// How often each sequence number was consumed.
    pub times_consumed: BTreeMap<u64, usize>,
}

/// Compares `consumed` (arrival order) with `receipted`.
pub fn delivery(consumed: &[u64], receipted: &[u64]) -> Delivery {
    let mut times_consumed = BTreeMap::new();
    let mut firsts = Vec::new();
    for &seq in consumed {
        let seen = times_consumed.entry(seq).or_insert(0);
        if *seen == 0 {
            firsts.push(seq);
        }
        *seen += 1;
    }
    let consumed_set: HashSet<u64> = consumed.iter().copied().collect();
    let lost_all: Vec<u64> = receipted
        .iter()
        .copied()
        .filter(|seq| !consumed_set.contains(seq))
        .collect();
    Delivery {
        lost: lost_all.iter().copied().take(20).collect(),
        lost_count: lost_all.len(),
        duplicates: consumed.len() - firsts.len(),
        first_occurrences_in_order: firsts.windows(2).all(|w| w[0] < w[1]),
        times_consumed,
    }
}

#[cfg(test)]
mod tests {
    use super::delivery;

    #[test]
    fn delivery_counts_losses_duplicates_and_order() {
        let seen = delivery(&[0, 1, 2, 1, 2, 3, 5], &[0, 1, 2, 3, 4, 5]);
        assert_eq!(seen.lost, vec![4]);
        assert_eq!(seen.lost_count, 1);
        assert_eq!(seen.duplicates, 2);
        assert!(seen.first_occurrences_in_order);
        assert_eq!(seen.times_consumed.get(&1), Some(&2));
        assert_eq!(seen.times_consumed.get(&4), None);

        let reordered = delivery(&[0, 2, 1], &[0, 1, 2]);
        assert_eq!(reordered.lost_count, 0);
        assert!(!reordered.first_occurrences_in_order);
    }
}
