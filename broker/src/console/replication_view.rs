//! Geo-replication of a namespace at a glance, for its page: per remote
//! cluster, over the namespace's topics, how many replicate there, how
//! many are connected, the summed backlog, the longest delay, and the
//! stalled topics flagged by name. Made from each topic's stats (the
//! admin API's `replication` map), at most [`TOPICS_READ`] topics a view.

use std::collections::BTreeMap;

use maud::{html, Markup};

use super::api::{AdminApi, Caller};
use super::layout::{enc, flag};
use super::tenant_pages::short;
use crate::admin::TopicStats;

/// Topics whose stats one view reads.
const TOPICS_READ: usize = 200;

/// Stalled topics named per remote cluster.
const STALLED_NAMED: usize = 5;

/// One remote cluster's figures over the namespace's topics.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RemoteSummary {
    pub topics: usize,
    pub connected: usize,
    pub backlog: u64,
    pub max_delay_seconds: u64,
    pub stalled: Vec<String>,
}

/// Adds one topic's replication figures to the summaries.
pub fn add_topic(summaries: &mut BTreeMap<String, RemoteSummary>, topic: &str, stats: &TopicStats) {
    for (cluster, replicator) in &stats.replication {
        let summary = summaries.entry(cluster.clone()).or_default();
        summary.topics += 1;
        summary.connected += usize::from(replicator.connected);
        summary.backlog += replicator.replication_backlog;
        summary.max_delay_seconds = summary
            .max_delay_seconds
            .max(replicator.replication_delay_in_seconds);
        if replicator.stalled {
            summary.stalled.push(topic.to_string());
        }
    }
}

/// The card, or nothing when the namespace replicates nowhere else.
/// `topics` are the namespace's topics (full names).
pub async fn card(
    api: &AdminApi,
    caller: &Caller,
    (tenant, namespace): (&str, &str),
    replication_clusters: usize,
    topics: &[String],
) -> Markup {
    if replication_clusters < 2 {
        return html! {};
    }
    let mut summaries = BTreeMap::new();
    for topic in topics.iter().take(TOPICS_READ) {
        let name = short(topic);
        let path = format!(
            "/admin/v2/persistent/{}/{}/{}/stats",
            enc(tenant),
            enc(namespace),
            enc(name)
        );
        if let Ok(stats) = api.get::<TopicStats>(caller, &path).await {
            add_topic(&mut summaries, name, &stats);
        }
    }
    html! {
        div.card #replication data-live {
            h2 { "Geo-replication" }
            @if topics.len() > TOPICS_READ {
                p.muted { "Over the first " (TOPICS_READ) " of " (topics.len()) " topics." }
            }
            @if summaries.is_empty() {
                p.muted { "No topic of this namespace replicates yet: replicators start with a topic's first producer or consumer." }
            } @else {
                table {
                    tr { th { "To cluster" } th.num { "Topics" } th.num { "Connected" } th.num { "Backlog" } th.num { "Longest delay" } th { "Status" } }
                    @for (cluster, summary) in &summaries {
                        tr {
                            td { (cluster) }
                            td.num { (summary.topics) }
                            td.num { (summary.connected) }
                            td.num { (summary.backlog) }
                            td.num { (summary.max_delay_seconds) " s" }
                            td {
                                (flag(summary.stalled.is_empty(), "flowing", "stalled", true))
                                @for topic in summary.stalled.iter().take(STALLED_NAMED) {
                                    " " a href=(format!("/ui/topics/{}/{}/{}", enc(tenant), enc(namespace), enc(topic))) { (topic) }
                                }
                                @if summary.stalled.len() > STALLED_NAMED {
                                    " and " (summary.stalled.len() - STALLED_NAMED) " more"
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::ReplicatorSnapshot;

    fn stats(remote: &str, backlog: u64, delay: u64, connected: bool, stalled: bool) -> TopicStats {
        let mut stats = TopicStats::default();
        stats.replication.insert(
            remote.to_string(),
            ReplicatorSnapshot {
                replication_backlog: backlog,
                replication_delay_in_seconds: delay,
                connected,
                stalled,
                ..Default::default()
            },
        );
        stats
    }

    #[test]
    fn topics_sum_per_remote_cluster() {
        let mut summaries = BTreeMap::new();
        add_topic(&mut summaries, "a", &stats("west", 10, 3, true, false));
        add_topic(&mut summaries, "b", &stats("west", 5, 40, false, true));
        add_topic(&mut summaries, "c", &stats("north", 0, 0, true, false));
        add_topic(&mut summaries, "d", &TopicStats::default());
        assert_eq!(
            summaries["west"],
            RemoteSummary {
                topics: 2,
                connected: 1,
                backlog: 15,
                max_delay_seconds: 40,
                stalled: vec!["b".to_string()],
            }
        );
        assert_eq!(summaries["north"].topics, 1);
        assert!(summaries["north"].stalled.is_empty());
        assert_eq!(summaries.len(), 2);
    }
}
