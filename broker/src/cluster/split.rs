//! Automatic bundle splitting: a bundle with at least two topics that
//! crosses any threshold (topics, sessions, message rate, bandwidth) is
//! split in two by range halving, while its namespace has fewer than the
//! maximum number of bundles (counting the splits planned in the same
//! round). Pure, like shedding; the leader asks the owner to split.

use std::collections::{BTreeMap, HashMap};

use super::registry::BrokerInfo;

#[derive(Debug, Clone)]
pub struct SplitConfig {
    pub enabled: bool,
    pub max_topics: u64,
    pub max_sessions: u64,
    pub max_msg_rate: f64,
    /// Bytes per second in + out.
    pub max_bandwidth: f64,
    pub max_bundles_per_namespace: usize,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            enabled: true,
            max_topics: 1000,
            max_sessions: 1000,
            max_msg_rate: 30_000.0,
            max_bandwidth: 100.0 * 1024.0 * 1024.0,
            max_bundles_per_namespace: 128,
        }
    }
}

/// A planned split.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// `tenant/ns/range`.
    pub bundle: String,
    pub owner: String,
    pub reason: String,
}

/// The bundles to split now. `bundle_counts` maps a namespace
/// (`tenant/ns`) to its current number of bundles.
pub fn plan(
    brokers: &BTreeMap<String, BrokerInfo>,
    bundle_counts: &HashMap<String, usize>,
    config: &SplitConfig,
) -> Vec<Split> {
    if !config.enabled {
        return Vec::new();
    }
    let mut planned: HashMap<String, usize> = HashMap::new();
    let mut splits = Vec::new();
    for broker in brokers.values() {
        for (bundle, load) in &broker.load.bundles {
            if load.topics < 2 {
                continue;
            }
            let reason = if load.topics > config.max_topics {
                format!("{} topics > {}", load.topics, config.max_topics)
            } else if load.sessions > config.max_sessions {
                format!("{} sessions > {}", load.sessions, config.max_sessions)
            } else if load.msg_rate() > config.max_msg_rate {
                format!("{:.0} msg/s > {:.0}", load.msg_rate(), config.max_msg_rate)
            } else if load.throughput() > config.max_bandwidth {
                format!("{:.0} B/s > {:.0}", load.throughput(), config.max_bandwidth)
            } else {
                continue;
            };
            let Some((namespace, _)) = bundle.rsplit_once('/') else {
                continue;
            };
            let Some(count) = bundle_counts.get(namespace) else {
                continue;
            };
            let extra = planned.entry(namespace.to_string()).or_default();
            if count + *extra >= config.max_bundles_per_namespace {
                continue;
            }
            *extra += 1;
            splits.push(Split {
                bundle: bundle.clone(),
                owner: broker.broker_id.clone(),
                reason,
            });
        }
    }
    splits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::load::{BundleLoad, LoadReport};
    use crate::cluster::registry::fixtures;

    fn broker(bundles: &[(&str, BundleLoad)]) -> BrokerInfo {
        let mut load = LoadReport::default();
        for (name, bundle) in bundles {
            load.bundles.insert(name.to_string(), bundle.clone());
        }
        fixtures::broker("a", load)
    }

    fn load(topics: u64, sessions: u64, rate: f64) -> BundleLoad {
        BundleLoad {
            topics,
            sessions,
            msg_rate_in: rate,
            ..Default::default()
        }
    }

    #[test]
    fn splits_exactly_past_a_threshold_and_within_the_cap() {
        let config = SplitConfig {
            max_topics: 10,
            max_sessions: 10,
            max_msg_rate: 100.0,
            max_bundles_per_namespace: 5,
            ..Default::default()
        };
        let brokers: BTreeMap<String, BrokerInfo> = [(
            "a".to_string(),
            broker(&[
                ("t/ns/0x00000000_0x40000000", load(10, 10, 100.0)),
                ("t/ns/0x40000000_0x80000000", load(11, 0, 0.0)),
                ("t/ns/0x80000000_0xc0000000", load(2, 11, 0.0)),
                ("t/ns/0xc0000000_0xffffffff", load(2, 0, 100.5)),
                ("t/other/0x00000000_0xffffffff", load(1, 500, 1e6)),
            ]),
        )]
        .into();
        let counts: HashMap<String, usize> =
            [("t/ns".to_string(), 4), ("t/other".to_string(), 1)].into();
        let splits = plan(&brokers, &counts, &config);
        let names: Vec<&str> = splits.iter().map(|s| s.bundle.as_str()).collect();
        assert_eq!(
            names,
            ["t/ns/0x40000000_0x80000000"],
            "at the threshold is not over it; one split left under the cap of 5; a single topic never splits"
        );
        let roomy = HashMap::from([("t/ns".to_string(), 1)]);
        assert_eq!(plan(&brokers, &roomy, &config).len(), 3);
        let off = SplitConfig {
            enabled: false,
            ..config
        };
        assert!(plan(&brokers, &roomy, &off).is_empty());
    }
}
