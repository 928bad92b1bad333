//! `magnetar perf ledger`: write throughput and add latency of one ledger,
//! through the ledger client, against the bookies registered in a metadata
//! store. Measures the storage half alone, without a broker.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use futures::stream::FuturesOrdered;
use futures::StreamExt;
use magnetar_bookie::client::{ClientConfig, LedgerClient};
use magnetar_bookie::{LedgerOptions, LedgerStore};

use super::metadata_connect;
use super::perf_report::LatencyReport;
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
    let payload = Bytes::from(vec![0x5a; args.size]);
    let mut in_flight = FuturesOrdered::new();
    let mut sent = 0u64;
    let start = Instant::now();
    let mut report = LatencyReport::new("ledger", "adds", start)?;
    let end = start + Duration::from_secs(args.duration);
    let interval = (args.rate > 0).then(|| Duration::from_secs_f64(1.0 / args.rate as f64));
    while Instant::now() < end {
        if let Some(interval) = interval {
            let due = start + interval.mul_f64(sent as f64);
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        while in_flight.len() >= args.max_pending {
            if let Some((t0, result)) = in_flight.next().await {
                record(result, t0, &mut report)?;
            }
        }
        let t0 = Instant::now();
        let add = ledger.append(payload.clone());
        in_flight.push_back(async move { (t0, add.await) });
        sent += 1;
        while let Some(Some((t0, result))) = futures::FutureExt::now_or_never(in_flight.next()) {
            record(result, t0, &mut report)?;
        }
        report.report_if_due();
    }
    while let Some((t0, result)) = in_flight.next().await {
        record(result, t0, &mut report)?;
    }
    let elapsed = start.elapsed();
    let closed = ledger.close().await.context("close ledger")?;
    report.summarize(report.confirmed() * args.size as u64, elapsed);
    println!("ledger {} closed: {closed:?}", ledger.id());
    Ok(())
}

fn record(
    result: Result<i64, magnetar_bookie::LedgerError>,
    t0: Instant,
    report: &mut LatencyReport,
) -> Result<()> {
    result.context("add failed")?;
    report.record(t0.elapsed());
    Ok(())
}
