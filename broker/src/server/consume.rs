//! Consuming commands: SUBSCRIBE (durable subscriptions of every type, and
//! readers), FLOW, ACK, REDELIVER_UNACKNOWLEDGED_MESSAGES, UNSUBSCRIBE,
//! CLOSE_CONSUMER, SEEK, GET_LAST_MESSAGE_ID and CONSUMER_STATS.

use std::sync::Arc;

use magnetar_proto::pulsar::api::command_ack::AckType;
use magnetar_proto::pulsar::api::command_subscribe::{
    InitialPosition as WireInitialPosition, SubType,
};
use magnetar_proto::pulsar::api::{
    CommandAck, CommandAckResponse, CommandCloseConsumer, CommandConsumerStats,
    CommandConsumerStatsResponse, CommandFlow, CommandGetLastMessageId,
    CommandGetLastMessageIdResponse, CommandRedeliverUnacknowledgedMessages, CommandSeek,
    CommandSubscribe, CommandUnsubscribe, KeySharedMeta, KeySharedMode, MessageIdData, ServerError,
};
use magnetar_proto::pulsar::commands;

use super::connection::{Connection, ConsumerSlot};
use super::ConnectionError;
use crate::consumer::{Consumer, ConsumerSpec, KeySharedSpec, SubscriptionType};
use crate::managed_ledger::{InitialPosition, Position};
use crate::replication::REPLICATED_PROPERTY;
use crate::security::TopicOperation;
use crate::topic::{is_internal_cursor, CursorStart, TopicError, TopicName};
use crate::wire::{message_id, position};

/// Longest subscription name accepted, in bytes.
pub const MAX_SUBSCRIPTION_NAME: usize = 1024;

/// The position a client's start or seek id names: `MessageId.earliest`
/// (ledger -1) is before the first entry, `MessageId.latest` (ledger
/// `i64::MAX`) after the last, anything else the entry itself (a batch
/// index is left to the client, which skips what it must).
fn start_position(id: &MessageIdData) -> Position {
    if id.ledger_id == u64::MAX {
        Position::before_ledger(0)
    } else if id.ledger_id >= i64::MAX as u64 {
        Position::new(u64::MAX, 0)
    } else {
        Position::new(id.ledger_id, (id.entry_id as i64).max(0))
    }
}

/// A Key_Shared consumer's settings from its `KeySharedMeta` (AUTO_SPLIT
/// when absent).
fn key_shared_spec(meta: Option<&KeySharedMeta>) -> KeySharedSpec {
    let Some(meta) = meta else {
        return KeySharedSpec::default();
    };
    let sticky = meta.key_shared_mode == KeySharedMode::Sticky as i32;
    KeySharedSpec {
        sticky_ranges: sticky.then(|| {
            meta.hash_ranges
                .iter()
                .map(|range| (range.start, range.end))
                .collect()
        }),
        allow_out_of_order: meta.allow_out_of_order_delivery.unwrap_or(false),
    }
}

impl Connection {
    pub(super) async fn handle_subscribe(&mut self, request: CommandSubscribe) {
        let request_id = request.request_id;
        match self.create_consumer(&request).await {
            Ok(()) => {
                self.out.send(commands::success(request_id));
                if let Some(slot) = self.consumers.get(&request.consumer_id) {
                    slot.consumer.ready();
                }
            }
            Err(error) => {
                tracing::info!(topic = %request.topic, subscription = %request.subscription, error = %error, "subscribe refused");
                self.out.send(commands::error(
                    request_id,
                    error.server_error(),
                    error.to_string(),
                ));
            }
        }
    }

    async fn create_consumer(&mut self, request: &CommandSubscribe) -> Result<(), TopicError> {
        let topic_name = TopicName::parse(&request.topic)?;
        self.authorize_namespace(topic_name.namespace(), TopicOperation::Consume)
            .await?;
        let mode = match SubType::try_from(request.sub_type) {
            Ok(SubType::Exclusive) => SubscriptionType::Exclusive,
            Ok(SubType::Shared) => SubscriptionType::Shared,
            Ok(SubType::Failover) => SubscriptionType::Failover,
            Ok(SubType::KeyShared) => SubscriptionType::KeyShared,
            Err(_) => return Err(TopicError::NotSupported("unknown subscription type")),
        };
        if request.subscription.is_empty() || request.subscription.len() > MAX_SUBSCRIPTION_NAME {
            return Err(TopicError::InvalidRequest(format!(
                "a subscription name has 1 to {MAX_SUBSCRIPTION_NAME} bytes, not {}",
                request.subscription.len()
            )));
        }
        if is_internal_cursor(&request.subscription) {
            return Err(TopicError::InvalidRequest(format!(
                "{} is the broker's own cursor; pick another subscription name",
                request.subscription
            )));
        }
        if let Some(slot) = self.consumers.get(&request.consumer_id) {
            if !slot.consumer.is_closed() {
                if slot.topic.name() == &topic_name
                    && slot.consumer.subscription() == request.subscription
                {
                    // A retried SUBSCRIBE for a consumer that already exists.
                    return Ok(());
                }
                return Err(TopicError::ConsumerBusy {
                    subscription: request.subscription.clone(),
                });
            }
        }
        if let Some(stale) = self.consumers.remove(&request.consumer_id) {
            stale
                .topic
                .detach_consumer(&stale.subscription, request.consumer_id, self.cid)
                .await;
        }
        if !self.context.ownership.owns(&topic_name).await? {
            return Err(TopicError::NotOwned(topic_name.to_string()));
        }
        let topic = self.context.topics.get_or_load(&topic_name).await?;
        if let Some(schema) = &request.schema {
            self.context
                .topics
                .catalog()
                .schemas()
                .check_for_consumer(&topic_name, &super::produce::definition(schema)?)
                .await?;
        }
        let initial = match request.initial_position {
            Some(p) if p == WireInitialPosition::Earliest as i32 => InitialPosition::Earliest,
            _ => InitialPosition::Latest,
        };
        let start = if request.durable == Some(false) {
            CursorStart::Reader(
                request
                    .start_message_id
                    .as_ref()
                    .map_or(Position::new(u64::MAX, 0), start_position),
            )
        } else {
            CursorStart::Durable(initial)
        };
        let read_compacted = request.read_compacted == Some(true);
        if read_compacted && !mode.is_single_active() {
            return Err(TopicError::InvalidRequest(format!(
                "read_compacted is only allowed on Exclusive and Failover subscriptions, not {}",
                mode.as_str()
            )));
        }
        // Where a compacted read restarts while nothing the topic holds
        // is acknowledged: a reader's start, or the beginning for a
        // subscription at Earliest.
        let compacted_start = match start {
            CursorStart::Reader(position) => Some(position),
            CursorStart::Durable(InitialPosition::Earliest) => Some(Position::before_ledger(0)),
            CursorStart::Durable(InitialPosition::Latest) => None,
        };
        let consumer_name = request.consumer_name.clone().unwrap_or_default();
        let consumer = Arc::new(Consumer::new(
            ConsumerSpec {
                id: request.consumer_id,
                name: consumer_name.clone(),
                subscription: request.subscription.clone(),
                priority_level: request.priority_level.unwrap_or(0),
                key_shared: (mode == SubscriptionType::KeyShared)
                    .then(|| key_shared_spec(request.key_shared_meta.as_ref())),
                max_unacked: topic
                    .limits()
                    .max_unacked_per_consumer
                    .unwrap_or(self.context.config.dispatch.max_unacked_per_consumer),
                end_of_topic_notice: self.end_of_topic_notices,
            },
            self.out.clone(),
            topic.traffic().clone(),
        ));
        let subscription = topic
            .subscribe(&request.subscription, mode, start, consumer.clone())
            .await?;
        let properties = request
            .subscription_properties
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.clone()))
            .collect();
        subscription.cursor().init_properties(properties);
        subscription.dispatcher().read_compacted(
            read_compacted.then(|| topic.compaction().view().clone()),
            compacted_start,
        );
        if request.replicate_subscription_state == Some(true) && subscription.is_durable() {
            // Its progress follows to the namespace's other clusters.
            subscription
                .cursor()
                .set_property(REPLICATED_PROPERTY, "true");
        }
        tracing::info!(
            topic = %topic_name,
            subscription = %request.subscription,
            consumer_id = request.consumer_id,
            consumer = %consumer_name,
            mode = mode.as_str(),
            "consumer subscribed"
        );
        self.consumers.insert(
            request.consumer_id,
            ConsumerSlot {
                consumer,
                subscription,
                topic,
            },
        );
        Ok(())
    }

    fn consumer_slot(
        &self,
        command: &'static str,
        consumer_id: u64,
    ) -> Result<&ConsumerSlot, ConnectionError> {
        self.consumers
            .get(&consumer_id)
            .ok_or(ConnectionError::UnknownConsumer {
                command,
                consumer_id,
            })
    }

    pub(super) fn handle_flow(&self, flow: CommandFlow) -> Result<(), ConnectionError> {
        let slot = self.consumer_slot("FLOW", flow.consumer_id)?;
        if !slot.consumer.is_closed() {
            slot.consumer.add_permits(flow.message_permits);
            slot.subscription.dispatcher().on_flow();
        }
        Ok(())
    }

    /// Individual and cumulative acks. An id with an `ack_set` acknowledges
    /// only the messages of its batch whose bits are clear (batch-index
    /// acks); the entry is acknowledged once none is left.
    pub(super) fn handle_ack(&self, ack: CommandAck) -> Result<(), ConnectionError> {
        let slot = self.consumer_slot("ACK", ack.consumer_id)?;
        if slot.consumer.is_closed() {
            return Ok(());
        }
        let dispatcher = slot.subscription.dispatcher();
        let (partial, whole): (Vec<&MessageIdData>, Vec<&MessageIdData>) =
            ack.message_id.iter().partition(|id| !id.ack_set.is_empty());
        let positions: Vec<Position> = whole.into_iter().map(position).collect();
        let partial: Vec<(Position, Vec<i64>)> = partial
            .into_iter()
            .map(|id| (position(id), id.ack_set.clone()))
            .collect();
        let mut refusal = None;
        if ack.ack_type == AckType::Cumulative as i32 {
            if !dispatcher.mode().allows_cumulative_ack() {
                refusal = Some(
                    "cumulative acknowledgement is not allowed on Shared and Key_Shared subscriptions",
                );
            } else if let Some(last) = positions.iter().max() {
                dispatcher.ack_cumulative(&slot.consumer, *last);
            } else if let Some((last, ack_set)) = partial.iter().max_by_key(|(p, _)| *p) {
                // Up to a message inside a batch: everything before the
                // batch, and the batch in part.
                let before = Position::new(last.ledger_id, last.entry_id - 1);
                dispatcher.ack_cumulative(&slot.consumer, before);
                dispatcher.ack_batch_indexes(&slot.consumer, &[(*last, ack_set.clone())]);
            }
        } else {
            dispatcher.ack_individual(&slot.consumer, &positions);
            dispatcher.ack_batch_indexes(&slot.consumer, &partial);
        }
        if let Some(reason) = refusal {
            tracing::warn!(consumer_id = ack.consumer_id, reason, "ack refused");
        }
        if let Some(request_id) = ack.request_id {
            self.out.send(CommandAckResponse {
                consumer_id: ack.consumer_id,
                request_id: Some(request_id),
                error: refusal.map(|_| ServerError::NotAllowedError as i32),
                message: refusal.map(str::to_string),
                ..Default::default()
            });
        }
        Ok(())
    }

    pub(super) fn handle_redeliver(
        &self,
        request: CommandRedeliverUnacknowledgedMessages,
    ) -> Result<(), ConnectionError> {
        let slot = self.consumer_slot("REDELIVER_UNACKNOWLEDGED_MESSAGES", request.consumer_id)?;
        if slot.consumer.is_closed() {
            return Ok(());
        }
        let positions: Vec<Position> = request.message_ids.iter().map(position).collect();
        let listed = (!positions.is_empty()).then_some(positions.as_slice());
        slot.subscription
            .dispatcher()
            .redeliver(&slot.consumer, listed);
        Ok(())
    }

    pub(super) async fn handle_unsubscribe(&mut self, request: CommandUnsubscribe) {
        let Some(slot) = self.consumers.get(&request.consumer_id) else {
            self.reply_consumer_not_found(request.request_id, request.consumer_id);
            return;
        };
        let subscription = slot.consumer.subscription().to_string();
        match slot
            .topic
            .unsubscribe(&subscription, (request.consumer_id, self.cid))
            .await
        {
            Ok(()) => {
                if let Some(slot) = self.consumers.remove(&request.consumer_id) {
                    slot.consumer.close();
                }
                self.out.send(commands::success(request.request_id));
            }
            Err(error) => {
                tracing::info!(subscription, error = %error, "unsubscribe refused");
                self.out.send(commands::error(
                    request.request_id,
                    error.server_error(),
                    error.to_string(),
                ));
            }
        }
    }

    pub(super) async fn handle_close_consumer(&mut self, request: CommandCloseConsumer) {
        let Some(slot) = self.consumers.remove(&request.consumer_id) else {
            // Closing is idempotent, as in Pulsar: a client that closes
            // twice (or after the broker closed it) gets a success.
            tracing::debug!(
                consumer_id = request.consumer_id,
                "close of a consumer not open here"
            );
            self.out.send(commands::success(request.request_id));
            return;
        };
        slot.consumer.close();
        slot.topic
            .detach_consumer(&slot.subscription, request.consumer_id, self.cid)
            .await;
        tracing::info!(consumer_id = request.consumer_id, "consumer closed");
        self.out.send(commands::success(request.request_id));
    }

    /// SEEK by message id or publish time: the subscription's consumers
    /// are closed from the broker side, the cursor is reset, and then the
    /// request succeeds; the consumers come back at the new position.
    pub(super) async fn handle_seek(&self, request: CommandSeek) {
        let Some(slot) = self.consumers.get(&request.consumer_id) else {
            self.reply_consumer_not_found(request.request_id, request.consumer_id);
            return;
        };
        let target = match (&request.message_id, request.message_publish_time) {
            (Some(id), _) => Ok(start_position(id)),
            (None, Some(publish_time)) => slot
                .topic
                .ledger()
                .find_by_publish_time(publish_time)
                .await
                .map_err(TopicError::from),
            (None, None) => Err(TopicError::InvalidRequest(
                "SEEK names neither a message id nor a publish time".to_string(),
            )),
        };
        let dispatcher = slot.subscription.dispatcher();
        let result = match target {
            Ok(position) => dispatcher
                .reset(position)
                .await
                .map(|()| position)
                .map_err(TopicError::from),
            Err(error) => Err(error),
        };
        match result {
            Ok(position) => {
                tracing::info!(subscription = %slot.subscription.name(), %position, "subscription reset by seek");
                self.out.send(commands::success(request.request_id));
            }
            Err(error) => {
                tracing::info!(subscription = %slot.subscription.name(), error = %error, "seek refused");
                self.out.send(commands::error(
                    request.request_id,
                    error.server_error(),
                    error.to_string(),
                ));
            }
        }
    }

    /// The topic's last entry and the subscription's mark-delete position;
    /// ledger and entry -1 when the topic holds no entry. A consumer that
    /// reads compacted, on a topic with nothing after the compaction
    /// horizon, gets the compacted view's last message instead (its last
    /// entry may have been compacted out).
    pub(super) fn handle_get_last_message_id(&self, request: CommandGetLastMessageId) {
        let Some(slot) = self.consumers.get(&request.consumer_id) else {
            self.reply_consumer_not_found(request.request_id, request.consumer_id);
            return;
        };
        let mark_delete = slot.subscription.cursor().mark_delete_position();
        let mut last_entry = slot.topic.ledger().last_confirmed();
        let compacted = slot
            .subscription
            .dispatcher()
            .compacted_view()
            .and_then(|view| view.current());
        if let Some(compacted) = compacted {
            let info = compacted.info();
            if last_entry.is_none_or(|last| last <= info.horizon) {
                last_entry = info.last;
            }
        }
        let last = match last_entry {
            Some(last) if last.entry_id >= 0 => message_id(last),
            _ => MessageIdData {
                ledger_id: u64::MAX,
                entry_id: u64::MAX,
                ..Default::default()
            },
        };
        self.out.send(CommandGetLastMessageIdResponse {
            last_message_id: last,
            request_id: request.request_id,
            consumer_mark_delete_position: Some(message_id(mark_delete)),
        });
    }

    pub(super) fn handle_consumer_stats(&self, request: CommandConsumerStats) {
        let Some(slot) = self.consumers.get(&request.consumer_id) else {
            self.reply_consumer_not_found(request.request_id, request.consumer_id);
            return;
        };
        let consumer = &slot.consumer;
        self.out.send(CommandConsumerStatsResponse {
            request_id: request.request_id,
            consumer_name: Some(consumer.name().to_string()),
            available_permits: Some(consumer.available_permits().max(0) as u64),
            unacked_messages: Some(consumer.unacked_messages()),
            blocked_consumer_on_unacked_msgs: Some(consumer.is_blocked()),
            r#type: Some(slot.subscription.dispatcher().mode().as_str().to_string()),
            msg_backlog: Some(slot.subscription.cursor().backlog()),
            ..Default::default()
        });
    }

    fn reply_consumer_not_found(&self, request_id: u64, consumer_id: u64) {
        self.out.send(commands::error(
            request_id,
            ServerError::ConsumerNotFound,
            format!("consumer {consumer_id} is not open on this connection"),
        ));
    }
}
