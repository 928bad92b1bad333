//! `magnetar perf metadata`: the metadata store under load, for comparing
//! backends (`etcd://` and `raft://`) on one machine.
//!
//! - CAS puts: `clients` tasks each loop read-version → put-if-version on a
//!   key of their own, so every put is a successful compare-and-swap; the
//!   latency of each put is recorded.
//! - Watch fan-out: `watchers` watches on one key; a writer puts a value
//!   carrying its send time, `rounds` times, and the delay until each
//!   watcher sees each put is recorded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures::StreamExt;
use magnetar_metadata::{Expected, MetadataStore, PutOptions, WatchEvent, WatchTarget};
use tokio::sync::mpsc;

use super::metadata_connect;
use super::perf_report::{new_histogram, now_micros};
use crate::args::PerfMetadataArgs;

pub async fn run(args: PerfMetadataArgs) -> Result<()> {
    let store = metadata_connect(&args.metadata, &args.metadata_tls).await?;
    let prefix = format!("/perf/{}", now_micros());
    cas_puts(&store, &prefix, &args).await?;
    watch_fan_out(&store, &prefix, &args).await?;
    Ok(())
}

async fn cas_puts(
    store: &Arc<dyn MetadataStore>,
    prefix: &str,
    args: &PerfMetadataArgs,
) -> Result<()> {
    let end = Instant::now() + Duration::from_secs(args.duration);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..args.clients {
        let store = Arc::clone(store);
        let key = format!("{prefix}/cas/{client}");
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut version = store
                .put(&key, Bytes::from_static(b"0"), PutOptions::ANY)
                .await?;
            let mut counter = 0u64;
            while Instant::now() < end {
                counter += 1;
                let t0 = Instant::now();
                version = store
                    .put(
                        &key,
                        Bytes::from(counter.to_string()),
                        PutOptions::expect(Expected::Version(version)),
                    )
                    .await?;
                latencies.push(t0.elapsed());
            }
            Ok::<_, magnetar_metadata::MetadataError>(latencies)
        }));
    }
    let mut histogram = new_histogram()?;
    let mut count = 0u64;
    for task in tasks {
        for latency in task
            .await
            .context("CAS task panicked")?
            .context("CAS put failed")?
        {
            histogram.saturating_record(
                u64::try_from(latency.as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1),
            );
            count += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "cas summary: {} clients, {count} puts in {secs:.1} s = {:.0} puts/s; latency ms p50 {:.3} p99 {:.3} p99.9 {:.3}",
        args.clients,
        count as f64 / secs,
        histogram.value_at_quantile(0.5) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.value_at_quantile(0.999) as f64 / 1000.0,
    );
    Ok(())
}

async fn watch_fan_out(
    store: &Arc<dyn MetadataStore>,
    prefix: &str,
    args: &PerfMetadataArgs,
) -> Result<()> {
    let key = format!("{prefix}/watched");
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<Duration>();
    let mut watchers = Vec::new();
    for _ in 0..args.watchers {
        let mut stream = store
            .watch(WatchTarget::Key(key.clone()), None)
            .await
            .context("open watch")?;
        let seen = seen_tx.clone();
        watchers.push(tokio::spawn(async move {
            while let Some(Ok(event)) = stream.next().await {
                if let WatchEvent::Put { value, .. } = event {
                    let sent = std::str::from_utf8(&value)
                        .ok()
                        .and_then(|text| text.parse::<u64>().ok())
                        .unwrap_or(0);
                    let delay = Duration::from_micros(now_micros().saturating_sub(sent));
                    if seen.send(delay).is_err() {
                        break;
                    }
                }
            }
        }));
    }
    drop(seen_tx);
    // Let every watch register before the first put.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut histogram = new_histogram()?;
    for _ in 0..args.rounds {
        store
            .put(&key, Bytes::from(now_micros().to_string()), PutOptions::ANY)
            .await
            .context("put watched key")?;
        for _ in 0..args.watchers {
            let delay = tokio::time::timeout(Duration::from_secs(10), seen_rx.recv())
                .await
                .context("a watcher missed an event for 10 s")?;
            let Some(delay) = delay else {
                bail!("every watcher stopped");
            };
            histogram
                .saturating_record(u64::try_from(delay.as_micros()).unwrap_or(u64::MAX).max(1));
        }
    }
    for watcher in watchers {
        watcher.abort();
    }
    println!(
        "watch summary: {} watchers x {} puts; delivery latency ms p50 {:.3} p99 {:.3} max {:.3}",
        args.watchers,
        args.rounds,
        histogram.value_at_quantile(0.5) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.max() as f64 / 1000.0,
    );
    Ok(())
}
