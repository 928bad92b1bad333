//! A loaded topic's recent past, for the console's plots: its rates,
//! throughput, storage size and backlog, and each subscription's backlog,
//! one point every [`HISTORY_INTERVAL`] over the last [`HISTORY_POINTS`]
//! intervals (15 minutes). The rate sampler records a point at every other
//! rate interval.
//!
//! Memory: a series stores a run of equal neighbouring points once, with
//! its length, so an idle topic's history is one run (under 200 bytes in
//! all with one subscription), and a busy topic's is at most
//! [`HISTORY_POINTS`] runs of 28 bytes.
//! [`TopicHistory::heap_bytes`] counts what a history holds.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{is_internal_cursor, PersistentTopic};

/// The time between two points.
pub const HISTORY_INTERVAL: Duration = Duration::from_secs(10);

/// Points kept: 15 minutes at [`HISTORY_INTERVAL`].
pub const HISTORY_POINTS: usize = 90;

/// Values at a fixed interval, oldest first, at most [`HISTORY_POINTS`].
/// Equal neighbours are stored once, with a count.
#[derive(Debug, Clone, Default)]
pub struct Series<T> {
    runs: VecDeque<(T, u32)>,
    len: usize,
}

impl<T: Copy + PartialEq> Series<T> {
    /// Appends `value`, dropping the oldest point once the series is full.
    pub fn push(&mut self, value: T) {
        match self.runs.back_mut() {
            Some((last, count)) if *last == value => *count += 1,
            _ => {
                // An idle series never needs more than its first run.
                if self.runs.capacity() == 0 {
                    self.runs.reserve_exact(1);
                }
                self.runs.push_back((value, 1));
            }
        }
        self.len += 1;
        if self.len > HISTORY_POINTS {
            if let Some((_, count)) = self.runs.front_mut() {
                *count -= 1;
                if *count == 0 {
                    self.runs.pop_front();
                }
            }
            self.len -= 1;
        }
        // A busy series that went quiet gives its buffer back.
        if self.runs.capacity() > 8 && self.runs.len() * 4 < self.runs.capacity() {
            self.runs.shrink_to_fit();
        }
    }

    /// The points, oldest first.
    pub fn points(&self) -> Vec<T> {
        let mut points = Vec::with_capacity(self.len);
        for (value, count) in &self.runs {
            points.extend(std::iter::repeat_n(*value, *count as usize));
        }
        points
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.runs.capacity() * std::mem::size_of::<(T, u32)>()
    }
}

/// One point of a topic's history. Sizes are `f32`: plots need no more.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TopicPoint {
    pub msg_rate_in: f32,
    pub msg_rate_out: f32,
    pub msg_throughput_in: f32,
    pub msg_throughput_out: f32,
    pub storage_size: f32,
    pub backlog: f32,
}

/// A topic's history: its own series and one per subscription.
#[derive(Debug, Default)]
pub struct TopicHistory {
    /// When the newest point was taken (Unix ms); 0 before the first.
    end_millis: u64,
    topic: Series<TopicPoint>,
    subscriptions: Vec<(String, Series<f32>)>,
}

impl TopicHistory {
    /// Adds a point taken at `now_millis`. Subscriptions missing from
    /// `backlogs` lose their series.
    pub fn record(&mut self, now_millis: u64, point: TopicPoint, backlogs: &[(String, u64)]) {
        self.end_millis = now_millis;
        self.topic.push(point);
        self.subscriptions
            .retain(|(name, _)| backlogs.iter().any(|(n, _)| n == name));
        for (name, backlog) in backlogs {
            let value = *backlog as f32;
            match self.subscriptions.iter_mut().find(|(n, _)| n == name) {
                Some((_, series)) => series.push(value),
                None => {
                    let mut series = Series::default();
                    series.push(value);
                    self.subscriptions.reserve_exact(1);
                    self.subscriptions.push((name.clone(), series));
                }
            }
        }
    }

    /// Bytes held on the heap, subscription names included.
    pub fn heap_bytes(&self) -> usize {
        self.topic.heap_bytes()
            + self.subscriptions.capacity() * std::mem::size_of::<(String, Series<f32>)>()
            + self
                .subscriptions
                .iter()
                .map(|(name, series)| name.capacity() + series.heap_bytes())
                .sum::<usize>()
    }

    /// The history in the admin API's JSON shape.
    pub fn report(&self) -> RateHistory {
        let points = self.topic.points();
        let field = |f: fn(&TopicPoint) -> f32| points.iter().map(f).collect::<Vec<f32>>();
        RateHistory {
            interval_seconds: HISTORY_INTERVAL.as_secs(),
            end_millis: self.end_millis,
            msg_rate_in: field(|p| p.msg_rate_in),
            msg_rate_out: field(|p| p.msg_rate_out),
            msg_throughput_in: field(|p| p.msg_throughput_in),
            msg_throughput_out: field(|p| p.msg_throughput_out),
            storage_size: field(|p| p.storage_size),
            backlog: field(|p| p.backlog),
            subscriptions: self
                .subscriptions
                .iter()
                .map(|(name, series)| {
                    (
                        name.clone(),
                        SubscriptionHistory {
                            backlog: series.points(),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// `GET …/{topic}/rateHistory`: each series holds one value per
/// `intervalSeconds`, oldest first, the last taken at `endMillis`. A series
/// shorter than another started later.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RateHistory {
    pub interval_seconds: u64,
    pub end_millis: u64,
    pub msg_rate_in: Vec<f32>,
    pub msg_rate_out: Vec<f32>,
    pub msg_throughput_in: Vec<f32>,
    pub msg_throughput_out: Vec<f32>,
    pub storage_size: Vec<f32>,
    pub backlog: Vec<f32>,
    pub subscriptions: std::collections::BTreeMap<String, SubscriptionHistory>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionHistory {
    pub backlog: Vec<f32>,
}

impl PersistentTopic {
    /// Takes a point of the topic's history now (after the rates were
    /// sampled).
    pub async fn record_history(&self, now_millis: u64) {
        let traffic = self.traffic();
        let (rate_in, rate_out) = (traffic.rate_in(), traffic.rate_out());
        let storage = self.ledger().stats();
        let mut backlogs: Vec<(String, u64)> = Vec::new();
        for name in self.ledger().cursor_names() {
            if is_internal_cursor(&name) {
                continue;
            }
            if let Some(cursor) = self.ledger().cursor(&name) {
                backlogs.push((name, cursor.backlog()));
            }
        }
        for subscription in self.subscriptions().await {
            let name = subscription.name();
            if !is_internal_cursor(name) && !backlogs.iter().any(|(n, _)| n == name) {
                backlogs.push((name.to_string(), subscription.cursor().backlog()));
            }
        }
        let point = TopicPoint {
            msg_rate_in: rate_in.msgs as f32,
            msg_rate_out: rate_out.msgs as f32,
            msg_throughput_in: rate_in.bytes as f32,
            msg_throughput_out: rate_out.bytes as f32,
            storage_size: storage.size_bytes as f32,
            backlog: backlogs.iter().map(|(_, b)| *b as f32).sum(),
        };
        self.history().lock().record(now_millis, point, &backlogs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_keeps_the_newest_points_in_order() {
        let mut series = Series::default();
        for i in 0..(HISTORY_POINTS as u32 + 10) {
            series.push(i / 3);
        }
        let points = series.points();
        assert_eq!(points.len(), HISTORY_POINTS);
        assert_eq!(series.len, HISTORY_POINTS);
        let expected: Vec<u32> = (10..HISTORY_POINTS as u32 + 10).map(|i| i / 3).collect();
        assert_eq!(points, expected);
    }

    #[test]
    fn an_idle_series_holds_one_run() {
        let mut series = Series::default();
        for _ in 0..1000 {
            series.push(0.0_f32);
        }
        assert_eq!(series.points(), vec![0.0; HISTORY_POINTS]);
        assert_eq!(series.runs.len(), 1);
    }

    #[test]
    fn a_busy_series_that_goes_quiet_shrinks() {
        let mut series = Series::default();
        for i in 0..HISTORY_POINTS {
            series.push(i as f32);
        }
        let busy = series.heap_bytes();
        for _ in 0..HISTORY_POINTS {
            series.push(-1.0);
        }
        assert_eq!(series.runs.len(), 1);
        assert!(
            series.heap_bytes() * 4 <= busy,
            "{} vs {busy}",
            series.heap_bytes()
        );
    }

    #[test]
    fn subscriptions_come_and_go_with_their_series() {
        let mut history = TopicHistory::default();
        let point = TopicPoint::default();
        history.record(10_000, point, &[("a".into(), 5)]);
        history.record(20_000, point, &[("a".into(), 7), ("b".into(), 1)]);
        let report = history.report();
        assert_eq!(report.end_millis, 20_000);
        assert_eq!(report.backlog.len(), 2);
        assert_eq!(report.subscriptions["a"].backlog, vec![5.0, 7.0]);
        assert_eq!(report.subscriptions["b"].backlog, vec![1.0]);
        history.record(30_000, point, &[("b".into(), 0)]);
        let report = history.report();
        assert!(!report.subscriptions.contains_key("a"));
        assert_eq!(report.subscriptions["b"].backlog, vec![1.0, 0.0]);
    }

    /// The console's history stays small with many idle topics: 100,000
    /// idle topics with one subscription each, after a full window.
    #[test]
    fn idle_histories_cost_little() {
        let topics = 100_000;
        let mut total = 0;
        for _ in 0..topics {
            let mut history = TopicHistory::default();
            for t in 0..HISTORY_POINTS as u64 {
                let point = TopicPoint {
                    storage_size: 4096.0,
                    backlog: 1.0,
                    ..Default::default()
                };
                history.record(t * 10_000, point, &[("sub".into(), 1)]);
            }
            total += history.heap_bytes() + std::mem::size_of::<TopicHistory>();
        }
        let per_topic = total / topics;
        eprintln!("idle topic history: {per_topic} bytes, {total} bytes for {topics} topics");
        assert!(per_topic < 256, "{per_topic} bytes per idle topic");
    }
}
