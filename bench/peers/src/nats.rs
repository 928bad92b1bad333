//! NATS JetStream: one stream with file storage and one subject; a publish
//! is confirmed by the stream's publish acknowledgement. The consumer is a
//! durable pull consumer that acknowledges cumulatively (`AckPolicy::All`)
//! every [`ACK_EVERY`] messages, as Magnetar's perf consumer batches its acks.

use std::time::Duration;

use anyhow::{Context as _, Result};
use async_nats::jetstream::consumer::{pull, AckPolicy};
use async_nats::jetstream::stream::{Config, StorageType};
use async_nats::jetstream::{self, Context};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};

use crate::target::{Consumer, Target};

const ACK_EVERY: u64 = 100;
/// Messages handed over per `receive`, at most.
const BATCH: usize = 1000;

pub struct Nats {
    jetstream: Context,
    stream: String,
    subject: String,
}

impl Nats {
    pub async fn connect(addr: &str, stream: &str) -> Result<Self> {
        let client = async_nats::connect(addr)
            .await
            .with_context(|| format!("connect to NATS at {addr}"))?;
        let jetstream = jetstream::new(client);
        let subject = format!("{stream}.messages");
        // A stream left by an interrupted run would hold old messages.
        let _ = jetstream.delete_stream(stream).await;
        jetstream
            .create_stream(Config {
                name: stream.to_owned(),
                subjects: vec![subject.clone()],
                storage: StorageType::File,
                ..Default::default()
            })
            .await
            .context("create the JetStream stream")?;
        Ok(Nats {
            jetstream,
            stream: stream.to_owned(),
            subject,
        })
    }
}

impl Target for Nats {
    fn send(&self, payload: Bytes) -> BoxFuture<'_, Result<()>> {
        async move {
            let ack = self
                .jetstream
                .publish(self.subject.clone(), payload)
                .await
                .context("publish")?;
            ack.await.context("publish acknowledgement")?;
            Ok(())
        }
        .boxed()
    }

    fn consumer(&self) -> BoxFuture<'_, Result<Box<dyn Consumer>>> {
        async move {
            let stream = self
                .jetstream
                .get_stream(&self.stream)
                .await
                .context("get stream")?;
            let consumer = stream
                .create_consumer(pull::Config {
                    durable_name: Some("peer-load".into()),
                    ack_policy: AckPolicy::All,
                    ..Default::default()
                })
                .await
                .context("create consumer")?;
            let messages = consumer.messages().await.context("start consuming")?;
            Ok(Box::new(NatsConsumer {
                messages,
                received: 0,
            }) as Box<dyn Consumer>)
        }
        .boxed()
    }

    fn remove(&self) -> BoxFuture<'_, Result<()>> {
        async move {
            self.jetstream
                .delete_stream(&self.stream)
                .await
                .context("delete stream")?;
            Ok(())
        }
        .boxed()
    }
}

struct NatsConsumer {
    messages: pull::Stream,
    received: u64,
}

impl NatsConsumer {
    async fn take(&mut self, message: jetstream::Message, batch: &mut Vec<Bytes>) -> Result<()> {
        self.received += 1;
        if self.received.is_multiple_of(ACK_EVERY) {
            message
                .ack()
                .await
                .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        }
        batch.push(message.payload.clone());
        Ok(())
    }
}

impl Consumer for NatsConsumer {
    fn receive(&mut self) -> BoxFuture<'_, Result<Vec<Bytes>>> {
        async move {
            let mut batch = Vec::new();
            let first = tokio::time::timeout(Duration::from_secs(1), self.messages.next()).await;
            let Ok(first) = first else { return Ok(batch) };
            let first = first.context("the consumer's stream ended")?;
            self.take(
                first.map_err(|e| anyhow::anyhow!("receive: {e}"))?,
                &mut batch,
            )
            .await?;
            while batch.len() < BATCH {
                match self.messages.next().now_or_never() {
                    Some(Some(message)) => {
                        let message = message.map_err(|e| anyhow::anyhow!("receive: {e}"))?;
                        self.take(message, &mut batch).await?;
                    }
                    _ => break,
                }
            }
            Ok(batch)
        }
        .boxed()
    }
}
