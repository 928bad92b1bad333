//! Shedding: which bundles the leader moves off brokers that carry more
//! than their share. Pulsar's `ThresholdShedder` idea, on message rate:
//!
//! - a broker sheds when its rate (in + out) exceeds the cluster average
//!   by more than `threshold_percent`, and by at least `min_msg_rate`;
//! - it offers its busiest bundles first, and keeps at least one;
//! - a bundle moves only to the least-loaded broker, only if that broker
//!   stays within the threshold after taking it, and only if moving it
//!   shrinks the gap between the two (its rate is below the difference of
//!   theirs). No move can make a new overloaded broker, so a lone hot
//!   bundle stays where it is instead of bouncing between brokers (the
//!   oscillation Pulsar users hit);
//! - a bundle moved within the grace period is left alone, and idle
//!   bundles are never moved (it would gain nothing and cost a reconnect).
//!
//! The plan is a pure function of the brokers' reports, so it is tested
//! with synthetic loads.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::registry::BrokerInfo;

#[derive(Debug, Clone)]
pub struct SheddingConfig {
    pub threshold_percent: f64,
    pub min_msg_rate: f64,
    pub grace: Duration,
}

impl Default for SheddingConfig {
    fn default() -> Self {
        SheddingConfig {
            threshold_percent: 10.0,
            min_msg_rate: 1000.0,
            grace: Duration::from_secs(30 * 60),
        }
    }
}

/// One planned move.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    pub bundle: String,
    pub from: String,
    pub to: String,
    pub reason: String,
}

/// The moves that even out the brokers' message rates; see the module doc.
/// `moved_at` holds when bundles were last moved.
pub fn plan(
    brokers: &BTreeMap<String, BrokerInfo>,
    moved_at: &HashMap<String, Instant>,
    now: Instant,
    config: &SheddingConfig,
) -> Vec<Move> {
    let live: Vec<&BrokerInfo> = brokers.values().filter(|b| !b.draining).collect();
    if live.len() < 2 {
        return Vec::new();
    }
    let mut rate: HashMap<&str, f64> = live
        .iter()
        .map(|b| (b.broker_id.as_str(), b.load.msg_rate()))
        .collect();
    let average = rate.values().sum::<f64>() / live.len() as f64;
    let limit = average * (1.0 + config.threshold_percent / 100.0);
    let mut sources: Vec<&BrokerInfo> = live
        .iter()
        .copied()
        .filter(|b| {
            let r = b.load.msg_rate();
            r > limit && r - average >= config.min_msg_rate && b.load.bundles.len() > 1
        })
        .collect();
    sources.sort_by(|a, b| b.load.msg_rate().total_cmp(&a.load.msg_rate()));

    let mut moves = Vec::new();
    for source in sources {
        let src = source.broker_id.as_str();
        let mut bundles: Vec<(&String, f64)> = source
            .load
            .bundles
            .iter()
            .map(|(name, load)| (name, load.msg_rate()))
            .filter(|(name, rate)| {
                *rate > 0.0
                    && moved_at
                        .get(*name)
                        .is_none_or(|at| now.duration_since(*at) >= config.grace)
            })
            .collect();
        bundles.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut kept = source.load.bundles.len();
        for (bundle, bundle_rate) in bundles {
            if kept <= 1 || rate[src] <= limit {
                break;
            }
            let Some((dst, dst_rate)) = rate
                .iter()
                .filter(|(id, _)| **id != src)
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(id, r)| (*id, *r))
            else {
                break;
            };
            if bundle_rate >= rate[src] - dst_rate || dst_rate + bundle_rate > limit {
                continue;
            }
            moves.push(Move {
                bundle: bundle.clone(),
                from: src.to_string(),
                to: dst.to_string(),
                reason: format!(
                    "{src} at {:.0} msg/s is above the average {average:.0} by more than {}%; {bundle} carries {bundle_rate:.0} msg/s, {dst} {dst_rate:.0}",
                    rate[src], config.threshold_percent
                ),
            });
            *rate.entry(src).or_default() -= bundle_rate;
            *rate.entry(dst).or_default() += bundle_rate;
            kept -= 1;
        }
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::load::{BundleLoad, LoadReport};
    use crate::cluster::registry::fixtures;

    fn broker(id: &str, bundle_rates: &[f64]) -> BrokerInfo {
        let mut load = LoadReport::default();
        for (i, rate) in bundle_rates.iter().enumerate() {
            load.bundles.insert(
                format!("t/ns/{id}-{i}"),
                BundleLoad {
                    msg_rate_in: *rate,
                    ..Default::default()
                },
            );
            load.msg_rate_in += rate;
        }
        fixtures::broker(id, load)
    }

    fn cluster(brokers: Vec<BrokerInfo>) -> BTreeMap<String, BrokerInfo> {
        fixtures::by_id(brokers)
    }

    fn config() -> SheddingConfig {
        SheddingConfig {
            min_msg_rate: 100.0,
            ..Default::default()
        }
    }

    #[test]
    fn a_new_broker_takes_bundles_from_loaded_ones() {
        let brokers = cluster(vec![
            broker("a", &[3000.0, 3000.0, 3000.0]),
            broker("b", &[3000.0, 3000.0, 3000.0]),
            broker("c", &[3000.0, 3000.0, 3000.0]),
            broker("new", &[]),
        ]);
        let moves = plan(&brokers, &HashMap::new(), Instant::now(), &config());
        assert!(!moves.is_empty());
        assert!(moves.iter().all(|m| m.to == "new" || m.from != m.to));
        let to_new = moves.iter().filter(|m| m.to == "new").count();
        assert!(
            to_new >= 2,
            "the empty broker gets several bundles: {moves:?}"
        );
        let from: std::collections::BTreeSet<_> = moves.iter().map(|m| m.from.clone()).collect();
        assert!(from.len() >= 2, "more than one broker sheds: {moves:?}");
    }

    #[test]
    fn a_balanced_or_unimprovable_cluster_moves_nothing() {
        let balanced = cluster(vec![
            broker("a", &[1000.0, 1000.0]),
            broker("b", &[1050.0, 1000.0]),
        ]);
        assert!(plan(&balanced, &HashMap::new(), Instant::now(), &config()).is_empty());
        // One hot bundle: moving it would only move the hot spot.
        let hot = cluster(vec![broker("a", &[10_000.0, 10.0]), broker("b", &[0.0])]);
        let moves = plan(&hot, &HashMap::new(), Instant::now(), &config());
        assert!(
            moves.iter().all(|m| !m.bundle.ends_with("a-0")),
            "the hot bundle stays: {moves:?}"
        );
        // A broker's only bundle is never shed.
        let single = cluster(vec![broker("a", &[5000.0]), broker("b", &[])]);
        assert!(plan(&single, &HashMap::new(), Instant::now(), &config()).is_empty());
    }

    #[test]
    fn grace_period_small_excess_and_idle_bundles_are_respected() {
        let brokers = cluster(vec![broker("a", &[2000.0, 2000.0, 0.0]), broker("b", &[])]);
        let now = Instant::now();
        let moves = plan(&brokers, &HashMap::new(), now, &config());
        assert_eq!(moves.len(), 1, "{moves:?}");
        assert!(!moves[0].bundle.ends_with("a-2"), "idle bundles stay");

        let moved_at: HashMap<String, Instant> = ["t/ns/a-0", "t/ns/a-1"]
            .into_iter()
            .map(|b| (b.to_string(), now))
            .collect();
        assert!(
            plan(&brokers, &moved_at, now, &config()).is_empty(),
            "within grace"
        );
        let later = now + config().grace;
        assert_eq!(
            plan(&brokers, &moved_at, later, &config()).len(),
            1,
            "after grace"
        );

        let strict = SheddingConfig {
            min_msg_rate: 10_000.0,
            ..config()
        };
        assert!(
            plan(&brokers, &HashMap::new(), now, &strict).is_empty(),
            "excess below the minimum"
        );
    }

    #[test]
    fn applying_a_plan_converges_instead_of_oscillating() {
        let mut brokers = cluster(vec![
            broker("a", &[900.0, 700.0, 500.0, 300.0, 100.0]),
            broker("b", &[800.0]),
            broker("c", &[]),
        ]);
        let mut total_moves = 0;
        for _round in 0..10 {
            let moves = plan(&brokers, &HashMap::new(), Instant::now(), &config());
            if moves.is_empty() {
                break;
            }
            total_moves += moves.len();
            for m in moves {
                let load = brokers
                    .get_mut(&m.from)
                    .unwrap()
                    .load
                    .bundles
                    .remove(&m.bundle)
                    .unwrap();
                let rate = load.msg_rate();
                brokers.get_mut(&m.from).unwrap().load.msg_rate_in -= rate;
                let to = brokers.get_mut(&m.to).unwrap();
                to.load.msg_rate_in += rate;
                to.load.bundles.insert(m.bundle, load);
            }
        }
        assert!(
            plan(&brokers, &HashMap::new(), Instant::now(), &config()).is_empty(),
            "settles"
        );
        assert!(total_moves <= 4, "few moves: {total_moves}");
    }
}
