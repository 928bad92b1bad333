//! Consumers: one per `SUBSCRIBE`, attached to a subscription's dispatcher.
//!
//! A consumer owns its flow-control permits and, for subscriptions that
//! track them, the entries it was sent and has not acknowledged yet
//! (`pending.rs`, with the unacked limit). The dispatcher decides what to send; the consumer only
//! frames it for the client and does the accounting. It also tells its
//! client, once, when a terminated topic has nothing more for it
//! (`REACHED_END_OF_TOPIC`), if the client understands that command.

mod pending;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use magnetar_proto::pulsar::api::{
    CommandActiveConsumerChange, CommandCloseConsumer, CommandMessage, CommandReachedEndOfTopic,
};
use magnetar_proto::pulsar::{messages_in_body, Frame, PayloadFrame};
use parking_lot::Mutex;

use crate::managed_ledger::{Entry, Position};
use crate::traffic::{Flow, TopicTraffic};
use crate::wire::{message_id, Outbound, BROKER_REQUEST_ID};
use pending::PendingAcks;

/// How a subscription hands messages to its consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionType {
    /// One consumer, strict order.
    Exclusive,
    /// Round-robin across consumers, individual acks only.
    Shared,
    /// Several consumers, one of them active (strict order); the others
    /// take over when it leaves.
    Failover,
    /// Several consumers; each key goes to one consumer at a time, in order.
    KeyShared,
}

impl SubscriptionType {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionType::Exclusive => "Exclusive",
            SubscriptionType::Shared => "Shared",
            SubscriptionType::Failover => "Failover",
            SubscriptionType::KeyShared => "Key_Shared",
        }
    }

    /// One consumer receives everything, in order (Exclusive, Failover).
    pub fn is_single_active(self) -> bool {
        matches!(
            self,
            SubscriptionType::Exclusive | SubscriptionType::Failover
        )
    }

    /// Whether cumulative acknowledgement is allowed.
    pub fn allows_cumulative_ack(self) -> bool {
        self.is_single_active()
    }
}

/// Who a consumer is, as its `SUBSCRIBE` said.
#[derive(Debug, Clone, Default)]
pub struct ConsumerSpec {
    pub id: u64,
    pub name: String,
    pub subscription: String,
    /// Failover: lower levels are chosen first.
    pub priority_level: i32,
    /// Key_Shared: how this consumer takes keys.
    pub key_shared: Option<KeySharedSpec>,
    /// Shared and Key_Shared: unacknowledged messages at which the
    /// consumer is blocked (0: no limit).
    pub max_unacked: u64,
    /// Whether the client understands `REACHED_END_OF_TOPIC` (else it is
    /// never sent: a client that does not would drop its connection).
    pub end_of_topic_notice: bool,
}

/// A Key_Shared consumer's `KeySharedMeta`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySharedSpec {
    /// STICKY: the hash ranges (inclusive) this consumer takes; `None` for
    /// AUTO_SPLIT.
    pub sticky_ranges: Option<Vec<(i32, i32)>>,
    pub allow_out_of_order: bool,
}

/// A consumer's identity within a broker: its connection and its id there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConsumerKey {
    pub cid: u64,
    pub id: u64,
}

/// What waits for the client to have its SUBSCRIBE answer.
#[derive(Debug, Default)]
struct Deferred {
    active: Option<bool>,
    end_of_topic: bool,
}

/// The entry could not be sent: the client connection is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionGone;

pub struct Consumer {
    id: u64,
    name: String,
    subscription: String,
    priority_level: i32,
    key_shared: Option<KeySharedSpec>,
    out: Outbound,
    traffic: Arc<TopicTraffic>,
    /// This consumer's part of the topic's outbound traffic.
    flow: Flow,
    permits: AtomicI64,
    /// Whether the client has its SUBSCRIBE answer: an
    /// `ACTIVE_CONSUMER_CHANGE` or `REACHED_END_OF_TOPIC` before it would
    /// name an unknown consumer, so it waits in `deferred` until
    /// [`Consumer::ready`].
    ready: AtomicBool,
    deferred: Mutex<Deferred>,
    end_of_topic_notice: bool,
    /// The end of the topic was reached (told at most once).
    reached_end: AtomicBool,
    /// Sent, not yet acknowledged: position → messages in the entry.
    pending_acks: Mutex<PendingAcks>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("subscription", &self.subscription)
            .field("permits", &self.permits.load(Ordering::Relaxed))
            .finish()
    }
}

impl Consumer {
    pub fn new(spec: ConsumerSpec, out: Outbound, traffic: Arc<TopicTraffic>) -> Self {
        Consumer {
            id: spec.id,
            traffic,
            flow: Flow::default(),
            name: spec.name,
            subscription: spec.subscription,
            priority_level: spec.priority_level,
            key_shared: spec.key_shared,
            out,
            permits: AtomicI64::new(0),
            ready: AtomicBool::new(false),
            deferred: Mutex::new(Deferred::default()),
            end_of_topic_notice: spec.end_of_topic_notice,
            reached_end: AtomicBool::new(false),
            pending_acks: Mutex::new(PendingAcks::new(spec.max_unacked)),
            closed: AtomicBool::new(false),
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn subscription(&self) -> &str {
        &self.subscription
    }

    pub fn cid(&self) -> u64 {
        self.out.cid()
    }

    /// Consumer id and connection id: unique within a broker.
    pub fn key(&self) -> ConsumerKey {
        ConsumerKey {
            cid: self.out.cid(),
            id: self.id,
        }
    }

    pub fn priority_level(&self) -> i32 {
        self.priority_level
    }

    pub fn key_shared(&self) -> Option<&KeySharedSpec> {
        self.key_shared.as_ref()
    }

    /// Tells the client whether this consumer is the active one
    /// (`ACTIVE_CONSUMER_CHANGE`, Failover).
    pub fn notify_active(&self, is_active: bool) {
        let mut deferred = self.deferred.lock();
        if self.ready.load(Ordering::Acquire) {
            self.send_active(is_active);
        } else {
            deferred.active = Some(is_active);
        }
    }

    /// The topic is terminated and this consumer's subscription has
    /// everything: tells the client (`REACHED_END_OF_TOPIC`), once.
    pub fn notify_end_of_topic(&self) {
        if self.reached_end.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut deferred = self.deferred.lock();
        if self.ready.load(Ordering::Acquire) {
            self.send_end_of_topic();
        } else {
            deferred.end_of_topic = true;
        }
    }

    /// The client has its SUBSCRIBE answer: sends what was deferred.
    pub fn ready(&self) {
        let mut deferred = self.deferred.lock();
        self.ready.store(true, Ordering::Release);
        if let Some(is_active) = deferred.active.take() {
            self.send_active(is_active);
        }
        if std::mem::take(&mut deferred.end_of_topic) {
            self.send_end_of_topic();
        }
    }

    fn send_end_of_topic(&self) {
        if self.end_of_topic_notice && !self.is_closed() {
            tracing::info!(consumer_id = self.id, subscription = %self.subscription, "end of topic reached");
            self.out.send(CommandReachedEndOfTopic {
                consumer_id: self.id,
            });
        }
    }

    fn send_active(&self, is_active: bool) {
        if !self.is_closed() {
            self.out.send(CommandActiveConsumerChange {
                consumer_id: self.id,
                is_active: Some(is_active),
            });
        }
    }

    /// Messages and bytes dispatched to this consumer, with their rates.
    pub fn flow(&self) -> &Flow {
        &self.flow
    }

    /// Adds permits (`FLOW`).
    pub fn add_permits(&self, permits: u32) {
        self.permits.fetch_add(i64::from(permits), Ordering::AcqRel);
    }

    /// May be negative by less than one entry's messages (batches).
    pub fn available_permits(&self) -> i64 {
        self.permits.load(Ordering::Acquire)
    }

    pub fn unacked_messages(&self) -> u64 {
        self.pending_acks.lock().messages()
    }

    /// At its unacked limit: it gets nothing until it acknowledges.
    pub fn is_blocked(&self) -> bool {
        self.pending_acks.lock().is_blocked()
    }

    /// Open, with permits, and not blocked: it can take an entry now.
    pub fn can_take(&self) -> bool {
        !self.is_closed() && self.available_permits() > 0 && !self.is_blocked()
    }

    /// Sends one entry as a `MESSAGE` frame and charges permits by the
    /// number of messages in it. With `track_ack` the entry is remembered
    /// until acknowledged or redelivered. `ack_set` marks the messages of a
    /// partly acknowledged batch still to deliver.
    pub fn send_entry(
        &self,
        entry: &Entry,
        redelivery_count: u32,
        track_ack: bool,
        ack_set: Option<Vec<i64>>,
    ) -> Result<u32, ConnectionGone> {
        if self.is_closed() {
            return Err(ConnectionGone);
        }
        let messages = messages_in_body(&entry.data).unwrap_or_else(|error| {
            tracing::warn!(consumer_id = self.id, position = %entry.position, error = %error, "entry metadata unreadable, counting one message");
            1
        });
        let command = CommandMessage {
            consumer_id: self.id,
            message_id: message_id(entry.position),
            redelivery_count: Some(redelivery_count),
            ack_set: ack_set.unwrap_or_default(),
            ..Default::default()
        };
        if !self.out.send_frame(Frame::Payload(PayloadFrame::new(
            command.into(),
            entry.data.clone(),
        ))) {
            return Err(ConnectionGone);
        }
        self.permits
            .fetch_sub(i64::from(messages), Ordering::AcqRel);
        let bytes = entry.data.len() as u64;
        self.traffic.record_out(u64::from(messages), bytes);
        self.flow.record(u64::from(messages), bytes);
        if track_ack {
            self.pending_acks.lock().insert(entry.position, messages);
        }
        Ok(messages)
    }

    /// Forgets acknowledged positions (those pending elsewhere are
    /// ignored); returns whether that lifted the consumer's block.
    pub fn acked(&self, positions: &[Position]) -> bool {
        let mut pending = self.pending_acks.lock();
        for position in positions {
            pending.remove(position);
        }
        pending.unblock_if_drained()
    }

    /// Forgets every pending position up to and including `position`.
    pub fn acked_up_to(&self, position: Position) {
        let mut pending = self.pending_acks.lock();
        pending.retain(|p| *p > position);
        pending.unblock_if_drained();
    }

    /// Takes the given pending positions (all of them when `None`) for
    /// redelivery; positions not pending here are ignored.
    pub fn take_pending(&self, positions: Option<&[Position]>) -> Vec<Position> {
        let mut pending = self.pending_acks.lock();
        let mut taken: Vec<Position> = match positions {
            None => pending.drain(),
            Some(positions) => positions
                .iter()
                .copied()
                .filter(|p| pending.remove(p))
                .collect(),
        };
        pending.unblock_if_drained();
        taken.sort();
        taken
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.out.is_closed()
    }

    /// Marks the consumer closed (client request or disconnect).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Closes the consumer from the broker side and tells the client, which
    /// will resubscribe after a fresh lookup.
    pub fn close_by_broker(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.out.send(CommandCloseConsumer {
                consumer_id: self.id,
                request_id: BROKER_REQUEST_ID,
            });
        }
    }
}

/// Consumers for the dispatchers' unit tests: their frames go nowhere.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub fn consumer(cid: u64, name: &str, priority_level: i32) -> Arc<Consumer> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        // The receiver stays alive (and unread) for the rest of the test.
        std::mem::forget(rx);
        let consumer = Arc::new(Consumer::new(
            ConsumerSpec {
                id: 1,
                name: name.to_string(),
                subscription: "s".to_string(),
                priority_level,
                key_shared: None,
                max_unacked: 0,
                end_of_topic_notice: true,
            },
            Outbound::new(cid, tx),
            Arc::default(),
        ));
        consumer.add_permits(1000);
        consumer
    }
}
