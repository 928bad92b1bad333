//! One replicator: the task that ships a topic's messages to one remote
//! cluster.
//!
//! It reads the topic through its durable cursor (`pulsar.repl.<remote>`),
//! stamps each message body with `replicated_from = <local cluster>` and
//! sends it through a [`RemoteProducer`]. Up to [`WINDOW`] sends are in
//! flight; the cursor moves only past entries the remote confirmed, in
//! order, so the cursor's backlog is exactly what is not replicated yet,
//! and retention keeps it. Entries that arrived from another cluster
//! (`replicated_from` set), entries whose `replicate_to` leaves this
//! remote out, and markers are passed over: a message is shipped only by
//! the cluster it was produced in, so a full mesh never loops.
//!
//! Each second it also sends, in line with the messages, the frontiers of
//! the topic's replicated subscriptions (`subscriptions.rs`).
//!
//! Any failure drops the connection; after a back-off (doubling up to
//! [`MAX_BACKOFF`]) the replicator reconnects and resends from the
//! cursor's mark-delete position. The remote's deduplication, keyed by the
//! original producer and sequence id, drops what it had already stored.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetar_proto::pulsar::api::MessageMetadata;
use magnetar_proto::pulsar::encode_body;
use tokio_util::sync::CancellationToken;

use super::error::ReplicationError;
use super::remote::RemoteProducer;
use super::stamp::{stamp, Shipped};
use super::stats::ReplicatorStats;
use super::subscriptions::{replicated_subscriptions, FrontierTracker, FRONTIER_MARKER};
use super::{cursor_name, producer_name, ReplicationConfig};
use crate::managed_ledger::{
    now_millis, Entry, InitialPosition, ManagedCursor, ManagedLedger, Position,
};
use crate::namespace::{PolicyStore, TopicName};
use crate::security::credentials::ClientCredential;

/// Sends in flight to the remote at most.
pub const WINDOW: usize = 1000;
/// Entries read from the local topic per step.
const READ_BATCH: usize = 100;
const READ_BYTES: usize = 4 << 20;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often a connected replicator checks for a stall.
const STALL_CHECK: Duration = Duration::from_secs(1);

/// Why a replicator stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The topic is closing (unload, shutdown): keep the cursor.
    Closing,
    /// The remote left the namespace's replication clusters: its cursor
    /// goes too, so it no longer holds the backlog.
    Removed,
}

/// Everything one replicator task needs.
pub struct ReplicatorTask {
    pub topic: TopicName,
    pub remote: String,
    pub ledger: Arc<ManagedLedger>,
    pub policies: PolicyStore,
    pub config: ReplicationConfig,
    pub stats: Arc<ReplicatorStats>,
    pub stop: CancellationToken,
    pub reason: Arc<parking_lot::Mutex<StopReason>>,
}

/// One entry between the cursor and the remote's receipt.
struct InFlight {
    /// `None`: passed over, nothing sent.
    sequence_id: Option<u64>,
    /// `None`: a subscription's frontier, no entry of the topic.
    position: Option<Position>,
    messages: u64,
    bytes: u64,
    /// Epoch millis; 0 for entries passed over.
    publish_time: u64,
}

impl ReplicatorTask {
    pub async fn run(self) {
        let Some(cursor) = self.open_cursor().await else {
            return;
        };
        let mut backoff = FIRST_BACKOFF;
        let mut trackers = HashMap::new();
        loop {
            let outcome = tokio::select! {
                outcome = self.session(&cursor, &mut backoff, &mut trackers) => outcome,
                () = self.stop.cancelled() => break,
            };
            if let Err(error) = outcome {
                self.stats.failed(error.to_string());
                let backlog = cursor.backlog();
                if self.stats.is_stalled(backlog, self.config.stall_threshold) {
                    if self.stats.report_stall(true) {
                        tracing::error!(topic = %self.topic, remote = %self.remote, backlog, %error, "replication stalled");
                    }
                } else {
                    tracing::warn!(topic = %self.topic, remote = %self.remote, %error, retry_in = ?backoff, "replication interrupted");
                }
            }
            cursor.rewind();
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.stop.cancelled() => break,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        self.stats.set_connected(false);
        if *self.reason.lock() == StopReason::Removed {
            if let Err(error) = self.ledger.delete_cursor(cursor.name()).await {
                tracing::warn!(topic = %self.topic, remote = %self.remote, %error, "could not delete the replicator cursor");
            }
            tracing::info!(topic = %self.topic, remote = %self.remote, "replicator removed");
        }
    }

    async fn open_cursor(&self) -> Option<Arc<ManagedCursor>> {
        let mut backoff = FIRST_BACKOFF;
        let name = cursor_name(&self.remote);
        loop {
            let opened = self.ledger.open_cursor(&name, InitialPosition::Latest);
            tokio::select! {
                opened = opened => match opened {
                    Ok(cursor) => return Some(cursor),
                    Err(error) => {
                        tracing::warn!(topic = %self.topic, remote = %self.remote, %error, "cannot open the replicator cursor");
                    }
                },
                () = self.stop.cancelled() => return None,
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.stop.cancelled() => return None,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection: ships until something fails.
    async fn session(
        &self,
        cursor: &Arc<ManagedCursor>,
        backoff: &mut Duration,
        trackers: &mut HashMap<String, FrontierTracker>,
    ) -> Result<(), ReplicationError> {
        let cluster = self.policies.cluster(&self.remote).await?;
        if cluster.broker_service_url.is_empty() {
            return Err(ReplicationError::NoServiceUrl(self.remote.clone()));
        }
        let partitioned = match self.topic.partition_index() {
            Some(_) => {
                let base = self.topic.partitioned_topic();
                let count = self
                    .policies
                    .partitioned_topic(&base)
                    .await?
                    .map_or(0, |m| m.partitions);
                Some((base.to_string(), count))
            }
            None => None,
        };
        let credential = match &cluster.authentication_plugin {
            Some(plugin) => Some(
                ClientCredential::from_plugin(
                    plugin,
                    cluster.authentication_parameters.as_deref().unwrap_or(""),
                )
                .map_err(|error| ReplicationError::Credential(error.to_string()))?,
            ),
            None => self.config.broker_client.clone(),
        };
        let mut remote = RemoteProducer::open(
            &cluster.broker_service_url,
            credential.as_ref(),
            &self.topic.to_string(),
            partitioned.as_ref().map(|(base, n)| (base.as_str(), *n)),
            &producer_name(&self.config.local_cluster, &self.remote),
            self.config.timeouts,
        )
        .await?;
        tracing::info!(topic = %self.topic, remote = %self.remote, url = %cluster.broker_service_url, "replicator connected");
        self.stats.set_connected(true);
        *backoff = FIRST_BACKOFF;
        cursor.rewind();
        let mut inflight: VecDeque<InFlight> = VecDeque::new();
        let mut next_sequence_id = 0u64;
        let mut confirmed = self.ledger.watch_last_confirmed();
        let mut stall_check = tokio::time::interval(STALL_CHECK);
        loop {
            let room = WINDOW.saturating_sub(inflight.len());
            if room > 0 {
                let entries = cursor
                    .read_entries(room.min(READ_BATCH), READ_BYTES)
                    .await?;
                if !entries.is_empty() {
                    for entry in entries {
                        let item = match self.outgoing(&entry) {
                            Some(shipped) => {
                                let item = InFlight {
                                    sequence_id: Some(next_sequence_id),
                                    position: Some(entry.position),
                                    messages: shipped.messages as u64,
                                    bytes: shipped.body.len() as u64,
                                    publish_time: shipped.publish_time,
                                };
                                remote
                                    .send(next_sequence_id, shipped.messages, shipped.body)
                                    .await?;
                                next_sequence_id += 1;
                                item
                            }
                            None => InFlight {
                                sequence_id: None,
                                position: Some(entry.position),
                                messages: 0,
                                bytes: 0,
                                publish_time: 0,
                            },
                        };
                        inflight.push_back(item);
                    }
                    remote.flush().await?;
                    settle(&mut inflight, cursor, &self.stats, None)?;
                    continue;
                }
                if inflight.is_empty() {
                    self.stats.caught_up();
                    self.stats.report_stall(false);
                }
            }
            tokio::select! {
                event = remote.next_event() => {
                    let super::remote::RemoteEvent::Receipt { sequence_id } = event?;
                    settle(&mut inflight, cursor, &self.stats, Some(sequence_id))?;
                }
                changed = confirmed.changed(), if room > 0 => {
                    if changed.is_err() {
                        return Err(ReplicationError::Closed(self.topic.to_string()));
                    }
                }
                _ = stall_check.tick() => {
                    self.send_frontiers(&mut remote, trackers, &mut inflight, &mut next_sequence_id)
                        .await?;
                    let backlog = cursor.backlog();
                    let stalled = self.stats.is_stalled(backlog, self.config.stall_threshold);
                    if self.stats.report_stall(stalled) {
                        tracing::error!(topic = %self.topic, remote = %self.remote, backlog, "replication stalled: the remote confirms nothing");
                    }
                }
            }
        }
    }

    /// Sends the frontier of each replicated subscription that changed (or
    /// was not sent for a while), in line with the messages.
    async fn send_frontiers(
        &self,
        remote: &mut RemoteProducer,
        trackers: &mut HashMap<String, FrontierTracker>,
        inflight: &mut VecDeque<InFlight>,
        next_sequence_id: &mut u64,
    ) -> Result<(), ReplicationError> {
        let subscriptions = replicated_subscriptions(&self.ledger);
        trackers.retain(|name, _| subscriptions.iter().any(|c| c.name() == name));
        let (local, now) = (&self.config.local_cluster, Instant::now());
        let mut sent = false;
        for cursor in subscriptions {
            let tracker = trackers.entry(cursor.name().to_string()).or_default();
            tracker.advance(&self.ledger, &cursor, local).await?;
            let Some(update) = tracker.due(cursor.name(), now) else {
                continue;
            };
            let metadata = MessageMetadata {
                producer_name: producer_name(local, &self.remote),
                sequence_id: *next_sequence_id,
                publish_time: now_millis(),
                replicated_from: Some(local.clone()),
                marker_type: Some(FRONTIER_MARKER),
                ..Default::default()
            };
            let payload = serde_json::to_vec(&update).unwrap_or_default();
            remote
                .send(*next_sequence_id, 1, encode_body(&metadata, &payload))
                .await?;
            inflight.push_back(InFlight {
                sequence_id: Some(*next_sequence_id),
                position: None,
                messages: 0,
                bytes: 0,
                publish_time: 0,
            });
            *next_sequence_id += 1;
            sent = true;
        }
        if sent {
            remote.flush().await?;
        }
        Ok(())
    }

    /// The body to ship, or `None` to pass the entry over.
    fn outgoing(&self, entry: &Entry) -> Option<Shipped> {
        match stamp(&entry.data, &self.config.local_cluster, &self.remote) {
            Ok(shipped) => shipped,
            Err(error) => {
                tracing::warn!(topic = %self.topic, position = %entry.position, %error, "entry without readable metadata not replicated");
                None
            }
        }
    }
}

/// Takes confirmed entries off the front of `inflight` (those passed over,
/// and the send `receipt` confirms) and moves the cursor past them. A
/// receipt for any send but the oldest one is a protocol error.
fn settle(
    inflight: &mut VecDeque<InFlight>,
    cursor: &ManagedCursor,
    stats: &ReplicatorStats,
    mut receipt: Option<u64>,
) -> Result<(), ReplicationError> {
    let mut last = None;
    while let Some(front) = inflight.front() {
        match (front.sequence_id, receipt) {
            (None, _) => {}
            (Some(due), Some(got)) if due == got => {
                stats.confirmed(front.messages, front.bytes);
                receipt = None;
            }
            (Some(expected), Some(got)) => {
                return Err(ReplicationError::OutOfOrder { expected, got });
            }
            (Some(_), None) => break,
        }
        if let Some(position) = inflight.pop_front().and_then(|f| f.position) {
            last = Some(position);
        }
    }
    if let Some(got) = receipt {
        return Err(ReplicationError::UnexpectedReceipt(got));
    }
    if let Some(position) = last {
        cursor.ack_cumulative(position);
    }
    stats.set_oldest_pending(
        inflight
            .iter()
            .find(|f| f.sequence_id.is_some() && f.position.is_some())
            .map_or(0, |oldest| oldest.publish_time),
    );
    Ok(())
}
