//! `magnetar perf consume --consumer raw`: consumers that speak the Pulsar
//! binary protocol themselves, so that a dispatch benchmark measures the
//! broker rather than a client library.
//!
//! Each consumer has its own connection (looked up like the raw producer),
//! keeps up to [`PERMITS`] messages of flow-control permits outstanding
//! (topping them up once half are used, as the clients do) and acknowledges
//! every entry individually, [`ACK_BATCH`] ids per ACK command. End-to-end
//! latency is taken per entry: for a single message, from the send time
//! stamped in its first 8 bytes (microseconds since the Unix epoch, as
//! `perf produce` writes); for a batch, from its `publish_time`
//! (milliseconds).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use magnetar_proto::pulsar::api::command_subscribe::{InitialPosition, SubType};
use magnetar_proto::pulsar::api::MessageMetadata;
use magnetar_proto::pulsar::api::{
    command_ack, BaseCommand, CommandAck, CommandFlow, CommandPong, CommandSubscribe, MessageIdData,
};
use magnetar_proto::pulsar::{split_body, Frame, PayloadFrame};
use parking_lot::Mutex;
use prost::Message as _;
use tokio_util::sync::CancellationToken;

use super::perf_raw_conn::{connect_to_owner, request, Connection, RawClient};
use super::perf_report::{every_second, new_histogram, now_micros, print_summary};
use crate::args::{PerfConsumeArgs, PerfSubscriptionType};

/// Permits a consumer keeps outstanding (the clients' receiver queue).
const PERMITS: u32 = 1000;
/// Ids per ACK command.
const ACK_BATCH: usize = 100;
const CONSUMER_ID: u64 = 1;

/// What every consumer of a run adds to.
struct Shared {
    count: AtomicU64,
    bytes: AtomicU64,
    latency: Mutex<Histogram<u64>>,
    limit: u64,
    done: CancellationToken,
    /// When the run reached its message limit.
    finished: Mutex<Option<Instant>>,
}

pub async fn consume(args: PerfConsumeArgs) -> Result<()> {
    let sub_type = match args.subscription_type {
        PerfSubscriptionType::Exclusive => SubType::Exclusive,
        PerfSubscriptionType::Shared => SubType::Shared,
        PerfSubscriptionType::Failover => SubType::Failover,
        PerfSubscriptionType::KeyShared => SubType::KeyShared,
    };
    let mut connections = Vec::new();
    for index in 0..args.consumers.max(1) {
        connections.push(subscribe(&args, sub_type, index).await?);
    }
    let shared = Arc::new(Shared {
        count: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        latency: Mutex::new(new_histogram()?),
        limit: args.messages,
        done: CancellationToken::new(),
        finished: Mutex::new(None),
    });
    let start = Instant::now();
    let end = start + Duration::from_secs(args.duration);
    let mut tasks = tokio::task::JoinSet::new();
    for connection in connections {
        tasks.spawn(receive(connection, end, shared.clone()));
    }
    let mut ticker = every_second(start);
    let mut last = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let count = shared.count.load(Ordering::Relaxed);
                println!("consume: {} msg/s", count - last);
                last = count;
            }
            done = tasks.join_next() => match done {
                None => break,
                Some(result) => result.context("consumer task")??,
            },
        }
    }
    let elapsed = shared.finished.lock().unwrap_or_else(Instant::now) - start;
    let latency = shared.latency.lock();
    print_summary(
        "consume",
        shared.count.load(Ordering::Relaxed),
        shared.bytes.load(Ordering::Relaxed),
        elapsed,
        &latency,
    );
    Ok(())
}

async fn subscribe(args: &PerfConsumeArgs, sub_type: SubType, index: u32) -> Result<Connection> {
    let topic = &args.client.topic;
    let client = RawClient::from_args(&args.client.auth)?;
    let mut connection = connect_to_owner(&args.client.url, topic, &client).await?;
    let initial = if args.earliest {
        InitialPosition::Earliest
    } else {
        InitialPosition::Latest
    };
    let subscribe = CommandSubscribe {
        topic: topic.clone(),
        subscription: args.subscription.clone(),
        sub_type: sub_type as i32,
        consumer_id: CONSUMER_ID,
        request_id: 3,
        consumer_name: Some(format!("perf-{index}")),
        initial_position: Some(initial as i32),
        ..Default::default()
    };
    let mut reply = request(&mut connection, subscribe.into()).await?;
    while reply.active_consumer_change.is_some() {
        reply = request_next(&mut connection).await?;
    }
    if reply.success.is_none() {
        bail!("could not subscribe to {topic}: {reply:?}");
    }
    send(&mut connection, flow(PERMITS)).await?;
    Ok(connection)
}

/// The next command frame (after a request's first answer).
async fn request_next(connection: &mut Connection) -> Result<BaseCommand> {
    let frame = tokio::time::timeout(Duration::from_secs(30), connection.next())
        .await
        .context("broker did not answer within 30 s")?
        .context("broker closed the connection")?
        .context("read from broker")?;
    Ok(frame.into_command())
}

fn flow(permits: u32) -> BaseCommand {
    CommandFlow {
        consumer_id: CONSUMER_ID,
        message_permits: permits,
    }
    .into()
}

async fn send(connection: &mut Connection, command: BaseCommand) -> Result<()> {
    connection
        .send(Frame::Command(command))
        .await
        .context("send to broker")
}

/// Microseconds from a message's send time to now (see the module doc).
fn waited_micros(metadata: &MessageMetadata, payload: &[u8]) -> u64 {
    let now = now_micros();
    match payload.get(..8) {
        Some(stamp) if metadata.num_messages_in_batch.is_none() => {
            let mut sent = [0u8; 8];
            sent.copy_from_slice(stamp);
            now.saturating_sub(u64::from_be_bytes(sent))
        }
        _ => (now / 1000).saturating_sub(metadata.publish_time) * 1000,
    }
}

/// One consumer's loop: receive, count, acknowledge and top permits up
/// until `end` or until the run has its messages.
async fn receive(mut connection: Connection, end: Instant, shared: Arc<Shared>) -> Result<()> {
    let mut acks: Vec<MessageIdData> = Vec::with_capacity(ACK_BATCH);
    let mut used_permits = 0u32;
    loop {
        let frame = tokio::select! {
            _ = shared.done.cancelled() => return Ok(()),
            _ = tokio::time::sleep_until(end.into()) => return Ok(()),
            frame = connection.next() => frame,
        };
        let Some(frame) = frame else {
            bail!("broker closed the connection");
        };
        match frame.context("read from broker")? {
            Frame::Payload(PayloadFrame { command, body, .. }) => {
                let Some(message) = command.message else {
                    continue;
                };
                let (metadata, payload) = split_body(&body).context("message body")?;
                let metadata = MessageMetadata::decode(metadata).context("message metadata")?;
                let messages = metadata.num_messages_in_batch.unwrap_or(1).max(1) as u32;
                shared
                    .latency
                    .lock()
                    .saturating_record(waited_micros(&metadata, &payload).max(1));
                shared.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                let total = shared
                    .count
                    .fetch_add(u64::from(messages), Ordering::Relaxed)
                    + u64::from(messages);
                acks.push(message.message_id);
                used_permits += messages;
                if acks.len() >= ACK_BATCH {
                    send(&mut connection, ack(std::mem::take(&mut acks))).await?;
                }
                if used_permits >= PERMITS / 2 {
                    send(&mut connection, flow(used_permits)).await?;
                    used_permits = 0;
                }
                if shared.limit > 0 && total >= shared.limit {
                    shared.finished.lock().get_or_insert_with(Instant::now);
                    shared.done.cancel();
                }
            }
            Frame::Command(command) => {
                if command.ping.is_some() {
                    send(&mut connection, CommandPong {}.into()).await?;
                } else if command.close_consumer.is_some() {
                    bail!("the broker closed the consumer");
                }
                if !acks.is_empty() {
                    send(&mut connection, ack(std::mem::take(&mut acks))).await?;
                }
            }
        }
    }
}

fn ack(ids: Vec<MessageIdData>) -> BaseCommand {
    CommandAck {
        consumer_id: CONSUMER_ID,
        ack_type: command_ack::AckType::Individual as i32,
        message_id: ids,
        ..Default::default()
    }
    .into()
}
