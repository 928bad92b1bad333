//! Geo-replication: each loaded topic whose namespace lists other clusters
//! in `replication_clusters` runs one replicator per remote cluster, which
//! ships the messages produced here to the same topic there, through the
//! Pulsar protocol (`remote.rs`), after the remote confirmed each one
//! (`replicator.rs`). See docs/geo-replication.md.
//!
//! Names are Pulsar's: the replicator's durable cursor is
//! `pulsar.repl.<remote>`, and its producer in the remote cluster is
//! `pulsar.repl.<local>--><remote>`. A broker that sees a producer with the
//! prefix treats it as a replicator: its messages keep their original
//! producer name and sequence id, which deduplication checks.
//!
//! Replicated subscriptions follow their consumers' progress to the other
//! clusters (`subscriptions.rs`).
//!
//! Imports: `error`, `stats`, `stamp`, `remote` and `subscriptions` stand alone;
//! `replicator` uses them; this module wires the set of replicators of one
//! topic.

mod error;
mod remote;
mod replicator;
mod stamp;
mod stats;
mod subscriptions;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use error::ReplicationError;
pub use remote::RemoteTimeouts;
pub use stats::{ReplicatorSnapshot, ReplicatorStats};
pub use subscriptions::{
    apply as apply_frontier, FrontierUpdate, FRONTIER_MARKER, REPLICATED_PROPERTY,
};

use replicator::{ReplicatorTask, StopReason};

use crate::managed_ledger::{InitialPosition, ManagedLedger, ManagedLedgerError};
use crate::namespace::{PolicyStore, TopicName};
use crate::security::credentials::ClientCredential;

/// The prefix of replicator cursors and producers (Pulsar's
/// `replicatorPrefix`).
pub const REPLICATOR_PREFIX: &str = "pulsar.repl";

/// The durable cursor that replicates a topic to `remote`.
pub fn cursor_name(remote: &str) -> String {
    format!("{REPLICATOR_PREFIX}.{remote}")
}

/// The name of the producer that replicates from `local` into `remote`.
pub fn producer_name(local: &str, remote: &str) -> String {
    format!("{REPLICATOR_PREFIX}.{local}-->{remote}")
}

/// Whether a cursor or producer name is a replicator's.
pub fn is_replicator_name(name: &str) -> bool {
    name.strip_prefix(REPLICATOR_PREFIX)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// How this broker replicates.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// The cluster this broker belongs to: messages it ships say they come
    /// from here.
    pub local_cluster: String,
    /// A replicator with a backlog and no confirmed send for this long is
    /// stalled: logged as an error and flagged in stats and metrics.
    pub stall_threshold: Duration,
    pub timeouts: RemoteTimeouts,
    /// What replicators present to a remote cluster whose registration
    /// names no credential of its own (`authenticationPlugin` and
    /// `authenticationParameters` of the cluster data).
    pub broker_client: Option<ClientCredential>,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            local_cluster: crate::namespace::DEFAULT_CLUSTER.to_string(),
            stall_threshold: Duration::from_secs(60),
            timeouts: RemoteTimeouts::default(),
            broker_client: None,
        }
    }
}

struct Running {
    stats: Arc<ReplicatorStats>,
    stop: CancellationToken,
    reason: Arc<parking_lot::Mutex<StopReason>>,
    task: tokio::task::JoinHandle<()>,
}

/// What every topic's replicators share: the settings and where remote
/// clusters are registered.
pub struct ReplicationContext {
    pub config: ReplicationConfig,
    pub policies: PolicyStore,
}

/// The replicators of one topic, by remote cluster.
pub struct Replicators {
    topic: TopicName,
    ledger: Arc<ManagedLedger>,
    context: Arc<ReplicationContext>,
    running: parking_lot::Mutex<BTreeMap<String, Running>>,
}

impl Replicators {
    pub fn new(
        topic: TopicName,
        ledger: Arc<ManagedLedger>,
        context: Arc<ReplicationContext>,
    ) -> Self {
        Replicators {
            topic,
            ledger,
            context,
            running: parking_lot::Mutex::new(BTreeMap::new()),
        }
    }

    /// Opens the cursors of the replicators `clusters` calls for. A topic
    /// being loaded does this before any producer can attach, so that its
    /// first messages are held for replication already.
    pub async fn open_cursors(&self, clusters: &[String]) -> Result<(), ManagedLedgerError> {
        let local = &self.context.config.local_cluster;
        for remote in clusters.iter().filter(|c| *c != local) {
            self.ledger
                .open_cursor(&cursor_name(remote), InitialPosition::Latest)
                .await?;
        }
        Ok(())
    }

    /// Starts a replicator for each cluster of `clusters` other than the
    /// local one that has none, and removes those of clusters no longer
    /// listed (with their cursors).
    pub fn reconcile(&self, clusters: &[String]) {
        let (topic, config) = (&self.topic, &self.context.config);
        let mut running = self.running.lock();
        let wanted: Vec<&String> = clusters
            .iter()
            .filter(|c| **c != config.local_cluster)
            .collect();
        running.retain(|remote, replicator| {
            let keep = wanted.contains(&remote);
            if !keep {
                *replicator.reason.lock() = StopReason::Removed;
                replicator.stop.cancel();
                tracing::info!(%topic, %remote, "replication to the cluster ends");
            }
            keep
        });
        for remote in wanted {
            if running.contains_key(remote.as_str()) {
                continue;
            }
            let stats = Arc::new(ReplicatorStats::new());
            let stop = CancellationToken::new();
            let reason = Arc::new(parking_lot::Mutex::new(StopReason::Closing));
            let task = ReplicatorTask {
                topic: topic.clone(),
                remote: remote.clone(),
                ledger: self.ledger.clone(),
                policies: self.context.policies.clone(),
                config: config.clone(),
                stats: stats.clone(),
                stop: stop.clone(),
                reason: reason.clone(),
            };
            tracing::info!(%topic, %remote, "replicator starts");
            running.insert(
                remote.clone(),
                Running {
                    stats,
                    stop,
                    reason,
                    task: tokio::spawn(task.run()),
                },
            );
        }
    }

    /// Stops every replicator and waits for them (topic closing), keeping
    /// their cursors, so their last positions are stored with the others.
    pub async fn stop_all(&self) {
        let stopped: Vec<Running> = std::mem::take(&mut *self.running.lock())
            .into_values()
            .collect();
        for replicator in &stopped {
            replicator.stop.cancel();
        }
        for replicator in stopped {
            let _ = replicator.task.await;
        }
    }

    /// Each replicator's figures, by remote cluster.
    pub fn snapshots(&self) -> Vec<(String, ReplicatorSnapshot)> {
        let (ledger, stall_threshold) = (&self.ledger, self.context.config.stall_threshold);
        self.running
            .lock()
            .iter()
            .map(|(remote, replicator)| {
                let backlog = ledger
                    .cursor(&cursor_name(remote))
                    .map_or(0, |cursor| cursor.backlog());
                (
                    remote.clone(),
                    replicator.stats.snapshot(backlog, stall_threshold),
                )
            })
            .collect()
    }

    pub fn sample(&self, now: Instant) {
        for replicator in self.running.lock().values() {
            replicator.stats.sample(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicator_names_follow_pulsar() {
        assert_eq!(cursor_name("us-west"), "pulsar.repl.us-west");
        assert_eq!(
            producer_name("us-east", "us-west"),
            "pulsar.repl.us-east-->us-west"
        );
        assert!(is_replicator_name("pulsar.repl.us-west"));
        assert!(is_replicator_name(&producer_name("a", "b")));
        assert!(!is_replicator_name("pulsar.replica"));
        assert!(!is_replicator_name("pulsar.dedup"));
        assert!(!is_replicator_name("my-sub"));
    }
}
