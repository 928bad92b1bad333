//! `magnetar perf produce|consume`: load generators that print progress every
//! second and a final summary with median and tail latencies.
//!
//! Publish latency is measured from handing a message to the client until its
//! receipt arrives. End-to-end latency uses a send timestamp (microseconds
//! since the Unix epoch) in the first 8 bytes of each payload, so producer and
//! consumer must share a clock (same machine).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::FutureExt;
use futures::TryStreamExt;
use pulsar::consumer::InitialPosition;
use pulsar::{producer, ConsumerOptions, ProducerOptions, SubType, TokioExecutor};

use super::client::connect;
use super::perf_report::{new_histogram, now_micros, print_summary, LatencyReport, PacedPipeline};
use crate::args::{PerfConsumeArgs, PerfProduceArgs};

pub async fn produce(args: PerfProduceArgs) -> Result<()> {
    let client = connect(&args.client.url).await?;
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
    let client = connect(&args.client.url).await?;
    let mut consumer: pulsar::Consumer<Vec<u8>, TokioExecutor> = client
        .consumer()
        .with_topic(&args.client.topic)
        .with_subscription(&args.subscription)
        .with_subscription_type(SubType::Exclusive)
        .with_options(ConsumerOptions::default().with_initial_position(InitialPosition::Latest))
        .build()
        .await
        .with_context(|| format!("subscribe to {}", args.client.topic))?;
    let mut latency = new_histogram()?;
    let (mut count, mut bytes, mut last) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    let end = start + Duration::from_secs(args.duration);
    let mut ticker = tokio::time::interval_at(
        (start + Duration::from_secs(1)).into(),
        Duration::from_secs(1),
    );
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(end.into()) => break,
            _ = ticker.tick() => {
                println!("consume: {} msg/s, end-to-end latency ms p50 {:.3} p99 {:.3}",
                    count - last,
                    latency.value_at_quantile(0.5) as f64 / 1000.0,
                    latency.value_at_quantile(0.99) as f64 / 1000.0);
                last = count;
            }
            message = consumer.try_next() => {
                let Some(message) = message.context("receive")? else { break };
                let data = &message.payload.data;
                if data.len() >= 8 {
                    let mut sent = [0u8; 8];
                    sent.copy_from_slice(&data[..8]);
                    latency.saturating_record(now_micros().saturating_sub(u64::from_be_bytes(sent)).max(1));
                }
                bytes += data.len() as u64;
                count += 1;
                consumer.ack(&message).await.context("ack")?;
            }
        }
    }
    print_summary("consume", count, bytes, start.elapsed(), &latency);
    Ok(())
}
