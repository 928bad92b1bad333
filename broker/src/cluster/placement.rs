//! Placement: which broker gets an unowned bundle.
//!
//! Pulsar's `LeastLongTermMessageRate`, with one addition. The score of a
//! broker is its message rate in and out, plus [`PlacementConfig::bundle_weight`]
//! for each bundle it owns or was just given. The bundle term spreads an
//! idle cluster evenly, where rates alone tie. Brokers whose CPU use is at
//! or above the overload threshold are skipped while any other broker is
//! left; draining brokers are never chosen. Ties go to a random broker.
//!
//! [`Placer`] remembers recent decisions for a while. A bundle asked for
//! twice goes to the same broker, and the decision counts toward that
//! broker's score until its load report shows the bundle.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;

use super::registry::BrokerInfo;

/// Tuning of placement.
#[derive(Debug, Clone)]
pub struct PlacementConfig {
    /// Process CPU use (percent of all cores) at which a broker is overloaded.
    pub overload_cpu_percent: f64,
    /// Score of one bundle, in messages per second.
    pub bundle_weight: f64,
    /// How long a decision is remembered.
    pub assignment_ttl: Duration,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        PlacementConfig {
            overload_cpu_percent: 85.0,
            bundle_weight: 100.0,
            assignment_ttl: Duration::from_secs(30),
        }
    }
}

/// The broker with the lowest score; see the module doc. `pending` counts
/// bundles given to a broker and not yet in its report.
pub fn least_loaded(
    brokers: &BTreeMap<String, BrokerInfo>,
    pending: &HashMap<String, usize>,
    config: &PlacementConfig,
    rng: &mut impl Rng,
) -> Option<String> {
    let candidates: Vec<&BrokerInfo> = brokers.values().filter(|b| !b.draining).collect();
    let healthy: Vec<&BrokerInfo> = candidates
        .iter()
        .copied()
        .filter(|b| b.load.cpu_percent < config.overload_cpu_percent)
        .collect();
    let pool = if healthy.is_empty() {
        candidates
    } else {
        healthy
    };
    let score = |broker: &BrokerInfo| {
        let bundles =
            broker.load.bundles.len() + pending.get(&broker.broker_id).copied().unwrap_or(0);
        broker.load.msg_rate() + config.bundle_weight * bundles as f64
    };
    let best = pool.iter().map(|b| score(b)).fold(f64::INFINITY, f64::min);
    let tied: Vec<&&BrokerInfo> = pool
        .iter()
        .filter(|b| score(b) <= best + f64::EPSILON * best.abs().max(1.0))
        .collect();
    if tied.is_empty() {
        return None;
    }
    Some(tied[rng.gen_range(0..tied.len())].broker_id.clone())
}

struct Assignment {
    broker: String,
    at: Instant,
}

/// Placement decisions of this broker while it leads (or decides alone).
#[derive(Default)]
pub struct Placer {
    config: PlacementConfig,
    assignments: Mutex<HashMap<String, Assignment>>,
}

impl Placer {
    pub fn new(config: PlacementConfig) -> Self {
        Placer {
            config,
            assignments: Mutex::new(HashMap::new()),
        }
    }

    /// The broker for `bundle` (`tenant/ns/range`) among `brokers`.
    pub fn place(&self, bundle: &str, brokers: &BTreeMap<String, BrokerInfo>) -> Option<String> {
        let now = Instant::now();
        let mut assignments = self.assignments.lock();
        assignments.retain(|_, a| now.duration_since(a.at) < self.config.assignment_ttl);
        if let Some(existing) = assignments.get(bundle) {
            if brokers.get(&existing.broker).is_some_and(|b| !b.draining) {
                return Some(existing.broker.clone());
            }
        }
        let mut pending: HashMap<String, usize> = HashMap::new();
        for (name, assignment) in assignments.iter() {
            let reported = brokers
                .get(&assignment.broker)
                .is_some_and(|b| b.load.bundles.contains_key(name));
            if !reported {
                *pending.entry(assignment.broker.clone()).or_default() += 1;
            }
        }
        let chosen = least_loaded(brokers, &pending, &self.config, &mut rand::thread_rng())?;
        assignments.insert(
            bundle.to_string(),
            Assignment {
                broker: chosen.clone(),
                at: now,
            },
        );
        Some(chosen)
    }

    /// Sends the next lookup of `bundle` to `broker` (a shedding destination).
    pub fn prefer(&self, bundle: &str, broker: &str) {
        self.assignments.lock().insert(
            bundle.to_string(),
            Assignment {
                broker: broker.to_string(),
                at: Instant::now(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::load::{BundleLoad, LoadReport};
    use crate::cluster::registry::fixtures;

    fn broker(id: &str, rate: f64, bundles: usize, cpu: f64) -> BrokerInfo {
        let mut load = LoadReport {
            cpu_percent: cpu,
            msg_rate_in: rate,
            ..Default::default()
        };
        for i in 0..bundles {
            load.bundles
                .insert(format!("t/ns/{id}-{i}"), BundleLoad::default());
        }
        fixtures::broker(id, load)
    }

    fn cluster(brokers: Vec<BrokerInfo>) -> BTreeMap<String, BrokerInfo> {
        fixtures::by_id(brokers)
    }

    #[test]
    fn least_rate_wins_and_overloaded_or_draining_brokers_are_skipped() {
        let config = PlacementConfig::default();
        let mut rng = rand::thread_rng();
        let brokers = cluster(vec![
            broker("a", 5000.0, 2, 10.0),
            broker("b", 100.0, 2, 10.0),
            broker("c", 0.0, 0, 95.0),
        ]);
        for _ in 0..20 {
            assert_eq!(
                least_loaded(&brokers, &HashMap::new(), &config, &mut rng).as_deref(),
                Some("b"),
                "c is idle but overloaded"
            );
        }
        let mut all_hot = brokers.clone();
        all_hot.get_mut("b").unwrap().load.cpu_percent = 99.0;
        all_hot.get_mut("a").unwrap().load.cpu_percent = 99.0;
        assert_eq!(
            least_loaded(&all_hot, &HashMap::new(), &config, &mut rng).as_deref(),
            Some("c"),
            "all overloaded: the least loaded of them"
        );
        let mut draining = brokers.clone();
        draining.get_mut("b").unwrap().draining = true;
        assert_eq!(
            least_loaded(&draining, &HashMap::new(), &config, &mut rng).as_deref(),
            Some("a")
        );
        assert_eq!(
            least_loaded(&BTreeMap::new(), &HashMap::new(), &config, &mut rng),
            None
        );
    }

    #[test]
    fn ties_are_broken_at_random() {
        let brokers = cluster(vec![broker("a", 0.0, 0, 0.0), broker("b", 0.0, 0, 0.0)]);
        let mut seen = std::collections::BTreeSet::new();
        let mut rng = rand::thread_rng();
        for _ in 0..200 {
            seen.insert(
                least_loaded(
                    &brokers,
                    &HashMap::new(),
                    &PlacementConfig::default(),
                    &mut rng,
                )
                .unwrap(),
            );
        }
        assert_eq!(seen.len(), 2, "both tied brokers get picked");
    }

    #[test]
    fn an_idle_cluster_gets_bundles_spread_evenly() {
        let placer = Placer::new(PlacementConfig::default());
        let brokers = cluster(vec![
            broker("a", 0.0, 0, 0.0),
            broker("b", 0.0, 0, 0.0),
            broker("c", 0.0, 0, 0.0),
        ]);
        let mut counts: HashMap<String, usize> = HashMap::new();
        for i in 0..12 {
            let chosen = placer.place(&format!("t/ns/{i}"), &brokers).unwrap();
            *counts.entry(chosen).or_default() += 1;
        }
        assert_eq!(counts.values().copied().collect::<Vec<_>>(), vec![4, 4, 4]);
        assert_eq!(
            placer.place("t/ns/3", &brokers),
            placer.place("t/ns/3", &brokers),
            "a decision is remembered"
        );
        placer.prefer("t/ns/x", "c");
        assert_eq!(placer.place("t/ns/x", &brokers).as_deref(), Some("c"));
    }
}
