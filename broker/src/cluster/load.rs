//! Load reports: what each broker publishes about its load every report
//! interval (CPU, memory, message rates, and per bundle its topics,
//! sessions and rates), and the sampler that measures them.
//!
//! Rates are averages over the last interval, from the topics' traffic
//! counters. CPU is this process's share of the machine's cores, read from
//! `/proc/self/stat` (Linux; elsewhere it reads 0), memory its resident set.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::namespace::{BundleRef, NamespaceBundles, NamespaceName, NamespaceService};
use crate::topic::TopicRegistry;
use crate::traffic::TrafficTotals;

/// Load of one bundle over the last report interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleLoad {
    pub topics: u64,
    /// Producers and consumers attached.
    pub sessions: u64,
    pub msg_rate_in: f64,
    pub msg_rate_out: f64,
    /// Bytes per second.
    pub throughput_in: f64,
    pub throughput_out: f64,
}

impl BundleLoad {
    pub fn msg_rate(&self) -> f64 {
        self.msg_rate_in + self.msg_rate_out
    }

    pub fn throughput(&self) -> f64 {
        self.throughput_in + self.throughput_out
    }
}

/// A broker's load (Pulsar's `LocalBrokerData`, in our own terms).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadReport {
    /// This process's CPU use as a percentage of all cores.
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub msg_rate_in: f64,
    pub msg_rate_out: f64,
    pub throughput_in: f64,
    pub throughput_out: f64,
    pub topics: u64,
    /// Owned bundles (`tenant/ns/0x..._0x...`) and their load.
    pub bundles: BTreeMap<String, BundleLoad>,
}

impl LoadReport {
    /// Messages per second in and out: the figure placement and shedding
    /// balance.
    pub fn msg_rate(&self) -> f64 {
        self.msg_rate_in + self.msg_rate_out
    }
}

/// Measures this broker's load between two calls.
pub struct LoadSampler {
    namespaces: Arc<NamespaceService>,
    topics: Arc<TopicRegistry>,
    last: Option<Sample>,
    cores: f64,
}

struct Sample {
    at: Instant,
    cpu_seconds: f64,
    per_topic: HashMap<String, TrafficTotals>,
}

impl LoadSampler {
    pub fn new(namespaces: Arc<NamespaceService>, topics: Arc<TopicRegistry>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        LoadSampler {
            namespaces,
            topics,
            last: None,
            cores,
        }
    }

    /// The load since the previous call (rates are zero on the first).
    pub async fn sample(&mut self) -> LoadReport {
        let now = Instant::now();
        let cpu_seconds = process_cpu_seconds();
        let mut report = LoadReport {
            memory_bytes: resident_bytes(),
            ..Default::default()
        };
        for bundle in self.namespaces.owned_bundles() {
            report
                .bundles
                .insert(bundle.to_string(), BundleLoad::default());
        }
        let elapsed = self
            .last
            .as_ref()
            .map(|last| now.duration_since(last.at).as_secs_f64())
            .filter(|secs| *secs > 0.0);
        if let (Some(last), Some(secs)) = (&self.last, elapsed) {
            report.cpu_percent =
                ((cpu_seconds - last.cpu_seconds) / secs / self.cores * 100.0).max(0.0);
        }
        let mut per_topic = HashMap::new();
        let mut boundaries: HashMap<NamespaceName, Option<NamespaceBundles>> = HashMap::new();
        for topic in self.topics.loaded() {
            let name = topic.name();
            let totals = topic.traffic().totals();
            let key = name.to_string();
            report.topics += 1;
            let bundles = match boundaries.get(name.namespace()) {
                Some(bundles) => bundles.clone(),
                None => {
                    let read = self
                        .namespaces
                        .policies()
                        .namespace_bundles(name.namespace())
                        .await
                        .ok();
                    boundaries.insert(name.namespace().clone(), read.clone());
                    read
                }
            };
            if let Some(bundles) = bundles {
                let bundle = BundleRef {
                    namespace: name.namespace().clone(),
                    range: bundles.range_for_topic(name),
                };
                let load = report.bundles.entry(bundle.to_string()).or_default();
                load.topics += 1;
                load.sessions += topic.session_count().await as u64;
                if let (Some(last), Some(secs)) = (&self.last, elapsed) {
                    let delta = totals.since(
                        last.per_topic
                            .get(&key)
                            .unwrap_or(&TrafficTotals::default()),
                    );
                    load.msg_rate_in += delta.msgs_in as f64 / secs;
                    load.msg_rate_out += delta.msgs_out as f64 / secs;
                    load.throughput_in += delta.bytes_in as f64 / secs;
                    load.throughput_out += delta.bytes_out as f64 / secs;
                }
            }
            per_topic.insert(key, totals);
        }
        for load in report.bundles.values() {
            report.msg_rate_in += load.msg_rate_in;
            report.msg_rate_out += load.msg_rate_out;
            report.throughput_in += load.throughput_in;
            report.throughput_out += load.throughput_out;
        }
        self.last = Some(Sample {
            at: now,
            cpu_seconds,
            per_topic,
        });
        report
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on
/// every Linux architecture we build for).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU time of this process, in seconds.
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / CLOCK_TICKS_PER_SECOND
}

/// Resident set size of this process, in bytes.
fn resident_bytes() -> u64 {
    const PAGE: u64 = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_figures_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_bytes() > 0);
            let start = process_cpu_seconds();
            let mut x = 0u64;
            let spin = Instant::now();
            while spin.elapsed().as_millis() < 60 {
                x = x.wrapping_mul(31).wrapping_add(7);
            }
            assert!(x != 1);
            assert!(process_cpu_seconds() > start, "spinning costs CPU time");
        }
    }
}
