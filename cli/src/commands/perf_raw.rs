//! `magnetar perf produce --client raw`: a lean load generator that speaks
//! the Pulsar binary protocol itself.
//!
//! It connects, looks the topic up, creates a producer and pipelines `SEND`
//! frames, building batches in the Pulsar batch format (each message
//! prefixed by its `SingleMessageMetadata`) the way the Java client does:
//! a batch closes at `batch_max_messages`, at 128 KiB, or when its flush
//! deadline passes. As in the Java client, that deadline is 1 ms after the
//! previous batch was sent, or 1 ms after the first message if the producer
//! was idle longer than that, so under steady load batches leave once a
//! millisecond and a message waits 0–1 ms for its batch. Deadlines and the
//! pace are kept by [`PreciseTimer`], not tokio's 1 ms-tick timer.
//!
//! It exists so that the benchmark measures the broker rather than a client
//! library: the Rust client's batching path tops out at a few thousand
//! messages per second on this machine.
//!
//! Latency is measured per message, from the moment it joins a batch (or is
//! sent, unbatched) until the receipt of its batch arrives; with `--rate`,
//! from the moment it was due, so that a late sender or a full window of
//! messages in flight counts in the latency (no coordinated omission).
//!
//! Like the official clients, it survives the broker closing its producer
//! (`CLOSE_PRODUCER`, sent when the topic's bundle is split, unloaded or
//! moved) or the connection: it looks the topic up again, creates the
//! producer anew and resends every send still without a receipt, in order,
//! with the same sequence ids. The wait counts in those messages' latency.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::{BufMut, BytesMut};
use futures::{SinkExt, StreamExt};
use magnetar_proto::pulsar::api::{
    CommandPong, CommandProducer, CommandSend, MessageMetadata, SingleMessageMetadata,
};
use magnetar_proto::pulsar::{encode_body, Frame, PayloadFrame};
use prost::Message as _;

use super::perf_raw_conn::{connect_to_owner, request, Connection, RawClient};
use super::perf_report::{now_micros, LatencyReport};
use super::perf_timer::PreciseTimer;
use crate::args::PerfProduceArgs;

/// A batch closes once it holds this many payload bytes (the Java client's default).
const BATCH_MAX_BYTES: usize = 128 * 1024;
/// The longest a message waits for its batch to be sent (the Java client's
/// default `batchingMaxPublishDelay`).
const BATCH_MAX_DELAY: Duration = Duration::from_millis(1);
const PRODUCER_ID: u64 = 1;

/// How long the producer keeps trying to get its topic back after the
/// broker closed it, as a client does within its operation timeout.
const RECONNECT_FOR: Duration = Duration::from_secs(30);

/// A `SEND` waiting for its receipt.
struct InFlight {
    sequence_id: u64,
    /// The frame as sent, to send again on a new connection.
    frame: Frame,
    /// When each of its messages was created.
    created: Vec<Instant>,
}

/// The batch being filled.
#[derive(Default)]
struct OpenBatch {
    body: BytesMut,
    created: Vec<Instant>,
    /// When the batch is sent even if it is not full.
    flush_at: Option<Instant>,
}

pub async fn produce(args: PerfProduceArgs) -> Result<()> {
    let client = RawClient::from_args(&args.client.auth)?;
    let mut connection = connect_producer(&args.client.url, &args.client.topic, &client).await?;
    let size = args.size.max(8);
    let batch_limit = if args.batching {
        usize::try_from(args.batch_max_messages)
            .unwrap_or(usize::MAX)
            .max(1)
    } else {
        1
    };
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut pending_messages = 0usize;
    let mut batch = OpenBatch::default();
    let mut next_sequence_id = 0u64;
    let mut batches_sent = 0u64;
    let (mut created, mut bytes) = (0u64, 0u64);
    let start = Instant::now();
    let mut report = LatencyReport::new("produce", "msg", start)?;
    let end = start + Duration::from_secs(args.duration);
    let interval = (args.rate > 0).then(|| Duration::from_secs_f64(1.0 / args.rate as f64));
    let timer = PreciseTimer::start().context("start the batch timer")?;
    let mut last_batch_sent: Option<Instant> = None;

    loop {
        let now = Instant::now();
        let producing = now < end;
        // Add every message that is due and fits under the pending limit.
        while producing && pending_messages + batch.created.len() < args.max_pending {
            // A paced message counts from when it was due, so a late
            // loop or a full window shows in its latency.
            let due = match interval {
                Some(interval) => start + interval.mul_f64(created as f64),
                None => now,
            };
            if due > now {
                break;
            }
            if batch.created.is_empty() {
                batch.flush_at = Some(flush_deadline(last_batch_sent, now));
            }
            add_message(&mut batch, size, args.batching, due);
            created += 1;
            bytes += size as u64;
            if batch.created.len() >= batch_limit || batch.body.len() >= BATCH_MAX_BYTES {
                break;
            }
        }
        let batch_due = batch
            .flush_at
            .is_some_and(|flush_at| Instant::now() >= flush_at);
        let batch_full = batch.created.len() >= batch_limit
            || batch.body.len() >= BATCH_MAX_BYTES
            || pending_messages + batch.created.len() >= args.max_pending
            || (!producing && !batch.created.is_empty());
        if !batch.created.is_empty() && (batch_due || batch_full) {
            let key =
                (args.keys > 0).then(|| format!("key-{}", batches_sent % u64::from(args.keys)));
            batches_sent += 1;
            let sent = send_batch(
                &mut connection,
                &mut batch,
                next_sequence_id,
                args.batching,
                key,
            )
            .await?;
            next_sequence_id += sent.created.len() as u64;
            pending_messages += sent.created.len();
            in_flight.push_back(sent);
            last_batch_sent = Some(Instant::now());
        }
        if !producing && batch.created.is_empty() && in_flight.is_empty() {
            break;
        }

        // Wait for a receipt, the next due message, or the batch deadline.
        let mut wake = if producing {
            end
        } else {
            now + Duration::from_secs(30)
        };
        if let Some(flush_at) = batch.flush_at {
            wake = wake.min(flush_at);
        }
        if let Some(interval) = interval {
            if producing && pending_messages + batch.created.len() < args.max_pending {
                wake = wake.min(start + interval.mul_f64(created as f64));
            }
        } else if producing && pending_messages + batch.created.len() < args.max_pending {
            wake = now;
        }
        // `None`: nothing yet; `Some(None)`: the broker closed the connection.
        let frame = if wake <= now {
            futures::FutureExt::now_or_never(connection.next())
        } else {
            tokio::select! {
                frame = connection.next() => Some(frame),
                _ = timer.sleep_until(wake) => None,
            }
        };
        let reply = match frame {
            Some(Some(frame)) => {
                let frame = frame.context("read from broker")?;
                Some(handle_reply(&mut connection, frame, &mut in_flight).await?)
            }
            Some(None) => Some(Reply::Closed("the broker closed the connection".into())),
            None => None,
        };
        if let Some(reply) = reply {
            match reply {
                Reply::Confirmed(confirmed) => {
                    for message_created in confirmed {
                        report.record(message_created.elapsed());
                        pending_messages -= 1;
                    }
                }
                Reply::Closed(reason) => {
                    tracing::info!(%reason, in_flight = in_flight.len(), "producer closed; reconnecting");
                    connection =
                        reconnect(&args.client.url, &args.client.topic, &client, &in_flight)
                            .await?;
                }
                Reply::Other => {}
            }
        } else if !producing && Instant::now() >= end + Duration::from_secs(30) {
            bail!(
                "{} sends still without a receipt 30 s after the end",
                in_flight.len()
            );
        }
        report.report_if_due();
    }
    report.summarize(bytes, start.elapsed());
    Ok(())
}

/// When a batch opened at `now` must be sent: one batch delay after the
/// previous send, but never earlier than now.
fn flush_deadline(last_batch_sent: Option<Instant>, now: Instant) -> Instant {
    match last_batch_sent {
        Some(sent) if sent + BATCH_MAX_DELAY > now => sent + BATCH_MAX_DELAY,
        _ => now + BATCH_MAX_DELAY,
    }
}

/// Appends one message due at `due` to the batch; its first 8 bytes are
/// that time in µs since the Unix epoch.
fn add_message(batch: &mut OpenBatch, size: usize, batching: bool, due: Instant) {
    let mut payload = vec![0u8; size];
    let late = u64::try_from(due.elapsed().as_micros()).unwrap_or(u64::MAX);
    payload[..8].copy_from_slice(&now_micros().saturating_sub(late).to_be_bytes());
    if batching {
        let single = SingleMessageMetadata {
            payload_size: i32::try_from(size).unwrap_or(i32::MAX),
            ..Default::default()
        };
        batch.body.put_u32(single.encoded_len() as u32);
        single.encode(&mut batch.body).ok();
    }
    batch.body.put_slice(&payload);
    batch.created.push(due);
}

/// Sends the open batch as one `SEND`. With `batched`, the body is in the
/// batch format (per-message metadata), even for a single message.
async fn send_batch(
    connection: &mut Connection,
    batch: &mut OpenBatch,
    sequence_id: u64,
    batched: bool,
    key: Option<String>,
) -> Result<InFlight> {
    let OpenBatch { body, created, .. } = std::mem::take(batch);
    let messages = created.len();
    let count = i32::try_from(messages).unwrap_or(i32::MAX);
    let metadata = MessageMetadata {
        producer_name: "magnetar-perf".into(),
        sequence_id,
        publish_time: now_micros() / 1000,
        num_messages_in_batch: batched.then_some(count),
        uncompressed_size: Some(u32::try_from(body.len()).unwrap_or(u32::MAX)),
        partition_key: key,
        ..Default::default()
    };
    let send = CommandSend {
        producer_id: PRODUCER_ID,
        sequence_id,
        num_messages: Some(count),
        highest_sequence_id: Some(sequence_id + messages as u64 - 1),
        ..Default::default()
    };
    let frame = Frame::Payload(PayloadFrame::new(
        send.into(),
        encode_body(&metadata, &body),
    ));
    connection
        .send(frame.clone())
        .await
        .context("send to broker")?;
    Ok(InFlight {
        sequence_id,
        frame,
        created,
    })
}

/// What one broker frame meant for the producer.
enum Reply {
    /// A receipt: the creation times of the messages it confirmed.
    Confirmed(Vec<Instant>),
    /// The producer or its connection is gone, for the reason given.
    Closed(String),
    /// Nothing for the producer (a ping answered, say).
    Other,
}

/// Handles one broker frame.
async fn handle_reply(
    connection: &mut Connection,
    frame: Frame,
    in_flight: &mut VecDeque<InFlight>,
) -> Result<Reply> {
    let command = frame.into_command();
    if command.ping.is_some() {
        connection
            .send(Frame::Command(CommandPong::default().into()))
            .await
            .context("answer ping")?;
        return Ok(Reply::Other);
    }
    if let Some(close) = command.close_producer {
        if close.producer_id == PRODUCER_ID {
            return Ok(Reply::Closed("CLOSE_PRODUCER".into()));
        }
    }
    if let Some(error) = command.send_error {
        bail!(
            "send {} failed: {:?} {}",
            error.sequence_id,
            error.error,
            error.message
        );
    }
    let Some(receipt) = command.send_receipt else {
        return Ok(Reply::Other);
    };
    match in_flight.pop_front() {
        Some(sent) if sent.sequence_id == receipt.sequence_id => Ok(Reply::Confirmed(sent.created)),
        Some(sent) => bail!(
            "receipt for sequence id {} while {} was the oldest in flight",
            receipt.sequence_id,
            sent.sequence_id
        ),
        None => bail!(
            "receipt for sequence id {} with nothing in flight",
            receipt.sequence_id
        ),
    }
}

/// Gets the producer back after the broker closed it: looks the topic up
/// and creates the producer again until [`RECONNECT_FOR`] has passed, then
/// resends what is in flight, oldest first.
async fn reconnect(
    url: &str,
    topic: &str,
    client: &RawClient,
    in_flight: &VecDeque<InFlight>,
) -> Result<Connection> {
    let deadline = Instant::now() + RECONNECT_FOR;
    let mut connection = loop {
        match connect_producer(url, topic, client).await {
            Ok(connection) => break connection,
            Err(error) if Instant::now() < deadline => {
                tracing::debug!(%topic, error = %format!("{error:#}"), "producer not back yet");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => {
                return Err(error.context(format!(
                    "producer of {topic} not back {} s after the broker closed it",
                    RECONNECT_FOR.as_secs()
                )))
            }
        }
    };
    for sent in in_flight {
        connection
            .send(sent.frame.clone())
            .await
            .context("resend to broker")?;
    }
    Ok(connection)
}

/// CONNECT, LOOKUP (following redirects) and PRODUCER.
async fn connect_producer(url: &str, topic: &str, client: &RawClient) -> Result<Connection> {
    let mut connection = connect_to_owner(url, topic, client).await?;
    let reply = request(
        &mut connection,
        CommandProducer {
            topic: topic.to_string(),
            producer_id: PRODUCER_ID,
            request_id: 2,
            ..Default::default()
        }
        .into(),
    )
    .await?;
    if reply.producer_success.is_none() {
        bail!("could not create a producer on {topic}: {reply:?}");
    }
    Ok(connection)
}
