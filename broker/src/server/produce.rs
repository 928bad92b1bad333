//! Producing commands: PRODUCER, SEND and CLOSE_PRODUCER.

use std::sync::atomic::Ordering;

use magnetar_proto::pulsar::api::{
    CommandCloseProducer, CommandProducer, CommandProducerSuccess, CommandSend, ProducerAccessMode,
    ServerError,
};
use magnetar_proto::pulsar::{commands, PayloadFrame};

use super::connection::{Connection, ProducerSlot};
use super::ConnectionError;
use crate::producer::Producer;
use crate::topic::{TopicError, TopicName};
use crate::wire::send_error;

impl Connection {
    pub(super) async fn handle_producer(&mut self, request: CommandProducer) {
        let request_id = request.request_id;
        match self.create_producer(&request).await {
            Ok(name) => {
                self.out.send(CommandProducerSuccess {
                    request_id,
                    producer_name: name,
                    last_sequence_id: Some(-1),
                    schema_version: None,
                    topic_epoch: None,
                    producer_ready: Some(true),
                });
            }
            Err(error) => {
                if matches!(error, TopicError::NotWritable { .. }) {
                    // The managed ledger logs the condition itself, rate-limited.
                    tracing::debug!(topic = %request.topic, producer_id = request.producer_id, error = %error, "producer refused");
                } else {
                    tracing::info!(topic = %request.topic, producer_id = request.producer_id, error = %error, "producer refused");
                }
                self.out.send(commands::error(
                    request_id,
                    error.server_error(),
                    error.to_string(),
                ));
            }
        }
    }

    async fn create_producer(&mut self, request: &CommandProducer) -> Result<String, TopicError> {
        let topic_name = TopicName::parse(&request.topic)?;
        if let Some(slot) = self.producers.get(&request.producer_id) {
            if !slot.producer.is_closed() && slot.topic.name() == &topic_name {
                // A retried PRODUCER for a producer that already exists.
                return Ok(slot.producer.name().to_string());
            }
        }
        if request.producer_access_mode.unwrap_or(0) != ProducerAccessMode::Shared as i32 {
            return Err(TopicError::NotSupported("exclusive producer access modes"));
        }
        if !self.context.ownership.owns(&topic_name).await? {
            return Err(TopicError::NotOwned(topic_name.to_string()));
        }
        let topic = self.context.topics.get_or_load(&topic_name).await?;
        // A client whose sends failed reconnects and creates its producer
        // again, which restarts its send timeout: refusing it while nothing
        // can be written lets the timeout reach the application.
        let writability = topic.ledger().writability();
        if !writability.is_writable() {
            return Err(TopicError::NotWritable {
                topic: topic_name.to_string(),
                reason: writability.reason.unwrap_or_default(),
            });
        }
        let name = match request.producer_name.as_deref() {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => {
                let n = self
                    .context
                    .next_producer_name
                    .fetch_add(1, Ordering::Relaxed);
                format!("{}-{}", self.context.config.cluster_name, n)
            }
        };
        let producer = Producer::new(
            request.producer_id,
            name.clone(),
            topic_name.to_string(),
            self.out.clone(),
            topic.ledger().clone(),
            topic.traffic().clone(),
        );
        topic.add_producer(producer.clone())?;
        if let Some(old) = self
            .producers
            .insert(request.producer_id, ProducerSlot { producer, topic })
        {
            old.producer.close();
            old.topic.remove_producer(&old.producer);
        }
        tracing::info!(topic = %topic_name, producer_id = request.producer_id, producer = %name, "producer created");
        Ok(name)
    }

    /// Appends the message; its receipt follows once it is durable. A bad
    /// checksum is refused with `ChecksumError` and the connection stays up.
    pub(super) async fn handle_send(
        &mut self,
        send: CommandSend,
        frame: PayloadFrame,
    ) -> Result<(), ConnectionError> {
        let Some(slot) = self.producers.get(&send.producer_id) else {
            return Err(ConnectionError::UnknownProducer {
                command: "SEND",
                producer_id: send.producer_id,
            });
        };
        if slot.producer.is_closed() {
            // Closed by the broker: the client resends after reconnecting.
            tracing::debug!(
                producer_id = send.producer_id,
                sequence_id = send.sequence_id,
                "send on closed producer dropped"
            );
            return Ok(());
        }
        if let Err(error) = frame.verify_checksum() {
            tracing::warn!(producer_id = send.producer_id, sequence_id = send.sequence_id, error = %error, "refusing corrupt message");
            self.out.send(send_error(
                send.producer_id,
                send.sequence_id,
                ServerError::ChecksumError,
                error.to_string(),
            ));
            return Ok(());
        }
        let messages = frame.metadata()?.num_messages_in_batch.unwrap_or(1).max(1) as u64;
        let producer = slot.producer.clone();
        let permit = self
            .publish_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ConnectionError::WriterGone)?;
        producer.publish(
            messages,
            send.sequence_id,
            send.highest_sequence_id.unwrap_or(0),
            frame.body,
            permit,
        );
        Ok(())
    }

    pub(super) fn handle_close_producer(&mut self, request: CommandCloseProducer) {
        match self.producers.remove(&request.producer_id) {
            Some(slot) => {
                slot.producer.close();
                slot.topic.remove_producer(&slot.producer);
                tracing::info!(producer_id = request.producer_id, "producer closed");
                self.out.send(commands::success(request.request_id));
            }
            None => {
                self.out.send(commands::error(
                    request.request_id,
                    ServerError::UnknownError,
                    format!(
                        "producer {} is not open on this connection",
                        request.producer_id
                    ),
                ));
            }
        }
    }
}
