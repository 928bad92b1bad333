//! The workloads: a producer with a window of unconfirmed sends, unlimited
//! or paced, and the same producer with a consumer beside it.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::{BufMut, Bytes, BytesMut};
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::mpsc;

use crate::report::{new_histogram, now_micros, print_summary, record};
use crate::target::Target;

/// How long the consumer may trail the producer's end before the run fails.
const DRAIN_FOR: Duration = Duration::from_secs(30);

pub struct Plan {
    pub size: usize,
    pub duration: Duration,
    pub window: usize,
    /// Messages per second, 0 for as fast as confirmed.
    pub rate: u64,
}

/// Produce for the plan's duration and print the produce summary.
pub async fn produce(target: &dyn Target, plan: &Plan) -> Result<()> {
    produce_and_report(target, plan).await.map(drop)
}

/// Runs the producer and prints its summary; returns how many it sent.
async fn produce_and_report(target: &dyn Target, plan: &Plan) -> Result<u64> {
    let (sent, elapsed, latency) = run_producer(target, plan).await?;
    print_summary("produce", sent, sent * plan.size as u64, elapsed, &latency);
    Ok(sent)
}

/// Produce with a consumer beside it; print both summaries, the consumer's
/// latency from each message's intended send time to its receipt.
pub async fn end_to_end(target: &dyn Target, plan: &Plan) -> Result<()> {
    let mut consumer = target.consumer().await?;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(None::<u64>);
    let consuming = tokio::spawn(async move {
        let mut latency = new_histogram()?;
        let (mut count, mut bytes) = (0u64, 0u64);
        let start = Instant::now();
        loop {
            let expected = *stop_rx.borrow_and_update();
            if expected.is_some_and(|expected| count >= expected) {
                break;
            }
            let batch = tokio::select! {
                batch = consumer.receive() => batch?,
                _ = stop_rx.changed() => continue,
            };
            let received = now_micros();
            for payload in batch {
                let stamp = u64::from_be_bytes(payload[..8].try_into().context("short payload")?);
                record(
                    &mut latency,
                    Duration::from_micros(received.saturating_sub(stamp)),
                );
                count += 1;
                bytes += payload.len() as u64;
            }
        }
        anyhow::Ok((count, bytes, start.elapsed(), latency))
    });
    let sent = produce_and_report(target, plan).await?;
    stop_tx.send_replace(Some(sent));
    let (count, bytes, elapsed, latency) = tokio::time::timeout(DRAIN_FOR, consuming)
        .await
        .context("the consumer did not receive every message in time")?
        .context("consumer task")??;
    if count != sent {
        bail!("sent {sent} messages, received {count}");
    }
    print_summary("consume", count, bytes, elapsed, &latency);
    Ok(())
}

/// Sends for `plan.duration`, paced or not, with at most `plan.window`
/// unconfirmed; returns messages, elapsed time and latencies.
///
/// The window is polled right after each send is added, so every send
/// reaches the client at once and in order.
async fn run_producer(target: &dyn Target, plan: &Plan) -> Result<(u64, Duration, Histogram<u64>)> {
    let mut latency = new_histogram()?;
    let mut window = FuturesOrdered::new();
    let interval = (plan.rate > 0).then(|| Duration::from_secs_f64(1.0 / plan.rate as f64));
    let start = Instant::now();
    let start_micros = now_micros();
    let end = start + plan.duration;
    let mut ticks = interval.map(|interval| ticker(start, interval, end));
    let mut sent = 0u64;
    loop {
        let intended = interval.map_or_else(Instant::now, |i| start + i.mul_f64(sent as f64));
        if intended >= end {
            break;
        }
        // Room in the window first, then the message's time.
        while window.len() >= plan.window {
            if let Some(outcome) = window.next().await {
                settle(outcome, &mut latency)?;
            }
        }
        while Instant::now() < intended {
            let Some(ticks) = ticks.as_mut() else { break };
            tokio::select! {
                Some(outcome) = window.next(), if !window.is_empty() => settle(outcome, &mut latency)?,
                _ = ticks.recv() => {}
            }
        }
        let stamp = start_micros + u64::try_from((intended - start).as_micros()).unwrap_or(0);
        let confirmed = target.send(payload(plan.size, stamp, sent));
        window.push_back(async move { (intended, confirmed.await) });
        sent += 1;
        // Issue the send, and take what is already confirmed.
        while let Some(Some(outcome)) = window.next().now_or_never() {
            settle(outcome, &mut latency)?;
        }
    }
    while let Some(outcome) = window.next().await {
        settle(outcome, &mut latency)?;
    }
    Ok((sent, start.elapsed(), latency))
}

/// Ticks at `start + i * interval` until `end`, from a thread of its own
/// that sleeps on the OS's high-resolution timer: tokio's timer wheel has a
/// 1 ms tick, which would turn a 10,000/s pace into bursts of ten and charge
/// up to a millisecond of the generator's lateness to the broker.
fn ticker(start: Instant, interval: Duration, end: Instant) -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut due = start;
        while due < end {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if tx.send(()).is_err() {
                return;
            }
            due += interval;
        }
    });
    rx
}

/// Records a confirmed send's latency from its intended time.
fn settle((intended, outcome): (Instant, Result<()>), latency: &mut Histogram<u64>) -> Result<()> {
    outcome.context("send failed")?;
    record(latency, intended.elapsed());
    Ok(())
}

/// `size` bytes: the intended send time (µs since the epoch), the sequence
/// number, then filler.
fn payload(size: usize, stamp_micros: u64, sequence: u64) -> Bytes {
    let mut payload = BytesMut::with_capacity(size);
    payload.put_u64(stamp_micros);
    payload.put_u64(sequence);
    payload.resize(size, b'x');
    payload.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_carries_its_stamp_and_sequence_then_filler() {
        let payload = payload(64, 1_234_567, 42);
        assert_eq!(payload.len(), 64);
        assert_eq!(
            u64::from_be_bytes(payload[..8].try_into().unwrap()),
            1_234_567
        );
        assert_eq!(u64::from_be_bytes(payload[8..16].try_into().unwrap()), 42);
        assert!(payload[16..].iter().all(|&b| b == b'x'));
    }

    #[tokio::test]
    async fn the_ticker_ticks_once_per_slot_and_never_early() {
        let interval = Duration::from_micros(500);
        let start = Instant::now();
        let end = start + Duration::from_millis(20);
        let mut ticks = ticker(start, interval, end);
        let mut count = 0u32;
        while ticks.recv().await.is_some() {
            assert!(
                Instant::now() >= start + interval * count,
                "tick {count} came early"
            );
            count += 1;
        }
        assert_eq!(count, 40);
    }
}
