//! Redis streams: `XADD` to one stream key over a multiplexed connection
//! (concurrent commands are pipelined); a reply is the confirmation, and with
//! `appendfsync always` Redis fsyncs its append-only file before replying.
//! The consumer reads with `XREAD BLOCK` on a connection of its own; a plain
//! stream read has nothing to acknowledge.

use anyhow::{Context, Result};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use redis::aio::MultiplexedConnection;
use redis::streams::StreamReadReply;
use redis::Value;

use crate::target::{Consumer, Target};

/// Entries per `XREAD`, at most.
const BATCH: usize = 1000;
/// How long one `XREAD` blocks, in milliseconds.
const BLOCK_MS: usize = 1000;

pub struct RedisStreams {
    client: redis::Client,
    connection: MultiplexedConnection,
    key: String,
}

impl RedisStreams {
    pub async fn connect(addr: &str, key: &str) -> Result<Self> {
        let client = redis::Client::open(format!("redis://{addr}/")).context("Redis address")?;
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .with_context(|| format!("connect to Redis at {addr}"))?;
        redis::cmd("DEL")
            .arg(key)
            .query_async::<()>(&mut connection)
            .await
            .context("delete a stream left by an earlier run")?;
        Ok(RedisStreams {
            client,
            connection,
            key: key.to_owned(),
        })
    }
}

impl Target for RedisStreams {
    fn send(&self, payload: Bytes) -> BoxFuture<'_, Result<()>> {
        let mut connection = self.connection.clone();
        async move {
            redis::cmd("XADD")
                .arg(&self.key)
                .arg("*")
                .arg("d")
                .arg(payload.as_ref())
                .query_async::<String>(&mut connection)
                .await
                .context("XADD")?;
            Ok(())
        }
        .boxed()
    }

    fn consumer(&self) -> BoxFuture<'_, Result<Box<dyn Consumer>>> {
        async move {
            let connection = self
                .client
                .get_multiplexed_async_connection()
                .await
                .context("connect the consumer")?;
            Ok(Box::new(RedisConsumer {
                connection,
                key: self.key.clone(),
                last_id: "0".into(),
            }) as Box<dyn Consumer>)
        }
        .boxed()
    }

    fn remove(&self) -> BoxFuture<'_, Result<()>> {
        let mut connection = self.connection.clone();
        async move {
            redis::cmd("DEL")
                .arg(&self.key)
                .query_async::<()>(&mut connection)
                .await
                .context("DEL")?;
            Ok(())
        }
        .boxed()
    }
}

struct RedisConsumer {
    connection: MultiplexedConnection,
    key: String,
    last_id: String,
}

impl Consumer for RedisConsumer {
    fn receive(&mut self) -> BoxFuture<'_, Result<Vec<Bytes>>> {
        async move {
            let reply: Option<StreamReadReply> = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(BATCH)
                .arg("BLOCK")
                .arg(BLOCK_MS)
                .arg("STREAMS")
                .arg(&self.key)
                .arg(&self.last_id)
                .query_async(&mut self.connection)
                .await
                .context("XREAD")?;
            let mut batch = Vec::new();
            for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                match entry.map.get("d") {
                    Some(Value::BulkString(data)) => batch.push(Bytes::from(data.clone())),
                    other => anyhow::bail!("entry {} without a payload: {other:?}", entry.id),
                }
                self.last_id = entry.id;
            }
            Ok(batch)
        }
        .boxed()
    }
}
