//! Replicated subscriptions. A subscription created with
//! `replicate_subscription_state` passes its consumers' progress to the
//! other clusters of its namespace, so that a consumer that fails over to
//! another cluster resumes near where it stopped.
//!
//! Magnetar follows a subscription by content, not by Pulsar's snapshot
//! markers. A subscription's *frontier* holds, for each origin cluster and
//! producer, the highest sequence id among the entries that its
//! mark-delete position covers. Every cluster keeps each producer's
//! messages in order, so the frontier names exactly the messages the
//! subscription is done with, in any cluster. Each replicator sends the
//! frontiers of its topic's replicated subscriptions in-band, as a marker
//! message ([`FRONTIER_MARKER`], never stored), when they change and every
//! [`RESEND`]: a frontier may arrive before the messages it covers. The
//! remote cluster moves its copy of the subscription past each leading
//! entry that the frontier covers, and stops at the first one it does not
//! cover. A consumer there may see again a message that was acknowledged
//! in the other cluster. It never misses one.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use magnetar_proto::pulsar::decode_metadata;
use serde::{Deserialize, Serialize};

use crate::managed_ledger::{
    InitialPosition, ManagedCursor, ManagedLedger, ManagedLedgerError, Position,
};

/// The cursor property that marks a replicated subscription (Pulsar's).
pub const REPLICATED_PROPERTY: &str = "pulsar.replicated.subscription";
/// The marker type of a frontier update: Magnetar's own, outside the
/// range Pulsar uses, so that no Pulsar broker takes it for one of its
/// markers.
pub const FRONTIER_MARKER: i32 = 100;
/// How often an unchanged frontier is sent again.
pub const RESEND: Duration = Duration::from_secs(5);
/// Entries folded into a frontier per step.
const TRACK_BATCH: usize = 10_000;
/// Entries a received frontier acknowledges at most per update.
const APPLY_LIMIT: usize = 10_000;

/// A subscription's frontier as it travels between clusters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontierUpdate {
    pub subscription: String,
    /// `(origin cluster, producer name, highest sequence id)`.
    pub covered: Vec<(String, String, u64)>,
}

type Frontier = BTreeMap<(String, String), u64>;

/// The origin cluster, producer and highest sequence id of a stored entry.
fn identity(body: &Bytes, local: &str) -> Option<(String, String, u64)> {
    let metadata = decode_metadata(body).ok()?;
    let batch = metadata.num_messages_in_batch.unwrap_or(1).max(1) as u64;
    let highest = match metadata.highest_sequence_id {
        Some(highest) if highest > 0 => highest,
        _ => metadata.sequence_id.saturating_add(batch - 1),
    };
    let origin = metadata
        .replicated_from
        .unwrap_or_else(|| local.to_string());
    Some((
        origin,
        metadata.producer_name,
        highest.max(metadata.sequence_id),
    ))
}

/// One replicated subscription's frontier, folded in as its mark-delete
/// position moves.
#[derive(Debug, Default)]
pub struct FrontierTracker {
    /// The last entry folded in (`None`: none yet, start at the oldest).
    covered_to: Option<Position>,
    frontier: Frontier,
    changed: bool,
    last_sent: Option<Instant>,
}

impl FrontierTracker {
    /// Folds in the entries the subscription's mark-delete position moved
    /// past (at most [`TRACK_BATCH`] per call).
    pub async fn advance(
        &mut self,
        ledger: &ManagedLedger,
        cursor: &ManagedCursor,
        local: &str,
    ) -> Result<(), ManagedLedgerError> {
        let mark_delete = cursor.mark_delete_position();
        let after = self.covered_to.unwrap_or(Position::before_ledger(0));
        if mark_delete <= after {
            return Ok(());
        }
        let entries = ledger.read_after(after, mark_delete, TRACK_BATCH).await?;
        for entry in &entries {
            let Some((origin, producer, highest)) = identity(&entry.data, local) else {
                continue;
            };
            match self.frontier.get_mut(&(origin.clone(), producer.clone())) {
                Some(seen) if *seen >= highest => {}
                Some(seen) => {
                    *seen = highest;
                    self.changed = true;
                }
                None => {
                    self.frontier.insert((origin, producer), highest);
                    self.changed = true;
                }
            }
        }
        self.covered_to = match entries.last() {
            Some(last) if entries.len() == TRACK_BATCH => Some(last.position),
            _ => Some(mark_delete),
        };
        Ok(())
    }

    /// The update to send now, if any: the frontier changed, or it was
    /// last sent [`RESEND`] ago.
    pub fn due(&mut self, subscription: &str, now: Instant) -> Option<FrontierUpdate> {
        if self.frontier.is_empty() {
            return None;
        }
        let resend = self
            .last_sent
            .is_none_or(|at| now.saturating_duration_since(at) >= RESEND);
        if !self.changed && !resend {
            return None;
        }
        self.changed = false;
        self.last_sent = Some(now);
        Some(FrontierUpdate {
            subscription: subscription.to_string(),
            covered: self
                .frontier
                .iter()
                .map(|((origin, producer), &seq)| (origin.clone(), producer.clone(), seq))
                .collect(),
        })
    }
}

/// The topic's replicated subscriptions.
pub fn replicated_subscriptions(ledger: &ManagedLedger) -> Vec<std::sync::Arc<ManagedCursor>> {
    ledger
        .cursor_names()
        .into_iter()
        .filter_map(|name| ledger.cursor(&name))
        .filter(|cursor| cursor.properties().contains_key(REPLICATED_PROPERTY))
        .collect()
}

/// Applies a frontier from another cluster: moves the subscription (created
/// here, replicated, when absent) past the leading entries it covers.
/// Returns how many entries it acknowledged.
pub async fn apply(
    ledger: &ManagedLedger,
    update: &FrontierUpdate,
    local: &str,
) -> Result<usize, ManagedLedgerError> {
    let frontier: Frontier = update
        .covered
        .iter()
        .map(|(origin, producer, seq)| ((origin.clone(), producer.clone()), *seq))
        .collect();
    let cursor = ledger
        .open_cursor(&update.subscription, InitialPosition::Earliest)
        .await?;
    cursor.set_property(REPLICATED_PROPERTY, "true");
    let mut acked = 0;
    while acked < APPLY_LIMIT {
        let Some(position) = cursor.first_unacked() else {
            break;
        };
        let entry = ledger.read_entry(position).await?;
        let covered = identity(&entry.data, local).is_some_and(|(origin, producer, highest)| {
            frontier
                .get(&(origin, producer))
                .is_some_and(|&seq| highest <= seq)
        });
        if !covered {
            break;
        }
        cursor.ack_individual(&[position]);
        acked += 1;
    }
    Ok(acked)
}

#[cfg(test)]
mod tests {
    use magnetar_proto::pulsar::api::MessageMetadata;
    use magnetar_proto::pulsar::encode_body;

    use super::*;

    fn body(producer: &str, seq: u64, batch: i32, from: Option<&str>) -> Bytes {
        let metadata = MessageMetadata {
            producer_name: producer.into(),
            sequence_id: seq,
            num_messages_in_batch: Some(batch),
            replicated_from: from.map(str::to_string),
            ..Default::default()
        };
        encode_body(&metadata, b"x")
    }

    #[test]
    fn an_entry_is_known_by_its_origin_producer_and_last_sequence_id() {
        assert_eq!(
            identity(&body("p", 10, 5, None), "east"),
            Some(("east".into(), "p".into(), 14))
        );
        assert_eq!(
            identity(&body("p", 3, 1, Some("west")), "east"),
            Some(("west".into(), "p".into(), 3))
        );
        assert_eq!(identity(&Bytes::from_static(b"\0"), "east"), None);
    }

    #[test]
    fn an_update_is_due_when_the_frontier_changed_or_after_the_resend_period() {
        let mut tracker = FrontierTracker::default();
        let now = Instant::now();
        assert_eq!(tracker.due("s", now), None, "nothing to say yet");
        tracker.frontier.insert(("east".into(), "p".into()), 4);
        tracker.changed = true;
        let update = tracker.due("s", now).expect("changed");
        assert_eq!(update.covered, vec![("east".into(), "p".into(), 4)]);
        assert_eq!(tracker.due("s", now + Duration::from_secs(1)), None);
        assert!(tracker.due("s", now + RESEND).is_some());
    }
}
