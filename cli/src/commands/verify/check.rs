//! The checker: from what the producers were told and what the consumers
//! received, the verdict. It is a pure function of a [`History`], so that
//! unit tests can feed it histories that break each promise.
//!
//! The promises, per subscription:
//! - every acknowledged message is delivered at least once (else *lost*);
//! - nothing is delivered that this run did not send (*phantom*), and no
//!   payload arrives altered (*corrupt*);
//! - order: on Exclusive and Failover each consumer sees each producer's
//!   messages in sequence order, on Key_Shared the subscription sees each
//!   key's messages in sequence order (*reordered*). Only a message's first
//!   delivery counts: a redelivery after a lost ack or a reconnect goes
//!   back by design;
//! - with deduplication on, no message is stored twice, i.e. delivered
//!   under two message ids (*duplicated*). The same message id delivered
//!   again is a *redelivery*, which at-least-once delivery allows.
//!
//! A message whose send failed or timed out may or may not be stored;
//! delivered anyway, it counts as *unacked but present*, not a violation.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

/// Examples of each violation kept in the report.
const EXAMPLES: usize = 10;

/// What a producer learnt about one of its sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// No answer yet (the run ended first): not acknowledged.
    Pending,
    /// A receipt: the broker promised the message is stored.
    Acked,
    /// An error or a timeout.
    Failed,
}

/// A delivered message's id: ledger, entry and index in its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct MessageRef {
    pub ledger: u64,
    pub entry: u64,
    pub batch: i32,
}

/// What a delivered payload held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Intact { producer: u32, seq: u64 },
    Corrupt,
    Foreign,
}

/// One message handed to a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub consumer: u32,
    pub message: MessageRef,
    pub key: Option<String>,
    pub content: Content,
}

/// The order a subscription type promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderRule {
    /// Exclusive, Failover: each consumer sees each producer in order.
    PerProducer,
    /// Key_Shared: each key in order across the subscription's consumers.
    PerKey,
    /// Shared: no order.
    Unordered,
}

/// Everything one subscription's consumers received, in the order they
/// received it (across its consumers).
#[derive(Debug, Clone)]
pub struct SubscriptionLog {
    pub name: String,
    pub order: OrderRule,
    pub deliveries: Vec<Delivery>,
}

/// A whole run: each producer's outcomes indexed by sequence number, and
/// each subscription's deliveries.
#[derive(Debug, Clone)]
pub struct History {
    pub producers: Vec<Vec<SendOutcome>>,
    pub subscriptions: Vec<SubscriptionLog>,
    /// Deduplication was on: a message stored twice is a violation.
    pub dedup: bool,
}

/// The counts of one subscription, or of all of them summed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Distinct messages of this run delivered.
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub redelivered: u64,
    pub reordered: u64,
    pub unacked_present: u64,
    pub phantom: u64,
    pub corrupt: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.redelivered += other.redelivered;
        self.reordered += other.reordered;
        self.unacked_present += other.unacked_present;
        self.phantom += other.phantom;
        self.corrupt += other.corrupt;
    }
}

/// A message named in the report: producer and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Example {
    pub producer: u32,
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionVerdict {
    pub name: String,
    pub order: OrderRule,
    #[serde(flatten)]
    pub counts: Counts,
    pub lost_examples: Vec<Example>,
    pub reordered_examples: Vec<Example>,
    pub duplicated_examples: Vec<Example>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub passed: bool,
    /// Each broken promise in a sentence; empty when passed.
    pub violations: Vec<String>,
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    /// Summed over the subscriptions.
    pub totals: Counts,
    pub subscriptions: Vec<SubscriptionVerdict>,
}

/// Whether an acknowledged message of `producer` at `seq` exists.
fn outcome(history: &History, producer: u32, seq: u64) -> Option<SendOutcome> {
    let outcomes = history.producers.get(producer as usize)?;
    outcomes.get(usize::try_from(seq).ok()?).copied()
}

fn push_example(examples: &mut Vec<Example>, producer: u32, seq: u64) {
    if examples.len() < EXAMPLES {
        examples.push(Example { producer, seq });
    }
}

fn check_subscription(history: &History, log: &SubscriptionLog) -> SubscriptionVerdict {
    let mut counts = Counts::default();
    let mut lost_examples = Vec::new();
    let mut reordered_examples = Vec::new();
    let mut duplicated_examples = Vec::new();
    // (producer, seq) → the message ids it arrived under.
    let mut stored: HashMap<(u32, u64), Vec<MessageRef>> = HashMap::new();
    // First deliveries per consumer (PerProducer).
    let mut seen_by_consumer: HashSet<(u32, u32, u64)> = HashSet::new();
    // Highest sequence number first-delivered per order scope.
    let mut highest: HashMap<(u32, u32, Option<&str>), u64> = HashMap::new();

    for delivery in &log.deliveries {
        let (producer, seq) = match delivery.content {
            Content::Foreign => {
                counts.phantom += 1;
                continue;
            }
            Content::Corrupt => {
                counts.corrupt += 1;
                continue;
            }
            Content::Intact { producer, seq } => (producer, seq),
        };
        if outcome(history, producer, seq).is_none() {
            counts.phantom += 1;
            continue;
        }
        let ids = stored.entry((producer, seq)).or_default();
        let first_in_subscription = ids.is_empty();
        if ids.contains(&delivery.message) {
            counts.redelivered += 1;
        } else {
            if !ids.is_empty() {
                counts.duplicated += 1;
                push_example(&mut duplicated_examples, producer, seq);
            }
            ids.push(delivery.message);
        }
        let scope = match log.order {
            OrderRule::Unordered => None,
            OrderRule::PerProducer => seen_by_consumer
                .insert((delivery.consumer, producer, seq))
                .then_some((delivery.consumer, producer, None)),
            OrderRule::PerKey => {
                first_in_subscription.then_some((0, producer, delivery.key.as_deref()))
            }
        };
        if let Some(scope) = scope {
            match highest.get_mut(&scope) {
                Some(top) if *top > seq => {
                    counts.reordered += 1;
                    push_example(&mut reordered_examples, producer, seq);
                }
                Some(top) => *top = seq,
                None => {
                    highest.insert(scope, seq);
                }
            }
        }
    }

    for (producer, outcomes) in history.producers.iter().enumerate() {
        let producer = producer as u32;
        for (seq, outcome) in outcomes.iter().enumerate() {
            let seq = seq as u64;
            let delivered = stored.contains_key(&(producer, seq));
            match (outcome, delivered) {
                (SendOutcome::Acked, false) => {
                    counts.lost += 1;
                    push_example(&mut lost_examples, producer, seq);
                }
                (SendOutcome::Pending | SendOutcome::Failed, true) => counts.unacked_present += 1,
                _ => {}
            }
        }
    }
    counts.delivered = stored.len() as u64;
    SubscriptionVerdict {
        name: log.name.clone(),
        order: log.order,
        counts,
        lost_examples,
        reordered_examples,
        duplicated_examples,
    }
}

/// Checks every promise on `history`.
pub fn check(history: &History) -> Verdict {
    let subscriptions: Vec<SubscriptionVerdict> = history
        .subscriptions
        .iter()
        .map(|log| check_subscription(history, log))
        .collect();
    let mut totals = Counts::default();
    let mut violations = Vec::new();
    for verdict in &subscriptions {
        totals.add(&verdict.counts);
        let c = &verdict.counts;
        let name = &verdict.name;
        let mut violation = |count: u64, what: &str| {
            if count > 0 {
                violations.push(format!("{name}: {count} {what}"));
            }
        };
        violation(c.lost, "acknowledged messages never delivered");
        violation(c.reordered, "messages delivered out of order");
        violation(c.phantom, "messages delivered that were never sent");
        violation(c.corrupt, "messages delivered with a bad checksum");
        if history.dedup {
            violation(c.duplicated, "messages stored twice with deduplication on");
        }
    }
    let all = history.producers.iter().flatten();
    let count = |wanted: SendOutcome| all.clone().filter(|o| **o == wanted).count() as u64;
    Verdict {
        passed: violations.is_empty(),
        violations,
        sent: all.clone().count() as u64,
        acked: count(SendOutcome::Acked),
        failed: count(SendOutcome::Failed) + count(SendOutcome::Pending),
        totals,
        subscriptions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(entry: u64) -> MessageRef {
        MessageRef {
            ledger: 1,
            entry,
            batch: -1,
        }
    }

    /// Consumer `consumer` received (producer, seq) stored at entry `entry`.
    fn got(consumer: u32, producer: u32, seq: u64, entry: u64) -> Delivery {
        Delivery {
            consumer,
            message: id(entry),
            key: Some(format!("p{producer}-k{}", seq % 2)),
            content: Content::Intact { producer, seq },
        }
    }

    fn history(acked: u64, order: OrderRule, deliveries: Vec<Delivery>) -> History {
        History {
            producers: vec![vec![SendOutcome::Acked; acked as usize]],
            subscriptions: vec![SubscriptionLog {
                name: "sub".into(),
                order,
                deliveries,
            }],
            dedup: true,
        }
    }

    fn in_order(count: u64) -> Vec<Delivery> {
        (0..count).map(|seq| got(0, 0, seq, seq)).collect()
    }

    #[test]
    fn a_clean_history_passes() {
        for order in [
            OrderRule::PerProducer,
            OrderRule::PerKey,
            OrderRule::Unordered,
        ] {
            let verdict = check(&history(5, order, in_order(5)));
            assert!(verdict.passed, "{order:?}: {:?}", verdict.violations);
            assert_eq!(verdict.acked, 5);
            assert_eq!(verdict.totals.delivered, 5);
        }
    }

    #[test]
    fn an_acked_message_never_delivered_is_lost() {
        let mut deliveries = in_order(5);
        deliveries.remove(3);
        let verdict = check(&history(5, OrderRule::Unordered, deliveries));
        assert!(!verdict.passed);
        assert_eq!(verdict.totals.lost, 1);
        assert_eq!(
            verdict.subscriptions[0].lost_examples,
            vec![Example {
                producer: 0,
                seq: 3
            }]
        );
    }

    #[test]
    fn a_failed_send_may_be_missing_or_present() {
        let mut h = history(4, OrderRule::PerProducer, in_order(3));
        h.producers[0][3] = SendOutcome::Failed;
        assert!(check(&h).passed);
        h.producers[0][1] = SendOutcome::Pending;
        let verdict = check(&h);
        assert!(verdict.passed);
        assert_eq!(verdict.totals.unacked_present, 1);
        assert_eq!(verdict.failed, 2);
    }

    #[test]
    fn order_breaks_only_where_the_subscription_promises_order() {
        let swapped = vec![got(0, 0, 0, 0), got(0, 0, 2, 1), got(0, 0, 1, 2)];
        let verdict = check(&history(3, OrderRule::PerProducer, swapped.clone()));
        assert_eq!(verdict.totals.reordered, 1);
        assert!(!verdict.passed);
        // seq 1 and 2 have different keys (seq % 2): per key they are in order.
        assert!(check(&history(3, OrderRule::PerKey, swapped.clone())).passed);
        assert!(check(&history(3, OrderRule::Unordered, swapped)).passed);
        // Same key (0 and 2) swapped breaks Key_Shared's order.
        let key_swapped = vec![got(0, 0, 2, 0), got(1, 0, 0, 1), got(1, 0, 1, 2)];
        assert_eq!(
            check(&history(3, OrderRule::PerKey, key_swapped))
                .totals
                .reordered,
            1
        );
    }

    #[test]
    fn redelivery_after_a_reconnect_is_not_a_reorder() {
        // 0..4, then the unacked tail 2..4 again, then 5.
        let mut deliveries = in_order(5);
        deliveries.extend([got(0, 0, 2, 2), got(0, 0, 3, 3), got(0, 0, 4, 4)]);
        deliveries.push(got(0, 0, 5, 5));
        let verdict = check(&history(6, OrderRule::PerProducer, deliveries));
        assert!(verdict.passed, "{:?}", verdict.violations);
        assert_eq!(verdict.totals.redelivered, 3);
        assert_eq!(verdict.totals.duplicated, 0);
    }

    #[test]
    fn failover_order_is_per_consumer() {
        // Consumer 0 had 0..3; consumer 1 takes over from 2 (unacked).
        let deliveries = vec![
            got(0, 0, 0, 0),
            got(0, 0, 1, 1),
            got(0, 0, 2, 2),
            got(0, 0, 3, 3),
            got(1, 0, 2, 2),
            got(1, 0, 3, 3),
            got(1, 0, 4, 4),
        ];
        assert!(check(&history(5, OrderRule::PerProducer, deliveries)).passed);
        let backwards = vec![got(1, 0, 4, 4), got(1, 0, 3, 3)];
        assert_eq!(
            check(&history(5, OrderRule::PerProducer, backwards))
                .totals
                .reordered,
            1
        );
    }

    #[test]
    fn a_message_stored_twice_is_a_duplicate_and_breaks_dedup_only() {
        let mut deliveries = in_order(3);
        deliveries.push(got(0, 0, 1, 7));
        let mut h = history(3, OrderRule::PerProducer, deliveries);
        let verdict = check(&h);
        assert_eq!(verdict.totals.duplicated, 1);
        assert_eq!(verdict.totals.reordered, 0, "only first deliveries order");
        assert!(!verdict.passed);
        h.dedup = false;
        assert!(check(&h).passed);
    }

    #[test]
    fn phantoms_and_corruption_are_violations() {
        for content in [
            Content::Foreign,
            Content::Corrupt,
            Content::Intact {
                producer: 0,
                seq: 99,
            },
            Content::Intact {
                producer: 5,
                seq: 0,
            },
        ] {
            let mut deliveries = in_order(2);
            deliveries.push(Delivery {
                consumer: 0,
                message: id(9),
                key: None,
                content,
            });
            let verdict = check(&history(2, OrderRule::Unordered, deliveries));
            assert!(!verdict.passed, "{content:?}");
            assert_eq!(verdict.totals.phantom + verdict.totals.corrupt, 1);
        }
    }

    #[test]
    fn totals_sum_the_subscriptions() {
        let mut h = history(3, OrderRule::Unordered, in_order(3));
        h.subscriptions.push(SubscriptionLog {
            name: "other".into(),
            order: OrderRule::PerProducer,
            deliveries: in_order(2),
        });
        let verdict = check(&h);
        assert_eq!(verdict.totals.delivered, 5);
        assert_eq!(verdict.totals.lost, 1);
        assert_eq!(verdict.violations.len(), 1);
        assert!(verdict.violations[0].starts_with("other: 1 "));
    }
}
