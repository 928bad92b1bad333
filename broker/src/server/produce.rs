//! Producing commands: PRODUCER (with access modes: a WaitForExclusive
//! producer is answered twice, not ready and then ready), SEND and
//! CLOSE_PRODUCER.

use std::sync::atomic::Ordering;

use magnetar_proto::pulsar::api::{
    CommandCloseProducer, CommandProducer, CommandProducerSuccess, CommandSend, Schema, ServerError,
};
use magnetar_proto::pulsar::{commands, split_body, PayloadFrame};
use tokio::sync::OwnedSemaphorePermit;

use super::connection::{Connection, ProducerSlot};
use super::ConnectionError;
use crate::producer::Producer;
use crate::replication::{apply_frontier, is_replicator_name, FrontierUpdate, FRONTIER_MARKER};
use crate::schema::{version_bytes, SchemaDefinition, SchemaKind};
use crate::security::TopicOperation;
use crate::topic::{
    is_internal_cursor, AccessMode, PersistentTopic, ProducerAdmission, TopicError, TopicName,
};
use crate::wire::send_error;

impl Connection {
    pub(super) async fn handle_producer(&mut self, request: CommandProducer) {
        let request_id = request.request_id;
        match self.create_producer(&request).await {
            Ok(created) => match created.admission {
                ProducerAdmission::Ready { topic_epoch } => {
                    self.out
                        .send(producer_success(request_id, &created, topic_epoch, true));
                }
                ProducerAdmission::Waiting(_) => self.wait_for_exclusive(request, created),
            },
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

    /// A WaitForExclusive producer behind another: answered now as not
    /// ready; the second answer comes when it holds the topic (or never
    /// will).
    fn wait_for_exclusive(&mut self, request: CommandProducer, mut created: Created) {
        let request_id = request.request_id;
        let ProducerAdmission::Waiting(attached) = std::mem::replace(
            &mut created.admission,
            ProducerAdmission::Ready { topic_epoch: None },
        ) else {
            return;
        };
        let producer = self
            .producers
            .get(&request.producer_id)
            .map(|slot| slot.producer.clone());
        if let Some(producer) = &producer {
            producer.set_ready(false);
        }
        self.out
            .send(producer_success(request_id, &created, None, false));
        let out = self.out.clone();
        tokio::spawn(async move {
            let error = match attached.await {
                Ok(Ok(epoch)) => {
                    if let Some(producer) = &producer {
                        producer.set_ready(true);
                    }
                    out.send(producer_success(request_id, &created, Some(epoch), true));
                    return;
                }
                Ok(Err(error)) => error,
                Err(_) => TopicError::Closing(request.topic.clone()),
            };
            tracing::info!(topic = %request.topic, producer_id = request.producer_id, error = %error, "waiting producer refused");
            if let Some(producer) = producer {
                producer.close();
            }
            out.send(commands::error(
                request_id,
                error.server_error(),
                error.to_string(),
            ));
        });
    }

    async fn create_producer(&mut self, request: &CommandProducer) -> Result<Created, TopicError> {
        let topic_name = TopicName::parse(&request.topic)?;
        self.authorize_namespace(topic_name.namespace(), TopicOperation::Produce)
            .await?;
        let mode = AccessMode::from_wire(request.producer_access_mode)?;
        if let Some(slot) = self.producers.get(&request.producer_id) {
            if !slot.producer.is_closed() && slot.topic.name() == &topic_name {
                // A retried PRODUCER for a producer that already exists.
                return Ok(Created {
                    name: slot.producer.name().to_string(),
                    last_sequence_id: slot.producer.last_sequence_id(),
                    schema_version: None,
                    admission: ProducerAdmission::Ready {
                        topic_epoch: request.topic_epoch,
                    },
                });
            }
        }
        if !self.context.ownership.owns(&topic_name).await? {
            return Err(TopicError::NotOwned(topic_name.to_string()));
        }
        let topic = self.context.topics.get_or_load(&topic_name).await?;
        if topic.ledger().is_terminated() {
            return Err(TopicError::Terminated(topic_name.to_string()));
        }
        let schema_version = match &request.schema {
            Some(schema) => Some(
                self.context
                    .topics
                    .catalog()
                    .schemas()
                    .get_or_create(&topic_name, &definition(schema)?)
                    .await?,
            ),
            None => None,
        };
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
                format!(
                    "{}-{}-{}",
                    self.context.config.cluster_name, self.context.instance_id, n
                )
            }
        };
        let enabled = self
            .context
            .topics
            .catalog()
            .deduplication(&topic_name)
            .await?;
        let snapshot_interval = self
            .context
            .config
            .topic_defaults
            .deduplication_snapshot_interval;
        let dedup = topic.deduplication(enabled, snapshot_interval).await?;
        let producer = Producer::new(
            request.producer_id,
            name.clone(),
            topic_name.to_string(),
            self.out.clone(),
            topic.ledger().clone(),
            topic.traffic().clone(),
            dedup,
        );
        if is_replicator_name(&name) {
            producer.set_replicator();
        }
        let admission = topic
            .add_producer(producer.clone(), mode, request.topic_epoch)
            .await?;
        if let Some(old) = self
            .producers
            .insert(request.producer_id, ProducerSlot { producer, topic })
        {
            old.producer.close();
            old.topic.remove_producer(&old.producer);
        }
        let last_sequence_id = slot_producer_last(&self.producers, request.producer_id);
        tracing::info!(topic = %topic_name, producer_id = request.producer_id, producer = %name, ?mode, last_sequence_id, "producer created");
        Ok(Created {
            name,
            last_sequence_id,
            schema_version,
            admission,
        })
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
        // A producer closed because its topic was terminated still gets an
        // answer, in turn behind its earlier receipts: `TopicTerminatedError`.
        let ledger = slot.topic.ledger().clone();
        if slot.producer.is_closed() && !ledger.is_terminated() {
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
        if !slot.producer.is_ready() {
            self.out.send(send_error(
                send.producer_id,
                send.sequence_id,
                ServerError::NotAllowedError,
                "the producer is waiting for exclusive access to the topic",
            ));
            return Ok(());
        }
        let metadata = frame.metadata()?;
        if metadata.marker_type == Some(FRONTIER_MARKER) && slot.producer.is_replicator() {
            let (producer, topic) = (slot.producer.clone(), slot.topic.clone());
            let permit = self.publish_permit().await?;
            self.apply_frontier(&topic, &frame.body).await;
            producer.answer_unstored(send.sequence_id, permit);
            return Ok(());
        }
        let messages = metadata.num_messages_in_batch.unwrap_or(1).max(1) as u64;
        let chunk_before_last = match (metadata.chunk_id, metadata.num_chunks_from_msg) {
            (Some(chunk), Some(chunks)) => chunk.saturating_add(1) < chunks,
            _ => false,
        };
        let producer = slot.producer.clone();
        let permit = self.publish_permit().await?;
        if producer.is_closed() && !ledger.is_terminated() {
            // Fenced while waiting for the permit.
            return Ok(());
        }
        producer.publish(
            messages,
            send.sequence_id,
            send.highest_sequence_id.unwrap_or(0),
            frame.body,
            chunk_before_last,
            permit,
        );
        Ok(())
    }

    /// One of the connection's pending-publish permits; waiting for it
    /// stops reading the socket.
    async fn publish_permit(&self) -> Result<OwnedSemaphorePermit, ConnectionError> {
        self.publish_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ConnectionError::WriterGone)
    }

    /// Moves this cluster's copy of a replicated subscription as another
    /// cluster's frontier says (see `replication/subscriptions.rs`).
    async fn apply_frontier(&self, topic: &PersistentTopic, body: &bytes::Bytes) {
        let update = split_body(body)
            .ok()
            .and_then(|(_, payload)| serde_json::from_slice::<FrontierUpdate>(&payload).ok())
            .filter(|u| !u.subscription.is_empty() && !is_internal_cursor(&u.subscription));
        let Some(update) = update else {
            tracing::warn!(topic = %topic.name(), "unreadable subscription frontier from a replicator");
            return;
        };
        let local = &self.context.config.cluster_name;
        match apply_frontier(topic.ledger(), &update, local).await {
            Ok(acked) => {
                tracing::debug!(topic = %topic.name(), subscription = %update.subscription, acked, "replicated subscription moved");
            }
            Err(error) => {
                tracing::warn!(topic = %topic.name(), subscription = %update.subscription, %error, "replicated subscription could not move");
            }
        }
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
                // Closing is idempotent, as in Pulsar: a client that closes
                // twice (or after the broker closed it) gets a success.
                tracing::debug!(
                    producer_id = request.producer_id,
                    "close of a producer not open here"
                );
                self.out.send(commands::success(request.request_id));
            }
        }
    }
}

/// A producer the broker admitted.
struct Created {
    name: String,
    /// The highest sequence id stored from this producer name (`-1`: none
    /// known, or deduplication off).
    last_sequence_id: i64,
    /// The version of the producer's schema, when it has one.
    schema_version: Option<u64>,
    admission: ProducerAdmission,
}

/// A client's schema as the registry takes it.
pub(super) fn definition(schema: &Schema) -> Result<SchemaDefinition, TopicError> {
    let kind = SchemaKind::from_wire(schema.r#type).ok_or_else(|| {
        TopicError::InvalidRequest(format!("unknown schema type {}", schema.r#type))
    })?;
    Ok(SchemaDefinition {
        kind,
        data: schema.schema_data.to_vec(),
        properties: schema
            .properties
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect(),
    })
}

fn slot_producer_last(
    producers: &std::collections::HashMap<u64, ProducerSlot>,
    producer_id: u64,
) -> i64 {
    producers
        .get(&producer_id)
        .map_or(-1, |slot| slot.producer.last_sequence_id())
}

fn producer_success(
    request_id: u64,
    created: &Created,
    topic_epoch: Option<u64>,
    ready: bool,
) -> CommandProducerSuccess {
    CommandProducerSuccess {
        request_id,
        producer_name: created.name.clone(),
        last_sequence_id: Some(created.last_sequence_id),
        schema_version: created.schema_version.map(version_bytes),
        topic_epoch,
        producer_ready: Some(ready),
    }
}
