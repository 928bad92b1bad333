//! The replication series of `/metrics`, with Pulsar's names and a
//! `remote_cluster` label, one set per topic and remote cluster (summed per
//! namespace when topic-level series are off), plus Magnetar's
//! `magnetar_replication_stalled` for alerts.

use std::collections::BTreeMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use crate::replication::ReplicatorSnapshot;
use crate::topic::TopicSnapshot;

/// One series set: `(namespace, topic or None when summed, remote)`.
type Key = (String, Option<String>, String);

#[derive(Debug, Default, Clone)]
struct Row {
    backlog: f64,
    rate_out: f64,
    throughput_out: f64,
    delay: f64,
    connected: f64,
    stalled: f64,
}

impl Row {
    fn add(&mut self, r: &ReplicatorSnapshot) {
        self.backlog += r.replication_backlog as f64;
        self.rate_out += r.msg_rate_out;
        self.throughput_out += r.msg_throughput_out;
        self.delay = self.delay.max(r.replication_delay_in_seconds as f64);
        self.connected += f64::from(u8::from(r.connected));
        self.stalled += f64::from(u8::from(r.stalled));
    }
}

type Getter = fn(&Row) -> f64;

const GAUGES: &[(&str, &str, Getter)] = &[
    (
        "pulsar_replication_backlog",
        "Entries not yet confirmed by the remote cluster.",
        |r| r.backlog,
    ),
    (
        "pulsar_replication_rate_out",
        "Messages replicated to the remote cluster per second.",
        |r| r.rate_out,
    ),
    (
        "pulsar_replication_throughput_out",
        "Bytes replicated to the remote cluster per second.",
        |r| r.throughput_out,
    ),
    (
        "pulsar_replication_delay_in_seconds",
        "Age of the oldest message not yet confirmed by the remote cluster.",
        |r| r.delay,
    ),
    (
        "pulsar_replication_connected_count",
        "Replicators connected to the remote cluster.",
        |r| r.connected,
    ),
    (
        "magnetar_replication_stalled",
        "Replicators with a backlog and nothing confirmed for longer than the stall threshold.",
        |r| r.stalled,
    ),
];

/// The replication series of one scrape.
#[derive(Debug)]
pub struct ReplicationMetrics {
    cluster: String,
    rows: BTreeMap<Key, Row>,
}

impl ReplicationMetrics {
    pub fn new(cluster: &str, snapshots: &[TopicSnapshot], topic_level: bool) -> Self {
        let mut rows: BTreeMap<Key, Row> = BTreeMap::new();
        for topic in snapshots {
            for (remote, replicator) in &topic.replication {
                let key = (
                    topic.namespace.clone(),
                    topic_level.then(|| topic.topic.clone()),
                    remote.clone(),
                );
                rows.entry(key).or_default().add(replicator);
            }
        }
        ReplicationMetrics {
            cluster: cluster.to_string(),
            rows,
        }
    }
}

impl Collector for ReplicationMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, get) in GAUGES {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for ((namespace, topic, remote), row) in &self.rows {
                let mut labels = vec![
                    ("cluster", self.cluster.as_str()),
                    ("namespace", namespace.as_str()),
                ];
                if let Some(topic) = topic {
                    labels.push(("topic", topic.as_str()));
                }
                labels.push(("remote_cluster", remote.as_str()));
                family.encode_family(&labels)?.encode_gauge(&get(row))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicators_sum_per_namespace_without_topic_series() {
        let replicator = |backlog, stalled| ReplicatorSnapshot {
            replication_backlog: backlog,
            stalled,
            connected: !stalled,
            ..Default::default()
        };
        let topic = |name: &str, r: ReplicatorSnapshot| TopicSnapshot {
            topic: name.to_string(),
            namespace: "t/ns".to_string(),
            replication: vec![("west".to_string(), r)],
            ..test_snapshot()
        };
        let snapshots = [
            topic("persistent://t/ns/a", replicator(3, false)),
            topic("persistent://t/ns/b", replicator(4, true)),
        ];
        let summed = ReplicationMetrics::new("east", &snapshots, false);
        let row = &summed.rows[&("t/ns".to_string(), None, "west".to_string())];
        assert_eq!((row.backlog, row.stalled, row.connected), (7.0, 1.0, 1.0));
        let per_topic = ReplicationMetrics::new("east", &snapshots, true);
        assert_eq!(per_topic.rows.len(), 2);
    }

    fn test_snapshot() -> TopicSnapshot {
        TopicSnapshot {
            topic: String::new(),
            namespace: String::new(),
            totals: Default::default(),
            msg_rate_in: 0.0,
            msg_throughput_in: 0.0,
            msg_rate_out: 0.0,
            msg_throughput_out: 0.0,
            storage_size: 0,
            entries: 0,
            write_latency: crate::traffic::LatencyBuckets::default().histogram(),
            publishers: Vec::new(),
            subscriptions: Vec::new(),
            replication: Vec::new(),
        }
    }
}
