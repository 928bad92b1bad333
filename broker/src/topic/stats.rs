//! What a loaded topic reports about itself: its publishers, its
//! subscriptions and their consumers, with counters and rates, in the JSON
//! shape of Pulsar's topic stats (camelCase names, rates per second).
//! The admin API serves these; the `pulsar_*` metrics are made from them.
//! Also the rate sampler that closes every loaded topic's sampling
//! interval and records its history.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::consumer::Consumer;
use crate::producer::Producer;
use crate::replication::ReplicatorSnapshot;
use crate::traffic::{Flow, LatencyHistogram, TrafficTotals};

use super::history::HISTORY_INTERVAL;
use super::{is_internal_cursor, PersistentTopic, Subscription, TopicRegistry};

/// How often the rates are recomputed.
pub const RATE_INTERVAL: Duration = Duration::from_secs(5);

/// Every how many rate intervals a point of history is taken.
const HISTORY_EVERY: u64 = HISTORY_INTERVAL.as_secs() / RATE_INTERVAL.as_secs();

/// A producer, as `publishers[]` of topic stats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublisherStats {
    pub producer_id: u64,
    pub producer_name: String,
    pub msg_rate_in: f64,
    pub msg_throughput_in: f64,
    pub msg_in_counter: u64,
    pub bytes_in_counter: u64,
    pub average_msg_size: f64,
}

/// A consumer, as `consumers[]` of a subscription's stats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerStats {
    pub consumer_name: String,
    pub msg_rate_out: f64,
    pub msg_throughput_out: f64,
    pub msg_out_counter: u64,
    pub bytes_out_counter: u64,
    pub available_permits: i64,
    pub unacked_messages: u64,
    pub blocked_consumer_on_unacked_msgs: bool,
}

/// A subscription's stats. Rates and consumers are those of the broker
/// that has the topic loaded (zero and empty elsewhere).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionStats {
    /// `Exclusive`, `Shared`, `Failover` or `Key_Shared`; `null` when no
    /// consumer ever attached on this broker.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub msg_rate_out: f64,
    pub msg_throughput_out: f64,
    pub msg_out_counter: u64,
    pub bytes_out_counter: u64,
    /// Entries not yet acknowledged (a batch is one).
    pub msg_backlog: u64,
    pub unacked_messages: u64,
    pub blocked_subscription_on_unacked_msgs: bool,
    pub is_durable: bool,
    pub mark_delete_position: String,
    pub individually_acked_ranges: usize,
    /// The properties given when the subscription was created.
    pub subscription_properties: BTreeMap<String, String>,
    pub consumers: Vec<ConsumerStats>,
}

/// A loaded topic's traffic and clients at one moment.
#[derive(Debug, Clone)]
pub struct TopicSnapshot {
    pub topic: String,
    /// The namespace (`tenant/namespace`).
    pub namespace: String,
    pub totals: TrafficTotals,
    pub msg_rate_in: f64,
    pub msg_throughput_in: f64,
    pub msg_rate_out: f64,
    pub msg_throughput_out: f64,
    pub storage_size: u64,
    pub entries: u64,
    pub write_latency: LatencyHistogram,
    pub publishers: Vec<PublisherStats>,
    /// By name; the broker's own cursors are not subscriptions.
    pub subscriptions: Vec<(String, SubscriptionStats)>,
    /// Each replicator's figures, by remote cluster.
    pub replication: Vec<(String, ReplicatorSnapshot)>,
}

impl TopicSnapshot {
    /// Entries not yet acknowledged, over every subscription.
    pub fn backlog(&self) -> u64 {
        self.subscriptions.iter().map(|(_, s)| s.msg_backlog).sum()
    }

    pub fn consumer_count(&self) -> usize {
        self.subscriptions
            .iter()
            .map(|(_, s)| s.consumers.len())
            .sum()
    }
}

fn average(bytes: u64, msgs: u64) -> f64 {
    if msgs == 0 {
        0.0
    } else {
        bytes as f64 / msgs as f64
    }
}

fn publisher_stats(producer: &Producer) -> PublisherStats {
    let flow: &Flow = producer.flow();
    let rate = flow.rate();
    PublisherStats {
        producer_id: producer.id(),
        producer_name: producer.name().to_string(),
        msg_rate_in: rate.msgs,
        msg_throughput_in: rate.bytes,
        msg_in_counter: flow.msgs(),
        bytes_in_counter: flow.bytes(),
        average_msg_size: average(flow.bytes(), flow.msgs()),
    }
}

fn consumer_stats(consumer: &Consumer) -> ConsumerStats {
    let rate = consumer.flow().rate();
    ConsumerStats {
        consumer_name: consumer.name().to_string(),
        msg_rate_out: rate.msgs,
        msg_throughput_out: rate.bytes,
        msg_out_counter: consumer.flow().msgs(),
        bytes_out_counter: consumer.flow().bytes(),
        available_permits: consumer.available_permits(),
        unacked_messages: consumer.unacked_messages(),
        blocked_consumer_on_unacked_msgs: consumer.is_blocked(),
    }
}

/// A subscription's stats from its cursor and its open consumers.
pub fn subscription_stats(subscription: &Subscription) -> SubscriptionStats {
    let dispatcher = subscription.dispatcher();
    let consumers: Vec<ConsumerStats> = dispatcher
        .consumers()
        .iter()
        .filter(|c| !c.is_closed())
        .map(|c| consumer_stats(c))
        .collect();
    let cursor = subscription.cursor();
    SubscriptionStats {
        kind: Some(dispatcher.mode().as_str().to_string()),
        msg_rate_out: consumers.iter().map(|c| c.msg_rate_out).sum(),
        msg_throughput_out: consumers.iter().map(|c| c.msg_throughput_out).sum(),
        msg_out_counter: consumers.iter().map(|c| c.msg_out_counter).sum(),
        bytes_out_counter: consumers.iter().map(|c| c.bytes_out_counter).sum(),
        msg_backlog: cursor.backlog(),
        unacked_messages: consumers.iter().map(|c| c.unacked_messages).sum(),
        blocked_subscription_on_unacked_msgs: dispatcher.is_blocked()
            || (!consumers.is_empty()
                && consumers.iter().all(|c| c.blocked_consumer_on_unacked_msgs)),
        is_durable: subscription.is_durable(),
        mark_delete_position: cursor.mark_delete_position().to_string(),
        individually_acked_ranges: cursor.acked_range_count(),
        subscription_properties: cursor.properties(),
        consumers,
    }
}

impl PersistentTopic {
    /// The topic's traffic, clients and storage now.
    pub async fn snapshot(&self) -> TopicSnapshot {
        let traffic = self.traffic();
        let (rate_in, rate_out) = (traffic.rate_in(), traffic.rate_out());
        let storage = self.ledger().stats();
        let mut subscriptions: Vec<(String, SubscriptionStats)> = self
            .subscriptions()
            .await
            .iter()
            .filter(|s| !is_internal_cursor(s.name()))
            .map(|s| (s.name().to_string(), subscription_stats(s)))
            .collect();
        // Durable cursors no consumer has attached to since the load.
        for name in self.ledger().cursor_names() {
            if is_internal_cursor(&name) || subscriptions.iter().any(|(n, _)| *n == name) {
                continue;
            }
            if let Some(cursor) = self.ledger().cursor(&name) {
                let stats = SubscriptionStats {
                    msg_backlog: cursor.backlog(),
                    is_durable: true,
                    mark_delete_position: cursor.mark_delete_position().to_string(),
                    individually_acked_ranges: cursor.acked_range_count(),
                    subscription_properties: cursor.properties(),
                    ..Default::default()
                };
                subscriptions.push((name, stats));
            }
        }
        subscriptions.sort_by(|a, b| a.0.cmp(&b.0));
        let mut publishers: Vec<PublisherStats> = self
            .producers()
            .iter()
            .map(|p| publisher_stats(p))
            .collect();
        publishers.sort_by_key(|p| p.producer_id);
        TopicSnapshot {
            topic: self.name().to_string(),
            namespace: self.name().namespace().to_string(),
            totals: traffic.totals(),
            msg_rate_in: rate_in.msgs,
            msg_throughput_in: rate_in.bytes,
            msg_rate_out: rate_out.msgs,
            msg_throughput_out: rate_out.bytes,
            storage_size: storage.size_bytes,
            entries: storage.entries,
            write_latency: traffic.write_latency(),
            publishers,
            subscriptions,
            replication: self.replicators().snapshots(),
        }
    }

    /// Closes the sampling interval of the topic and its clients.
    pub async fn sample_rates(&self, now: Instant) {
        self.traffic().sample(now);
        self.replicators().sample(now);
        for producer in self.producers() {
            producer.flow().sample(now);
        }
        for subscription in self.subscriptions().await {
            for consumer in subscription.consumers() {
                consumer.flow().sample(now);
            }
        }
    }
}

impl TopicRegistry {
    /// Snapshots of every loaded topic, sorted by name.
    pub async fn snapshots(&self) -> Vec<TopicSnapshot> {
        let mut snapshots = Vec::new();
        for topic in self.loaded() {
            snapshots.push(topic.snapshot().await);
        }
        snapshots.sort_by(|a, b| a.topic.cmp(&b.topic));
        snapshots
    }

    /// Recomputes the rates of every loaded topic each [`RATE_INTERVAL`],
    /// and takes a point of history each [`HISTORY_INTERVAL`], until the
    /// registry is dropped.
    pub fn start_rate_sampler(self: &Arc<Self>) {
        let registry: Weak<TopicRegistry> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(RATE_INTERVAL);
            let mut ticks_since_start: u64 = 0;
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(registry) = registry.upgrade() else {
                    return;
                };
                let now = Instant::now();
                ticks_since_start += 1;
                let record_history = ticks_since_start.is_multiple_of(HISTORY_EVERY);
                let now_millis = crate::managed_ledger::now_millis();
                for topic in registry.loaded() {
                    topic.sample_rates(now).await;
                    if record_history {
                        topic.record_history(now_millis).await;
                    }
                }
            }
        });
    }
}
