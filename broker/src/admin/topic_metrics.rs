//! The `pulsar_*` series of `/metrics`: Pulsar's topic-level metric names
//! and labels (`cluster`, `namespace`, `topic`, and `subscription` for the
//! subscription series), made at each scrape from the topics loaded here,
//! so that dashboards and alerts written for Pulsar read Magnetar.
//!
//! With topic-level series off (Pulsar's
//! `exposeTopicLevelMetricsInPrometheus=false`) the topic series are summed
//! per namespace and lose their `topic` label, and subscription series are
//! left out. `pulsar_topics_count` is per namespace either way.
//!
//! Differences from Pulsar: the counters are OpenMetrics counters (samples
//! `pulsar_in_messages_total` and so on, as Pulsar names them), and the
//! write latency is one histogram per namespace,
//! `pulsar_storage_write_latency_seconds`, with Pulsar's `le_*` bounds as
//! its buckets (per topic it would be most of a scrape with many topics).

use std::collections::BTreeMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::topic::TopicSnapshot;
use crate::traffic::LatencyHistogram;

/// One series set: a topic, or a namespace's topics summed.
#[derive(Debug, Clone, Default)]
struct Figures {
    subscriptions: f64,
    producers: f64,
    consumers: f64,
    rate_in: f64,
    rate_out: f64,
    throughput_in: f64,
    throughput_out: f64,
    storage_size: f64,
    backlog: f64,
    in_messages: u64,
    out_messages: u64,
    in_bytes: u64,
    out_bytes: u64,
}

impl Figures {
    fn of(topic: &TopicSnapshot) -> Self {
        Figures {
            subscriptions: topic.subscriptions.len() as f64,
            producers: topic.publishers.len() as f64,
            consumers: topic.consumer_count() as f64,
            rate_in: topic.msg_rate_in,
            rate_out: topic.msg_rate_out,
            throughput_in: topic.msg_throughput_in,
            throughput_out: topic.msg_throughput_out,
            storage_size: topic.storage_size as f64,
            backlog: topic.backlog() as f64,
            in_messages: topic.totals.msgs_in,
            out_messages: topic.totals.msgs_out,
            in_bytes: topic.totals.bytes_in,
            out_bytes: topic.totals.bytes_out,
        }
    }

    fn add(&mut self, other: &Figures) {
        self.subscriptions += other.subscriptions;
        self.producers += other.producers;
        self.consumers += other.consumers;
        self.rate_in += other.rate_in;
        self.rate_out += other.rate_out;
        self.throughput_in += other.throughput_in;
        self.throughput_out += other.throughput_out;
        self.storage_size += other.storage_size;
        self.backlog += other.backlog;
        self.in_messages += other.in_messages;
        self.out_messages += other.out_messages;
        self.in_bytes += other.in_bytes;
        self.out_bytes += other.out_bytes;
    }
}

/// Adds `other`'s counts into `sum` (same buckets).
fn merge(sum: &mut LatencyHistogram, other: &LatencyHistogram) {
    for (bucket, theirs) in sum.buckets.iter_mut().zip(&other.buckets) {
        bucket.1 += theirs.1;
    }
    sum.count += other.count;
    sum.sum_seconds += other.sum_seconds;
}

type Getter = fn(&Figures) -> f64;

const GAUGES: &[(&str, &str, Getter)] = &[
    (
        "pulsar_subscriptions_count",
        "Subscriptions of the topic.",
        |f| f.subscriptions,
    ),
    (
        "pulsar_producers_count",
        "Producers attached to the topic.",
        |f| f.producers,
    ),
    (
        "pulsar_consumers_count",
        "Consumers attached to the topic.",
        |f| f.consumers,
    ),
    ("pulsar_rate_in", "Messages published per second.", |f| {
        f.rate_in
    }),
    ("pulsar_rate_out", "Messages dispatched per second.", |f| {
        f.rate_out
    }),
    ("pulsar_throughput_in", "Bytes published per second.", |f| {
        f.throughput_in
    }),
    (
        "pulsar_throughput_out",
        "Bytes dispatched per second.",
        |f| f.throughput_out,
    ),
    ("pulsar_storage_size", "Bytes the topic stores.", |f| {
        f.storage_size
    }),
    (
        "pulsar_msg_backlog",
        "Entries not yet acknowledged, over every subscription.",
        |f| f.backlog,
    ),
];

type CounterGetter = fn(&Figures) -> u64;

const COUNTERS: &[(&str, &str, CounterGetter)] = &[
    ("pulsar_in_messages", "Messages published.", |f| {
        f.in_messages
    }),
    ("pulsar_out_messages", "Messages dispatched.", |f| {
        f.out_messages
    }),
    ("pulsar_in_bytes", "Bytes published.", |f| f.in_bytes),
    ("pulsar_out_bytes", "Bytes dispatched.", |f| f.out_bytes),
];

/// A subscription's series.
#[derive(Debug, Clone)]
struct SubscriptionRow {
    namespace: String,
    topic: String,
    subscription: String,
    backlog: f64,
    rate_out: f64,
    throughput_out: f64,
    unacked: f64,
    consumers: f64,
}

type SubscriptionGetter = fn(&SubscriptionRow) -> f64;

const SUBSCRIPTION_GAUGES: &[(&str, &str, SubscriptionGetter)] = &[
    (
        "pulsar_subscription_back_log",
        "Entries the subscription has not acknowledged.",
        |s| s.backlog,
    ),
    (
        "pulsar_subscription_msg_rate_out",
        "Messages dispatched to the subscription per second.",
        |s| s.rate_out,
    ),
    (
        "pulsar_subscription_msg_throughput_out",
        "Bytes dispatched to the subscription per second.",
        |s| s.throughput_out,
    ),
    (
        "pulsar_subscription_unacked_messages",
        "Messages delivered and not yet acknowledged.",
        |s| s.unacked,
    ),
    (
        "pulsar_subscription_consumers_count",
        "Consumers of the subscription.",
        |s| s.consumers,
    ),
];

/// The `pulsar_*` series of one scrape.
#[derive(Debug)]
pub struct TopicMetrics {
    cluster: String,
    /// `(namespace, topic or None when summed per namespace, figures)`.
    rows: Vec<(String, Option<String>, Figures)>,
    subscriptions: Vec<SubscriptionRow>,
    topics_per_namespace: BTreeMap<String, usize>,
    /// Write latency is summed per namespace in either mode: a histogram
    /// per topic would be most of a scrape with many topics.
    latency_per_namespace: BTreeMap<String, LatencyHistogram>,
}

impl TopicMetrics {
    pub fn new(cluster: &str, snapshots: &[TopicSnapshot], topic_level: bool) -> Self {
        let mut topics_per_namespace = BTreeMap::new();
        let mut latency_per_namespace: BTreeMap<String, LatencyHistogram> = BTreeMap::new();
        for topic in snapshots {
            *topics_per_namespace
                .entry(topic.namespace.clone())
                .or_insert(0) += 1;
            match latency_per_namespace.get_mut(&topic.namespace) {
                Some(sum) => merge(sum, &topic.write_latency),
                None => {
                    latency_per_namespace
                        .insert(topic.namespace.clone(), topic.write_latency.clone());
                }
            }
        }
        let rows = if topic_level {
            snapshots
                .iter()
                .map(|t| (t.namespace.clone(), Some(t.topic.clone()), Figures::of(t)))
                .collect()
        } else {
            let mut summed: BTreeMap<String, Figures> = BTreeMap::new();
            for topic in snapshots {
                summed
                    .entry(topic.namespace.clone())
                    .or_default()
                    .add(&Figures::of(topic));
            }
            summed.into_iter().map(|(ns, f)| (ns, None, f)).collect()
        };
        let subscriptions = if topic_level {
            snapshots
                .iter()
                .flat_map(|t| {
                    t.subscriptions.iter().map(|(name, s)| SubscriptionRow {
                        namespace: t.namespace.clone(),
                        topic: t.topic.clone(),
                        subscription: name.clone(),
                        backlog: s.msg_backlog as f64,
                        rate_out: s.msg_rate_out,
                        throughput_out: s.msg_throughput_out,
                        unacked: s.unacked_messages as f64,
                        consumers: s.consumers.len() as f64,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        TopicMetrics {
            cluster: cluster.to_string(),
            rows,
            subscriptions,
            topics_per_namespace,
            latency_per_namespace,
        }
    }

    fn labels<'a>(
        &'a self,
        namespace: &'a str,
        topic: Option<&'a str>,
    ) -> Vec<(&'static str, &'a str)> {
        let mut labels = vec![("cluster", self.cluster.as_str()), ("namespace", namespace)];
        if let Some(topic) = topic {
            labels.push(("topic", topic));
        }
        labels
    }
}

impl Collector for TopicMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "pulsar_topics_count",
            "Topics loaded on this broker.",
            None,
            MetricType::Gauge,
        )?;
        for (namespace, count) in &self.topics_per_namespace {
            family
                .encode_family(&self.labels(namespace, None))?
                .encode_gauge(&(*count as u64))?;
        }
        for (name, help, get) in GAUGES {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (namespace, topic, figures) in &self.rows {
                family
                    .encode_family(&self.labels(namespace, topic.as_deref()))?
                    .encode_gauge(&get(figures))?;
            }
        }
        for (name, help, get) in COUNTERS {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (namespace, topic, figures) in &self.rows {
                family
                    .encode_family(&self.labels(namespace, topic.as_deref()))?
                    .encode_counter::<NoLabelSet, _, f64>(&get(figures), None)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "pulsar_storage_write_latency_seconds",
            "Time from publish to durable write on an ack quorum of bookies.",
            None,
            MetricType::Histogram,
        )?;
        for (namespace, latency) in &self.latency_per_namespace {
            family
                .encode_family(&self.labels(namespace, None))?
                .encode_histogram::<NoLabelSet>(
                    latency.sum_seconds,
                    latency.count,
                    &latency.buckets,
                    None,
                )?;
        }
        for (name, help, get) in SUBSCRIPTION_GAUGES {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for row in &self.subscriptions {
                let mut labels = self.labels(&row.namespace, Some(&row.topic));
                labels.push(("subscription", &row.subscription));
                family.encode_family(&labels)?.encode_gauge(&get(row))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::SubscriptionStats;
    use crate::traffic::{LatencyBuckets, TrafficTotals};

    fn snapshot(namespace: &str, topic: &str, msgs_in: u64, backlog: u64) -> TopicSnapshot {
        let latency = LatencyBuckets::default();
        latency.record(std::time::Duration::from_millis(2));
        TopicSnapshot {
            topic: format!("persistent://{namespace}/{topic}"),
            namespace: namespace.to_string(),
            totals: TrafficTotals {
                msgs_in,
                bytes_in: msgs_in * 10,
                msgs_out: 0,
                bytes_out: 0,
            },
            msg_rate_in: 1.5,
            msg_throughput_in: 15.0,
            msg_rate_out: 0.0,
            msg_throughput_out: 0.0,
            storage_size: 100,
            entries: msgs_in,
            write_latency: latency.histogram(),
            publishers: Vec::new(),
            replication: Vec::new(),
            subscriptions: vec![(
                "s".to_string(),
                SubscriptionStats {
                    msg_backlog: backlog,
                    ..Default::default()
                },
            )],
        }
    }

    fn render(metrics: TopicMetrics) -> String {
        crate::metrics::render_with(vec![Box::new(metrics)]).unwrap()
    }

    #[test]
    fn topic_level_series_carry_pulsar_names_and_labels() {
        let snapshots = [snapshot("t/a", "one", 7, 3)];
        let text = render(TopicMetrics::new("c1", &snapshots, true));
        let labels = r#"cluster="c1",namespace="t/a",topic="persistent://t/a/one""#;
        for line in [
            format!("pulsar_in_messages_total{{{labels}}} 7"),
            format!("pulsar_in_bytes_total{{{labels}}} 70"),
            format!("pulsar_rate_in{{{labels}}} 1.5"),
            format!("pulsar_msg_backlog{{{labels}}} 3.0"),
            format!("pulsar_subscription_back_log{{{labels},subscription=\"s\"}} 3.0"),
            r#"pulsar_storage_write_latency_seconds_count{cluster="c1",namespace="t/a"} 1"#
                .to_string(),
            r#"pulsar_topics_count{cluster="c1",namespace="t/a"} 1"#.to_string(),
        ] {
            assert!(
                text.contains(&format!("\n{line}\n")),
                "{line:?} missing from:\n{text}"
            );
        }
        assert!(
            text.contains("# TYPE pulsar_in_messages counter\n"),
            "{text}"
        );
    }

    #[test]
    fn namespace_level_series_sum_topics_and_drop_topic_labels() {
        let snapshots = [
            snapshot("t/a", "one", 7, 3),
            snapshot("t/a", "two", 5, 1),
            snapshot("t/b", "three", 1, 0),
        ];
        let text = render(TopicMetrics::new("c1", &snapshots, false));
        assert!(!text.contains("topic=\""), "{text}");
        assert!(!text.contains("pulsar_subscription_back_log{"), "{text}");
        for line in [
            r#"pulsar_in_messages_total{cluster="c1",namespace="t/a"} 12"#,
            r#"pulsar_in_messages_total{cluster="c1",namespace="t/b"} 1"#,
            r#"pulsar_msg_backlog{cluster="c1",namespace="t/a"} 4.0"#,
            r#"pulsar_rate_in{cluster="c1",namespace="t/a"} 3.0"#,
            r#"pulsar_storage_write_latency_seconds_count{cluster="c1",namespace="t/a"} 2"#,
            r#"pulsar_topics_count{cluster="c1",namespace="t/a"} 2"#,
        ] {
            assert!(
                text.contains(&format!("\n{line}\n")),
                "{line:?} missing from:\n{text}"
            );
        }
    }
}
