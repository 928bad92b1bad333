//! `magnetar bookie`: one bookie process against an external metadata store.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use magnetar_bookie::server::{BookieConfig, RunningBookie, StartOptions};
use tokio::net::TcpListener;

use super::{metadata_connect, shutdown};
use crate::args::{BookieArgs, JournalArgs};
use crate::ready;

/// Applies the journal flags to a bookie config.
pub fn apply_journal_args(config: &mut BookieConfig, journal: &JournalArgs) {
    config.journal_sync = journal.journal_sync;
    config.journal_max_group_wait = Duration::from_millis(journal.journal_max_group_wait_ms);
    config.journal_buffered_bytes_threshold = journal.journal_buffered_writes_threshold;
    config.disk_usage_threshold = journal.disk_usage_threshold;
    config.disk_usage_low_water_mark = (journal.disk_usage_threshold - 0.05).max(0.0);
}

pub async fn run(args: BookieArgs) -> Result<()> {
    let shutdown = shutdown::on_signal();
    let metadata = metadata_connect(&args.metadata).await?;
    let listen: SocketAddr = tokio::net::lookup_host(&args.listen)
        .await
        .with_context(|| format!("resolve --listen {}", args.listen))?
        .next()
        .with_context(|| format!("--listen {} resolves to no address", args.listen))?;
    let mut config = BookieConfig::for_dir(&args.data_dir);
    config.listen = listen;
    config.advertised_address = args.advertised_address.clone();
    apply_journal_args(&mut config, &args.journal);
    if !config.journal_sync {
        tracing::warn!("journal fsync is off: acknowledged entries can be lost on a crash");
    }
    let listener = TcpListener::bind(listen).await.with_context(|| format!("bind {listen}"))?;
    let bookie = RunningBookie::start(config, listener, StartOptions::with_metadata(metadata))
        .await
        .context("start bookie")?;
    tracing::info!(bookie_id = %bookie.bookie_id(), addr = %bookie.local_addr(), "bookie serving");
    ready::announce("bookie", &[("grpc", bookie.local_addr())]);
    shutdown.cancelled().await;
    bookie.shutdown().await;
    Ok(())
}
