//! Consuming commands: SUBSCRIBE, FLOW, ACK, REDELIVER_UNACKNOWLEDGED_MESSAGES,
//! UNSUBSCRIBE, CLOSE_CONSUMER, SEEK, GET_LAST_MESSAGE_ID and CONSUMER_STATS.

use std::sync::Arc;

use magnetar_proto::pulsar::api::command_ack::AckType;
use magnetar_proto::pulsar::api::command_subscribe::{
    InitialPosition as WireInitialPosition, SubType,
};
use magnetar_proto::pulsar::api::{
    CommandAck, CommandAckResponse, CommandCloseConsumer, CommandConsumerStats,
    CommandConsumerStatsResponse, CommandFlow, CommandGetLastMessageId,
    CommandGetLastMessageIdResponse, CommandRedeliverUnacknowledgedMessages, CommandSeek,
    CommandSubscribe, CommandUnsubscribe, ServerError,
};
use magnetar_proto::pulsar::commands;

use super::connection::{Connection, ConsumerSlot};
use super::ConnectionError;
use crate::consumer::{Consumer, SubscriptionType};
use crate::managed_ledger::{InitialPosition, Position};
use crate::topic::{TopicError, TopicName};
use crate::wire::{message_id, position};

impl Connection {
    pub(super) async fn handle_subscribe(&mut self, request: CommandSubscribe) {
        let request_id = request.request_id;
        match self.create_consumer(&request).await {
            Ok(()) => {
                self.out.send(commands::success(request_id));
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
        let mode = match SubType::try_from(request.sub_type) {
            Ok(SubType::Exclusive) => SubscriptionType::Exclusive,
            Ok(SubType::Shared) => SubscriptionType::Shared,
            Ok(SubType::Failover) => {
                return Err(TopicError::NotSupported("Failover subscriptions"))
            }
            Ok(SubType::KeyShared) => {
                return Err(TopicError::NotSupported("Key_Shared subscriptions"))
            }
            Err(_) => return Err(TopicError::NotSupported("unknown subscription type")),
        };
        if request.durable == Some(false) {
            return Err(TopicError::NotSupported(
                "non-durable subscriptions (readers)",
            ));
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
                .subscription
                .dispatcher()
                .remove_consumer(request.consumer_id, self.cid);
        }
        if !self.context.ownership.owns(&topic_name).await? {
            return Err(TopicError::NotOwned(topic_name.to_string()));
        }
        let topic = self.context.topics.get_or_load(&topic_name).await?;
        let initial = match request.initial_position {
            Some(p) if p == WireInitialPosition::Earliest as i32 => InitialPosition::Earliest,
            _ => InitialPosition::Latest,
        };
        let consumer_name = request.consumer_name.clone().unwrap_or_default();
        let consumer = Arc::new(Consumer::new(
            request.consumer_id,
            consumer_name.clone(),
            request.subscription.clone(),
            self.out.clone(),
            topic.traffic().clone(),
        ));
        let subscription = topic
            .subscribe(&request.subscription, mode, initial, consumer.clone())
            .await?;
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

    /// Batch-index acks are not tracked: acking any message of a batch acks
    /// the whole entry (clients without batch-index ack only send one ack
    /// per batch once all of its messages are acknowledged).
    pub(super) fn handle_ack(&self, ack: CommandAck) -> Result<(), ConnectionError> {
        let slot = self.consumer_slot("ACK", ack.consumer_id)?;
        if slot.consumer.is_closed() {
            return Ok(());
        }
        let dispatcher = slot.subscription.dispatcher();
        let positions: Vec<Position> = ack.message_id.iter().map(position).collect();
        let mut refusal = None;
        if ack.ack_type == AckType::Cumulative as i32 {
            if dispatcher.mode() == SubscriptionType::Shared {
                refusal = Some("cumulative acknowledgement is not allowed on Shared subscriptions");
            } else if let Some(last) = positions.iter().max() {
                dispatcher.ack_cumulative(&slot.consumer, *last);
            }
        } else {
            dispatcher.ack_individual(&slot.consumer, &positions);
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

    pub(super) fn handle_close_consumer(&mut self, request: CommandCloseConsumer) {
        let Some(slot) = self.consumers.remove(&request.consumer_id) else {
            self.reply_consumer_not_found(request.request_id, request.consumer_id);
            return;
        };
        slot.consumer.close();
        slot.subscription
            .dispatcher()
            .remove_consumer(request.consumer_id, self.cid);
        tracing::info!(consumer_id = request.consumer_id, "consumer closed");
        self.out.send(commands::success(request.request_id));
    }

    pub(super) fn handle_seek(&self, request: CommandSeek) {
        self.out.send(commands::error(
            request.request_id,
            ServerError::NotAllowedError,
            "seek is not supported yet",
        ));
    }

    /// The topic's last entry; `entryId` -1 (as uint64) when it is empty.
    pub(super) fn handle_get_last_message_id(&self, request: CommandGetLastMessageId) {
        let Some(slot) = self.consumers.get(&request.consumer_id) else {
            self.reply_consumer_not_found(request.request_id, request.consumer_id);
            return;
        };
        let mark_delete = slot.subscription.cursor().mark_delete_position();
        let last = slot
            .topic
            .ledger()
            .last_confirmed()
            .unwrap_or(Position::before_ledger(mark_delete.ledger_id));
        self.out.send(CommandGetLastMessageIdResponse {
            last_message_id: message_id(last),
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
            blocked_consumer_on_unacked_msgs: Some(false),
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
