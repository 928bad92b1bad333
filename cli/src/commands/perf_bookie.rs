//! The add latency a bookie measured itself (`Info`), for the perf tools:
//! reset on the bookies a run writes to before it starts, printed after it,
//! so the bookie's share of a latency stands beside the client's figure.

use anyhow::{Context, Result};
use magnetar_proto::bookie::bookie_client::BookieClient;
use magnetar_proto::bookie::{AddLatency, InfoRequest, InfoResponse};

/// Starts a new add-latency measurement on each of `bookies`.
pub async fn reset_add_latency(bookies: &[String]) -> Result<()> {
    for bookie in bookies {
        bookie_add_latency(bookie, true).await?;
    }
    Ok(())
}

/// Prints what each of `bookies` measured since its last reset.
pub async fn print_add_latency(bookies: &[String]) -> Result<()> {
    for bookie in bookies {
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
    Ok(())
}

/// The add latency `bookie` measured itself; `reset` starts a new measurement.
async fn bookie_add_latency(bookie: &str, reset: bool) -> Result<AddLatency> {
    Ok(bookie_info(bookie, reset)
        .await?
        .add_latency
        .unwrap_or_default())
}

/// `bookie`'s answer to `Info` (id, disk space, read-only, add latency);
/// `reset` starts a new add-latency measurement.
pub async fn bookie_info(bookie: &str, reset: bool) -> Result<InfoResponse> {
    let mut client = BookieClient::connect(format!("http://{bookie}"))
        .await
        .with_context(|| format!("connect to bookie {bookie}"))?;
    let response = client
        .info(InfoRequest {
            reset_add_latency: reset,
        })
        .await
        .with_context(|| format!("ask bookie {bookie} for its state"))?;
    Ok(response.into_inner())
}
