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

use super::metadata_connect;
use super::perf_bookie::{print_add_latency, reset_add_latency};
use super::perf_report::{LatencyReport, PacedPipeline};
use crate::args::PerfLedgerArgs;

pub async fn run(args: PerfLedgerArgs) -> Result<()> {
    let metadata = metadata_connect(&args.metadata, &args.metadata_tls).await?;
    let config = ClientConfig {
        tls: args.bookie_tls.load()?,
        ..ClientConfig::default()
    };
    let client = LedgerClient::new(metadata, config);
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
    reset_add_latency(&ensemble).await?;
    let payload = Bytes::from(vec![0x5a; args.size]);
    let start = Instant::now();
    let mut report = LatencyReport::new("ledger", "adds", start)?;
    let mut pipeline = PacedPipeline::new(
        args.rate,
        Duration::from_secs(args.duration),
        args.max_pending,
        start,
    )?;
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
    print_add_latency(&ensemble).await?;
    println!("ledger {} closed: {closed:?}", ledger.id());
    Ok(())
}
