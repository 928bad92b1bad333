//! Failover: which of a subscription's consumers is the active one.
//!
//! Consumers are ranked by priority level (lower first), then by consumer
//! name; ties keep their joining order. Only the consumers at the best
//! priority level are candidates. A partition of a partitioned topic picks
//! the candidate at `partition % candidates`, so the partitions spread over
//! the consumers; any other topic picks the first candidate.

use std::sync::Arc;

use crate::consumer::{Consumer, ConsumerKey};

/// The active consumer among `consumers` (closed ones are skipped).
pub fn pick_active(consumers: &[Arc<Consumer>], partition: Option<u32>) -> Option<ConsumerKey> {
    let mut ranked: Vec<&Arc<Consumer>> = consumers.iter().filter(|c| !c.is_closed()).collect();
    ranked.sort_by(|a, b| {
        a.priority_level()
            .cmp(&b.priority_level())
            .then_with(|| a.name().cmp(b.name()))
    });
    let best = ranked.first()?.priority_level();
    let candidates = ranked
        .iter()
        .take_while(|c| c.priority_level() == best)
        .count();
    let index = partition.map_or(0, |p| p as usize % candidates);
    Some(ranked[index].key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::testing::consumer;

    #[test]
    fn lowest_priority_then_name_wins() {
        let consumers = vec![
            consumer(1, "b", 0),
            consumer(2, "a", 1),
            consumer(3, "c", 0),
        ];
        assert_eq!(pick_active(&consumers, None).map(|k| k.cid), Some(1));
        let consumers = vec![consumer(1, "b", 0), consumer(2, "a", 0)];
        assert_eq!(pick_active(&consumers, None).map(|k| k.cid), Some(2));
    }

    #[test]
    fn partitions_spread_over_the_best_priority_level() {
        let consumers = vec![
            consumer(1, "a", 0),
            consumer(2, "b", 0),
            consumer(3, "c", 5),
        ];
        let picks: Vec<u64> = (0..4)
            .filter_map(|p| pick_active(&consumers, Some(p)).map(|k| k.cid))
            .collect();
        assert_eq!(
            picks,
            vec![1, 2, 1, 2],
            "c is never picked while a and b are here"
        );
    }

    #[test]
    fn closed_consumers_are_skipped() {
        let a = consumer(1, "a", 0);
        let b = consumer(2, "b", 0);
        a.close();
        assert_eq!(pick_active(&[a, b], None).map(|k| k.cid), Some(2));
        assert_eq!(pick_active(&[], None), None);
    }
}
