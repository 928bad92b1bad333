//! Message deduplication of one topic, keyed by producer name and
//! sequence id (Pulsar's `MessageDeduplication`).
//!
//! Two maps: `pushed`, the highest sequence id accepted for writing per
//! producer (in flight or stored), and `persisted`, the highest one stored.
//! A message whose sequence id is at most `pushed`:
//! - is a **duplicate** when it is at most `persisted` too: it is answered
//!   without being stored again;
//! - is **in flight** otherwise (its original may still fail): it is
//!   refused with a retryable error, and the client sends it again.
//!
//! The check, the add and the queueing of the add happen under one lock,
//! so adds reach the recorder task in position order. The recorder awaits
//! each add, updates `persisted`, and every [`SNAPSHOT_INTERVAL`] entries
//! snapshots the map: the durable cursor [`DEDUP_CURSOR`] is moved to that
//! entry with the map as its properties (one persist stores both). As the
//! recorder has seen every entry up to the snapshot, the map matches the
//! position exactly. A topic that goes quiet with entries since its last
//! snapshot is snapshotted once the quiet lasts the snapshot interval, so
//! that its next load replays nothing.
//!
//! Recovery, before any producer is admitted: the map from the cursor's
//! properties, then every entry after its mark-delete position replayed
//! from its metadata (producer name, sequence ids). A failed add resets
//! the producer's `pushed` to `persisted`, so its resend is not a duplicate.
//!
//! The chunks of a chunked message share its sequence id: every chunk but
//! the last goes by without a check (as in Pulsar), and the last one is
//! checked and recorded for the whole message.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use magnetar_proto::pulsar::decode_metadata;
use tokio::sync::{mpsc, oneshot};

use crate::managed_ledger::{
    InitialPosition, ManagedCursor, ManagedLedger, ManagedLedgerError, Position,
};

/// The cursor that holds snapshots (Pulsar's name).
pub const DEDUP_CURSOR: &str = "pulsar.dedup";
/// Entries between snapshots (Pulsar's `brokerDeduplicationEntriesInterval`).
pub const SNAPSHOT_INTERVAL: u64 = 1000;
/// Producers kept in a snapshot (Pulsar's `brokerDeduplicationMaxNumberOfProducers`).
const MAX_SNAPSHOT_PRODUCERS: usize = 10_000;
/// Entries read per step of the replay.
const REPLAY_BATCH: usize = 500;

/// What became of one publish.
pub enum DedupOutcome {
    /// Stored: the add's result arrives here, after the recorder saw it.
    Added(oneshot::Receiver<Result<Position, ManagedLedgerError>>),
    /// Stored before: answer it, do not store it again.
    Duplicate,
    /// Its original is still being written: the client must retry.
    InFlight,
}

#[derive(Default)]
struct Maps {
    pushed: HashMap<String, u64>,
    persisted: HashMap<String, u64>,
}

struct Recorded {
    producer: String,
    highest: u64,
    added: futures::future::BoxFuture<'static, Result<Position, ManagedLedgerError>>,
    reply: oneshot::Sender<Result<Position, ManagedLedgerError>>,
}

/// A topic's deduplication, on or off, shared by the topic and all its
/// producers, so that turning it on or off reaches producers already
/// attached (each publish reads it).
#[derive(Default)]
pub struct DedupSwitch(parking_lot::RwLock<Option<Arc<Deduplication>>>);

impl DedupSwitch {
    /// The state while deduplication is on.
    pub fn current(&self) -> Option<Arc<Deduplication>> {
        self.0.read().clone()
    }

    pub fn set(&self, state: Option<Arc<Deduplication>>) {
        *self.0.write() = state;
    }
}

/// A topic's deduplication state.
pub struct Deduplication {
    maps: Arc<parking_lot::Mutex<Maps>>,
    recorder: mpsc::UnboundedSender<Recorded>,
}

impl Deduplication {
    /// Opens the snapshot cursor, rebuilds the maps (snapshot, then replay
    /// of the entries after it) and starts the recorder, which also
    /// snapshots after `snapshot_interval` without a new entry (`None`:
    /// only by entry count).
    pub async fn recover(
        ledger: &Arc<ManagedLedger>,
        snapshot_interval: Option<Duration>,
    ) -> Result<Self, ManagedLedgerError> {
        let cursor = ledger
            .open_cursor(DEDUP_CURSOR, InitialPosition::Latest)
            .await?;
        let mut persisted: HashMap<String, u64> = cursor
            .properties()
            .into_iter()
            .filter_map(|(name, seq)| seq.parse().ok().map(|seq| (name, seq)))
            .collect();
        let from_snapshot = persisted.len();
        let mut replayed = 0usize;
        loop {
            let entries = cursor.read_entries(REPLAY_BATCH, usize::MAX).await?;
            if entries.is_empty() {
                break;
            }
            replayed += entries.len();
            for entry in &entries {
                if let Some((producer, highest)) = sequence_of(&entry.data) {
                    let seen = persisted.entry(producer).or_insert(highest);
                    *seen = (*seen).max(highest);
                }
            }
        }
        // The reads only moved the read position; the mark-delete stays.
        cursor.rewind();
        tracing::info!(
            managed_ledger = ledger.name(),
            producers = persisted.len(),
            from_snapshot,
            replayed,
            "deduplication recovered"
        );
        let maps = Arc::new(parking_lot::Mutex::new(Maps {
            pushed: persisted.clone(),
            persisted,
        }));
        let (recorder, records) = mpsc::unbounded_channel();
        tokio::spawn(record(maps.clone(), cursor, records, snapshot_interval));
        Ok(Deduplication { maps, recorder })
    }

    /// The highest sequence id accepted from `producer` (`-1`: none), what
    /// PRODUCER_SUCCESS carries so the client resumes after it.
    pub fn last_sequence_id(&self, producer: &str) -> i64 {
        self.maps
            .lock()
            .pushed
            .get(producer)
            .map_or(-1, |&seq| seq.min(i64::MAX as u64) as i64)
    }

    /// Checks the message and, when it is new, adds it to `ledger`.
    pub fn publish(
        &self,
        ledger: &ManagedLedger,
        producer: &str,
        sequence_id: u64,
        highest_sequence_id: u64,
        body: Bytes,
    ) -> DedupOutcome {
        let highest = highest_sequence_id.max(sequence_id);
        let mut maps = self.maps.lock();
        if maps.pushed.get(producer).is_some_and(|&p| sequence_id <= p) {
            return if maps
                .persisted
                .get(producer)
                .is_some_and(|&p| sequence_id <= p)
            {
                DedupOutcome::Duplicate
            } else {
                DedupOutcome::InFlight
            };
        }
        maps.pushed.insert(producer.to_string(), highest);
        let (reply, receiver) = oneshot::channel();
        let record = Recorded {
            producer: producer.to_string(),
            highest,
            added: ledger.add_entry(body),
            reply,
        };
        if let Err(mpsc::error::SendError(record)) = self.recorder.send(record) {
            // The recorder is gone (topic closing): answer directly.
            tokio::spawn(async move {
                let _ = record.reply.send(record.added.await);
            });
        }
        DedupOutcome::Added(receiver)
    }
}

/// Awaits adds in position order, updates `persisted` and snapshots: every
/// [`SNAPSHOT_INTERVAL`] entries, and after `snapshot_interval` without a
/// new entry when any came since the last snapshot.
async fn record(
    maps: Arc<parking_lot::Mutex<Maps>>,
    cursor: Arc<ManagedCursor>,
    mut records: mpsc::UnboundedReceiver<Recorded>,
    snapshot_interval: Option<Duration>,
) {
    let mut since_snapshot = 0u64;
    let mut last_stored: Option<Position> = None;
    loop {
        let next = match (snapshot_interval, last_stored) {
            (Some(quiet), Some(position)) if since_snapshot > 0 => {
                match tokio::time::timeout(quiet, records.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        since_snapshot = 0;
                        let snapshot = snapshot(&maps.lock().persisted);
                        cursor.mark_delete_with_properties(position, snapshot);
                        continue;
                    }
                }
            }
            _ => records.recv().await,
        };
        let Some(record) = next else {
            break;
        };
        let result = record.added.await;
        {
            let mut maps = maps.lock();
            match &result {
                Ok(position) => {
                    let stored = maps
                        .persisted
                        .entry(record.producer)
                        .or_insert(record.highest);
                    *stored = (*stored).max(record.highest);
                    last_stored = Some(*position);
                    since_snapshot += 1;
                    if since_snapshot >= SNAPSHOT_INTERVAL {
                        since_snapshot = 0;
                        cursor.mark_delete_with_properties(*position, snapshot(&maps.persisted));
                    }
                }
                Err(_) => {
                    // Its resend must not look like a duplicate.
                    match maps.persisted.get(&record.producer).copied() {
                        Some(stored) => maps.pushed.insert(record.producer, stored),
                        None => maps.pushed.remove(&record.producer),
                    };
                }
            }
        }
        let _ = record.reply.send(result);
    }
}

/// The snapshot properties: the producers with the highest sequence ids
/// first, when there are more than fit.
fn snapshot(persisted: &HashMap<String, u64>) -> BTreeMap<String, String> {
    let mut producers: Vec<_> = persisted.iter().collect();
    if producers.len() > MAX_SNAPSHOT_PRODUCERS {
        producers.sort_unstable_by(|a, b| b.1.cmp(a.1));
        producers.truncate(MAX_SNAPSHOT_PRODUCERS);
    }
    producers
        .into_iter()
        .map(|(name, seq)| (name.clone(), seq.to_string()))
        .collect()
}

/// The producer name, sequence id and highest sequence id a message body
/// carries from the producer that first published it (what a replicated
/// message is checked by).
pub(super) fn origin_of(body: &Bytes) -> Option<(String, u64, u64)> {
    let metadata = decode_metadata(body).ok()?;
    let batch = metadata.num_messages_in_batch.unwrap_or(1).max(1) as u64;
    let highest = match metadata.highest_sequence_id {
        Some(highest) if highest > 0 => highest,
        _ => metadata.sequence_id.saturating_add(batch - 1),
    };
    Some((
        metadata.producer_name,
        metadata.sequence_id,
        highest.max(metadata.sequence_id),
    ))
}

/// The producer and highest sequence id of a stored entry.
fn sequence_of(body: &Bytes) -> Option<(String, u64)> {
    origin_of(body).map(|(producer, _, highest)| (producer, highest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_keep_the_newest_producers_when_full() {
        let persisted: HashMap<String, u64> = (0..(MAX_SNAPSHOT_PRODUCERS as u64 + 5))
            .map(|i| (format!("p{i}"), i))
            .collect();
        let kept = snapshot(&persisted);
        assert_eq!(kept.len(), MAX_SNAPSHOT_PRODUCERS);
        assert!(!kept.contains_key("p0"));
        assert_eq!(
            kept.get(&format!("p{}", MAX_SNAPSHOT_PRODUCERS + 4))
                .map(String::as_str),
            Some(&*(MAX_SNAPSHOT_PRODUCERS + 4).to_string())
        );
    }
}
