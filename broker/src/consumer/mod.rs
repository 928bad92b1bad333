//! Consumers: one per `SUBSCRIBE`, attached to a subscription's dispatcher.
//!
//! A consumer owns its flow-control permits and, for subscriptions that
//! track them, the entries it was sent and has not acknowledged yet
//! (`pending_acks`). The dispatcher decides what to send; the consumer only
//! frames it for the client and does the accounting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use magnetar_proto::pulsar::api::{CommandCloseConsumer, CommandMessage};
use magnetar_proto::pulsar::{messages_in_body, Frame, PayloadFrame};
use parking_lot::Mutex;

use crate::managed_ledger::{Entry, Position};
use crate::traffic::TopicTraffic;
use crate::wire::{message_id, Outbound, BROKER_REQUEST_ID};

/// How a subscription hands messages to its consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionType {
    /// One consumer, strict order.
    Exclusive,
    /// Round-robin across consumers, individual acks only.
    Shared,
}

impl SubscriptionType {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionType::Exclusive => "Exclusive",
            SubscriptionType::Shared => "Shared",
        }
    }
}

/// The entry could not be sent: the client connection is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionGone;

pub struct Consumer {
    id: u64,
    name: String,
    subscription: String,
    out: Outbound,
    traffic: Arc<TopicTraffic>,
    permits: AtomicI64,
    /// Sent, not yet acknowledged: position → messages in the entry.
    pending_acks: Mutex<HashMap<Position, u32>>,
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
    pub fn new(
        id: u64,
        name: String,
        subscription: String,
        out: Outbound,
        traffic: Arc<TopicTraffic>,
    ) -> Self {
        Consumer {
            id,
            traffic,
            name,
            subscription,
            out,
            permits: AtomicI64::new(0),
            pending_acks: Mutex::new(HashMap::new()),
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

    /// Adds permits (`FLOW`).
    pub fn add_permits(&self, permits: u32) {
        self.permits.fetch_add(i64::from(permits), Ordering::AcqRel);
    }

    /// May be negative by less than one entry's messages (batches).
    pub fn available_permits(&self) -> i64 {
        self.permits.load(Ordering::Acquire)
    }

    pub fn unacked_messages(&self) -> u64 {
        self.pending_acks
            .lock()
            .values()
            .map(|&n| u64::from(n))
            .sum()
    }

    /// Sends one entry as a `MESSAGE` frame and charges permits by the
    /// number of messages in it. With `track_ack` the entry is remembered
    /// until acknowledged or redelivered.
    pub fn send_entry(
        &self,
        entry: &Entry,
        redelivery_count: u32,
        track_ack: bool,
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
        self.traffic
            .record_out(u64::from(messages), entry.data.len() as u64);
        if track_ack {
            self.pending_acks.lock().insert(entry.position, messages);
        }
        Ok(messages)
    }

    /// Forgets acknowledged positions; returns those that were pending here.
    pub fn acked(&self, positions: &[Position]) -> Vec<Position> {
        let mut pending = self.pending_acks.lock();
        positions
            .iter()
            .copied()
            .filter(|p| pending.remove(p).is_some())
            .collect()
    }

    /// Forgets every pending position up to and including `position`.
    pub fn acked_up_to(&self, position: Position) {
        self.pending_acks.lock().retain(|p, _| *p > position);
    }

    /// Takes the given pending positions (all of them when `None`) for
    /// redelivery; positions not pending here are ignored.
    pub fn take_pending(&self, positions: Option<&[Position]>) -> Vec<Position> {
        let mut pending = self.pending_acks.lock();
        let mut taken: Vec<Position> = match positions {
            None => pending.drain().map(|(p, _)| p).collect(),
            Some(positions) => positions
                .iter()
                .copied()
                .filter(|p| pending.remove(p).is_some())
                .collect(),
        };
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
