//! Producers: one per `PRODUCER` command, attached to a topic.
//!
//! Publish path and durability order:
//! 1. the connection checks the checksum and takes a pending-publish permit
//!    (the per-connection bound; waiting for it stops reading the socket);
//! 2. [`Producer::publish`] hands the message body to
//!    `ManagedLedger::add_entry`, which fixes the entry's order at call time;
//! 3. the producer's receipt task awaits the add futures *in send order* and
//!    sends `SEND_RECEIPT` only once an add resolved, i.e. once the entry is
//!    durable on an ack quorum of bookies. A receipt therefore never precedes
//!    durability, and receipts of one producer are never reordered.
//!
//! With deduplication on (`dedup.rs`), step 2 goes through the
//! topic's deduplication state: a duplicate is answered in its turn
//! without being stored (message id `-1:-1`, as Pulsar), and a message
//! whose original is still in flight is refused so the client resends it.
//! A replicator from another cluster is checked by the producer name and
//! sequence ids its messages carry from their origin.

mod dedup;

pub use dedup::{DedupOutcome, DedupSwitch, Deduplication, DEDUP_CURSOR, SNAPSHOT_INTERVAL};

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use magnetar_proto::pulsar::api::{
    CommandCloseProducer, CommandSendReceipt, MessageIdData, ServerError,
};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use crate::managed_ledger::{ManagedLedger, ManagedLedgerError, Position};
use crate::traffic::{Flow, TopicTraffic};
use crate::wire::{
    message_id, send_error, storage_error_message, storage_server_error, Outbound,
    BROKER_REQUEST_ID,
};

/// How a publish ended.
enum Published {
    Stored(Position),
    /// Stored before (deduplication): answered, not stored again.
    Duplicate,
}

/// Why a publish was not stored.
enum PublishFailed {
    Storage(ManagedLedgerError),
    /// Its original is still being written: the client resends it.
    InFlight,
}

/// What the receipt of one message (or batch) needs besides its outcome.
struct ReceiptFor {
    sequence_id: u64,
    highest_sequence_id: u64,
    /// When the publish was handed to the ledger (its write latency ends
    /// at the receipt).
    started: Instant,
    /// Released when the receipt is sent: the connection's publish bound.
    _permit: OwnedSemaphorePermit,
}

/// One message (or batch) waiting for its add to become durable: the add
/// and its receipt's fields in one allocation, so the receipt queue holds a
/// pointer per publish (an idle producer's queue keeps one block of 32
/// slots, which is 512 bytes of pointers rather than 2 KB of publishes).
type PendingPublish = BoxFuture<'static, (ReceiptFor, Result<Published, PublishFailed>)>;

fn pending<F>(receipt: ReceiptFor, added: F) -> PendingPublish
where
    F: Future<Output = Result<Published, PublishFailed>> + Send + 'static,
{
    async move { (receipt, added.await) }.boxed()
}

/// A producer attached to a topic.
pub struct Producer {
    id: u64,
    name: String,
    topic: String,
    out: Outbound,
    ledger: Arc<ManagedLedger>,
    traffic: Arc<TopicTraffic>,
    /// This producer's part of the topic's inbound traffic.
    flow: Flow,
    /// The topic's deduplication, read at each publish.
    dedup: Arc<DedupSwitch>,
    pending: mpsc::UnboundedSender<PendingPublish>,
    closed: AtomicBool,
    /// False while a WaitForExclusive producer waits for the topic: its
    /// sends are refused.
    ready: AtomicBool,
    /// A replicator from another cluster: deduplication checks the
    /// original producer name and sequence ids its messages carry.
    replicator: AtomicBool,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("topic", &self.topic)
            .finish()
    }
}

impl Producer {
    /// Creates the producer and spawns its receipt task.
    pub fn new(
        id: u64,
        name: String,
        topic: String,
        out: Outbound,
        ledger: Arc<ManagedLedger>,
        traffic: Arc<TopicTraffic>,
        dedup: Arc<DedupSwitch>,
    ) -> Arc<Self> {
        let (pending, pending_rx) = mpsc::unbounded_channel();
        tokio::spawn(send_receipts(id, out.clone(), traffic.clone(), pending_rx));
        Arc::new(Producer {
            id,
            name,
            topic,
            out,
            ledger,
            traffic,
            flow: Flow::default(),
            dedup,
            pending,
            closed: AtomicBool::new(false),
            ready: AtomicBool::new(true),
            replicator: AtomicBool::new(false),
        })
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn cid(&self) -> u64 {
        self.out.cid()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Messages and bytes this producer published, with their rates.
    pub fn flow(&self) -> &Flow {
        &self.flow
    }

    fn count_in(&self, messages: u64, bytes: u64) {
        self.traffic.record_in(messages, bytes);
        self.flow.record(messages, bytes);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Marks a producer waiting for exclusive access (not ready) or
    /// holding it (ready).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Marks a producer that replicates from another cluster.
    pub fn set_replicator(&self) {
        self.replicator.store(true, Ordering::Release);
    }

    pub fn is_replicator(&self) -> bool {
        self.replicator.load(Ordering::Acquire)
    }

    /// Answers a send that is handled without storing anything (a marker
    /// from another cluster), in its turn behind the earlier receipts.
    pub fn answer_unstored(&self, sequence_id: u64, permit: OwnedSemaphorePermit) {
        let receipt = ReceiptFor {
            sequence_id,
            highest_sequence_id: sequence_id,
            started: Instant::now(),
            _permit: permit,
        };
        let publish = pending(receipt, futures::future::ready(Ok(Published::Duplicate)));
        if self.pending.send(publish).is_err() {
            tracing::warn!(
                producer_id = self.id,
                "receipt task is gone, dropping answer"
            );
        }
    }

    /// The highest sequence id accepted from this producer's name, `-1`
    /// when none is known (or deduplication is off).
    pub fn last_sequence_id(&self) -> i64 {
        self.dedup
            .current()
            .map_or(-1, |dedup| dedup.last_sequence_id(&self.name))
    }

    /// Appends `body` (`[metadata size][metadata][payload]`, stored verbatim,
    /// `messages` of them when it is a batch) and queues its receipt behind
    /// the earlier ones. `chunk_before_last`: a chunk of a chunked message
    /// other than its last, which deduplication lets by.
    pub fn publish(
        &self,
        messages: u64,
        sequence_id: u64,
        highest_sequence_id: u64,
        body: Bytes,
        chunk_before_last: bool,
        permit: OwnedSemaphorePermit,
    ) {
        let receipt = ReceiptFor {
            sequence_id,
            highest_sequence_id,
            started: Instant::now(),
            _permit: permit,
        };
        let dedup = self.dedup.current().filter(|_| !chunk_before_last);
        let publish = match dedup {
            _ if crate::fault::ack_without_storing() => {
                pending(receipt, futures::future::ready(Ok(Published::Duplicate)))
            }
            None => {
                self.count_in(messages, body.len() as u64);
                let added = self.ledger.add_entry(body);
                pending(receipt, async move {
                    added
                        .await
                        .map(Published::Stored)
                        .map_err(PublishFailed::Storage)
                })
            }
            Some(dedup) => {
                let bytes = body.len() as u64;
                let origin = self
                    .replicator
                    .load(Ordering::Acquire)
                    .then(|| dedup::origin_of(&body))
                    .flatten();
                let (name, sequence, highest) = match &origin {
                    Some((name, sequence, highest)) => (name.as_str(), *sequence, *highest),
                    None => (self.name.as_str(), sequence_id, highest_sequence_id),
                };
                match dedup.publish(&self.ledger, name, sequence, highest, body) {
                    DedupOutcome::Added(added) => {
                        self.count_in(messages, bytes);
                        let stopped = self.ledger.name().to_string();
                        pending(receipt, async move {
                            match added.await {
                                Ok(result) => result
                                    .map(Published::Stored)
                                    .map_err(PublishFailed::Storage),
                                Err(_) => Err(PublishFailed::Storage(ManagedLedgerError::Closed {
                                    name: stopped,
                                })),
                            }
                        })
                    }
                    DedupOutcome::Duplicate => {
                        pending(receipt, futures::future::ready(Ok(Published::Duplicate)))
                    }
                    DedupOutcome::InFlight => pending(
                        receipt,
                        futures::future::ready(Err(PublishFailed::InFlight)),
                    ),
                }
            }
        };
        if self.pending.send(publish).is_err() {
            tracing::warn!(
                producer_id = self.id,
                "receipt task is gone, dropping publish"
            );
        }
    }

    /// Marks the producer closed (client request or disconnect). Pending
    /// receipts are still delivered.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Closes the producer from the broker side (topic unload) and tells the
    /// client, which will reconnect after a fresh lookup.
    pub fn close_by_broker(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.out.send(CommandCloseProducer {
                producer_id: self.id,
                request_id: BROKER_REQUEST_ID,
            });
        }
    }
}

/// Awaits each add in send order and answers it.
async fn send_receipts(
    producer_id: u64,
    out: Outbound,
    traffic: Arc<TopicTraffic>,
    mut pending: mpsc::UnboundedReceiver<PendingPublish>,
) {
    while let Some(publish) = pending.recv().await {
        let (publish, outcome) = publish.await;
        match outcome {
            Ok(published) => {
                let message_id = match published {
                    Published::Stored(position) => {
                        traffic.record_write(publish.started.elapsed());
                        message_id(position)
                    }
                    Published::Duplicate => duplicate_message_id(),
                };
                out.send(CommandSendReceipt {
                    producer_id,
                    sequence_id: publish.sequence_id,
                    message_id: Some(message_id),
                    highest_sequence_id: Some(publish.highest_sequence_id),
                });
            }
            Err(PublishFailed::Storage(error)) => {
                // Per message: a lasting cause is logged by the managed ledger, once.
                tracing::debug!(producer_id, sequence_id = publish.sequence_id, error = %error, "publish failed");
                out.send(send_error(
                    producer_id,
                    publish.sequence_id,
                    storage_server_error(&error),
                    storage_error_message(&error),
                ));
            }
            Err(PublishFailed::InFlight) => {
                tracing::debug!(
                    producer_id,
                    sequence_id = publish.sequence_id,
                    "duplicate of a message in flight refused"
                );
                out.send(send_error(
                    producer_id,
                    publish.sequence_id,
                    ServerError::PersistenceError,
                    "the message with this sequence id is still being written; send it again",
                ));
            }
        }
    }
}

/// The message id of a duplicate's receipt: nothing was stored.
fn duplicate_message_id() -> MessageIdData {
    MessageIdData {
        ledger_id: u64::MAX,
        entry_id: u64::MAX,
        ..Default::default()
    }
}
