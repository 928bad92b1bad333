//! `magnetar perf produce|consume`: load generators that print progress every
//! second and a final summary with median and tail latencies. `consume`
//! runs one or more consumers of any subscription type.
//!
//! Publish latency is measured from handing a message to the client until its
//! receipt arrives. End-to-end latency uses a send timestamp (microseconds
//! since the Unix epoch) in the first 8 bytes of each payload, so producer and
//! consumer must share a clock (same machine).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::FutureExt;
use futures::TryStreamExt;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use pulsar::consumer::InitialPosition;
use pulsar::{producer, ConsumerOptions, ProducerOptions, SubType, TokioExecutor};

use super::client::connect;
use super::perf_report::{
    every_second, new_histogram, now_micros, print_summary, LatencyReport, PacedPipeline,
};
use crate::args::{PerfConsumeArgs, PerfProduceArgs, PerfSubscriptionType};

pub async fn produce(args: PerfProduceArgs) -> Result<()> {
    let client = connect(&args.client).await?;
    let options = ProducerOptions {
        batch_size: args.batching.then_some(args.batch_max_messages),
        batch_byte_size: args.batching.then_some(128 * 1024),
        batch_timeout: args.batching.then_some(Duration::from_millis(1)),
        block_queue_if_full: true,
        ..Default::default()
    };
    let mut producer = client
        .producer()
        .with_topic(&args.client.topic)
        .with_options(options)
        .build()
        .await
        .with_context(|| format!("create producer on {}", args.client.topic))?;

    let size = args.size.max(8);
    let mut bytes = 0u64;
    let start = Instant::now();
    let mut report = LatencyReport::new("produce", "msg", start)?;
    let mut pipeline = PacedPipeline::new(
        args.rate,
        Duration::from_secs(args.duration),
        args.max_pending,
        start,
    )?;
    while pipeline.next_slot(&mut report).await? {
        let mut payload = vec![0u8; size];
        payload[..8].copy_from_slice(&now_micros().to_be_bytes());
        let t0 = Instant::now();
        let receipt = producer
            .send_non_blocking(producer::Message {
                payload,
                ..Default::default()
            })
            .await
            .context("send")?;
        let outcome = async move { (t0, receipt.await.map(drop).context("send failed")) };
        pipeline.push(outcome.boxed(), &mut report)?;
        bytes += size as u64;
    }
    pipeline.drain(&mut report).await?;
    report.summarize(bytes, start.elapsed());
    Ok(())
}

pub async fn consume(args: PerfConsumeArgs) -> Result<()> {
    let client = connect(&args.client).await?;
    let sub_type = match args.subscription_type {
        PerfSubscriptionType::Exclusive => SubType::Exclusive,
        PerfSubscriptionType::Shared => SubType::Shared,
        PerfSubscriptionType::Failover => SubType::Failover,
        PerfSubscriptionType::KeyShared => SubType::KeyShared,
    };
    let initial = if args.earliest {
        InitialPosition::Earliest
    } else {
        InitialPosition::Latest
    };
    let mut consumers = Vec::new();
    for index in 0..args.consumers.max(1) {
        let consumer: pulsar::Consumer<Vec<u8>, TokioExecutor> = client
            .consumer()
            .with_topic(&args.client.topic)
            .with_subscription(&args.subscription)
            .with_subscription_type(sub_type)
            .with_consumer_name(format!("perf-{index}"))
            .with_options(ConsumerOptions::default().with_initial_position(initial.clone()))
            .build()
            .await
            .with_context(|| format!("subscribe to {}", args.client.topic))?;
        consumers.push(consumer);
    }
    let totals = Arc::new(Totals::default());
    let latency = Arc::new(Mutex::new(new_histogram()?));
    let start = Instant::now();
    let end = start + Duration::from_secs(args.duration);
    let mut tasks = tokio::task::JoinSet::new();
    for consumer in consumers {
        tasks.spawn(receive(
            consumer,
            end,
            args.messages,
            totals.clone(),
            latency.clone(),
        ));
    }
    let mut ticker = every_second(start);
    let mut last = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let count = totals.count.load(Ordering::Relaxed);
                let (p50, p99) = {
                    let latency = latency.lock();
                    (latency.value_at_quantile(0.5), latency.value_at_quantile(0.99))
                };
                println!("consume: {} msg/s, end-to-end latency ms p50 {:.3} p99 {:.3}",
                    count - last, p50 as f64 / 1000.0, p99 as f64 / 1000.0);
                last = count;
            }
            done = tasks.join_next() => match done {
                None => break,
                Some(result) => result.context("consumer task")??,
            },
        }
    }
    let latency = latency.lock();
    print_summary(
        "consume",
        totals.count.load(Ordering::Relaxed),
        totals.bytes.load(Ordering::Relaxed),
        start.elapsed(),
        &latency,
    );
    Ok(())
}

/// Messages and bytes received by every consumer of a run, and the end of
/// the run once it has its messages.
#[derive(Default)]
struct Totals {
    count: AtomicU64,
    bytes: AtomicU64,
    done: tokio_util::sync::CancellationToken,
}

/// One consumer's loop: receive and ack until `end`, or until the run has
/// `limit` messages (0: no limit).
async fn receive(
    mut consumer: pulsar::Consumer<Vec<u8>, TokioExecutor>,
    end: Instant,
    limit: u64,
    totals: Arc<Totals>,
    latency: Arc<Mutex<Histogram<u64>>>,
) -> Result<()> {
    loop {
        if limit > 0 && totals.count.load(Ordering::Relaxed) >= limit {
            totals.done.cancel();
            return Ok(());
        }
        let message = tokio::select! {
            _ = totals.done.cancelled() => return Ok(()),
            _ = tokio::time::sleep_until(end.into()) => return Ok(()),
            message = consumer.try_next() => message.context("receive")?,
        };
        let Some(message) = message else {
            return Ok(());
        };
        let data = &message.payload.data;
        if data.len() >= 8 {
            let mut sent = [0u8; 8];
            sent.copy_from_slice(&data[..8]);
            let micros = now_micros().saturating_sub(u64::from_be_bytes(sent)).max(1);
            latency.lock().saturating_record(micros);
        }
        totals.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        totals.count.fetch_add(1, Ordering::Relaxed);
        consumer.ack(&message).await.context("ack")?;
    }
}
