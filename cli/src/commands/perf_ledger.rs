//! `magnetar perf ledger`: write throughput and add latency of one ledger,
//! through the ledger client, against the bookies registered in a metadata
//! store. Measures the storage half alone, without a broker. Beside the
//! latency the client sees, it prints the add latency each bookie of the
//! ensemble measured itself (`Info`), which leaves out network and client.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use futures::FutureExt;
use magnetar_bookie::client::{ClientConfig, LedgerClient};
use magnetar_bookie::{LedgerOptions, LedgerStore};
use magnetar_proto::bookie::bookie_client::BookieClient;
use magnetar_proto::bookie::{AddLatency, InfoRequest};

use super::metadata_connect;
use super::perf_report::{LatencyReport, PacedPipeline};
use crate::args::PerfLedgerArgs;

pub async fn run(args: PerfLedgerArgs) -> Result<()> {
    let metadata = metadata_connect(&args.metadata).await?;
    let client = LedgerClient::new(metadata, ClientConfig::default());
    let ledger = client
        .create(LedgerOptions {
            ensemble_size: args.ensemble_size,
            write_quorum: args.write_quorum,
            ack_quorum: args.ack_quorum,
            password: Bytes::from_static(b"magnetar-perf"),
            custom: Default::default(),
        })
        .await
        .context("create ledger")?;
    let ensemble = client
        .ledger_metadata(ledger.id())
        .await
        .context("read the ledger's metadata")?
        .metadata
        .last_ensemble()
        .to_vec();
    for bookie in &ensemble {
        bookie_add_latency(bookie, true).await?;
    }
    let payload = Bytes::from(vec![0x5a; args.size]);
    let start = Instant::now();
    let mut report = LatencyReport::new("ledger", "adds", start)?;
    let mut pipeline =
        PacedPipeline::new(args.rate, Duration::from_secs(args.duration), args.max_pending, start)?;
    while pipeline.next_slot(&mut report).await? {
        let t0 = Instant::now();
        let add = ledger.append(payload.clone());
        let outcome = async move { (t0, add.await.map(drop).context("add failed")) };
        pipeline.push(outcome.boxed(), &mut report)?;
    }
    pipeline.drain(&mut report).await?;
    let elapsed = start.elapsed();
    let closed = ledger.close().await.context("close ledger")?;
    report.summarize(report.confirmed() * args.size as u64, elapsed);
    for bookie in &ensemble {
        let latency = bookie_add_latency(bookie, false).await?;
        let ms = |us: u64| us as f64 / 1e3;
        println!(
            "bookie {bookie} summary: {} adds; add latency inside the bookie ms p50 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}",
            latency.count,
            ms(latency.p50_us),
            ms(latency.p99_us),
            ms(latency.p999_us),
            ms(latency.max_us)
        );
    }
    println!("ledger {} closed: {closed:?}", ledger.id());
    Ok(())
}

/// The add latency `bookie` measured itself; `reset` starts a new measurement.
async fn bookie_add_latency(bookie: &str, reset: bool) -> Result<AddLatency> {
    let mut info = BookieClient::connect(format!("http://{bookie}"))
        .await
        .with_context(|| format!("connect to bookie {bookie}"))?;
    let response = info
        .info(InfoRequest {
            reset_add_latency: reset,
        })
        .await
        .with_context(|| format!("ask bookie {bookie} for its add latency"))?;
    Ok(response.into_inner().add_latency.unwrap_or_default())
}
