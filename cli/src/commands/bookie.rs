//! `magnetar bookie`: one bookie process against an external metadata store,
//! with auto-recovery (auditor candidate and replication worker) unless
//! `--autorecovery=false`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use magnetar_bookie::autorecovery::AutoRecoveryConfig;
use magnetar_bookie::node::{RunningBookie, StartOptions};
use magnetar_bookie::server::BookieConfig;
use magnetar_proto::grpc_tls::GrpcClientTls;
use tokio::net::TcpListener;

use super::{metadata_connect, shutdown};
use crate::args::{AutoRecoveryArgs, BookieArgs, JournalArgs};
use crate::memory_args::{MemoryPools, MemoryRoles};
use crate::ready;

/// Applies the journal flags to a bookie config.
pub fn apply_journal_args(config: &mut BookieConfig, journal: &JournalArgs) {
    config.journal_sync = journal.journal_sync;
    config.journal_preallocate = journal.journal_preallocate;
    config.journal_max_group_wait = Duration::from_millis(journal.journal_max_group_wait_ms);
    config.journal_buffered_bytes_threshold = journal.journal_buffered_writes_threshold;
    config.flush_interval = Duration::from_millis(journal.flush_interval_ms.max(1));
    config.disk_usage_threshold = journal.disk_usage_threshold;
    config.disk_usage_low_water_mark = (journal.disk_usage_threshold - 0.05).max(0.0);
}

/// Sizes a bookie's write cache and index from the memory budget's pools.
pub fn apply_memory_pools(config: &mut BookieConfig, pools: &MemoryPools) {
    config.write_cache_max_bytes = pools.write_cache_half_bytes;
    config.index_memory = pools.index;
}

/// The auto-recovery settings the flags ask for (`None` when disabled).
fn autorecovery_config(
    args: &AutoRecoveryArgs,
    client_tls: Option<GrpcClientTls>,
) -> Option<AutoRecoveryConfig> {
    args.autorecovery.then(|| AutoRecoveryConfig {
        lost_bookie_recovery_delay: Duration::from_millis(args.lost_bookie_recovery_delay_ms),
        open_ledger_rereplication_grace: Duration::from_millis(
            args.open_ledger_rereplication_grace_ms,
        ),
        client_tls,
        ..AutoRecoveryConfig::default()
    })
}

pub async fn run(args: BookieArgs) -> Result<()> {
    let shutdown = shutdown::on_signal();
    // TLS files are read before anything starts, so a bad one fails fast.
    let server_tls = args.tls.load()?;
    let client_tls = args.client_tls.load()?;
    let metadata = metadata_connect(&args.metadata, &args.metadata_tls).await?;
    let listen: SocketAddr = tokio::net::lookup_host(&args.listen)
        .await
        .with_context(|| format!("resolve --listen {}", args.listen))?
        .next()
        .with_context(|| format!("--listen {} resolves to no address", args.listen))?;
    let mut config = BookieConfig::for_dir(&args.data_dir);
    config.listen = listen;
    config.advertised_address = args.advertised_address.clone();
    config.session_ttl = Duration::from_millis(args.session_ttl_ms);
    apply_journal_args(&mut config, &args.journal);
    let mut memory = args.memory.clone();
    memory.roles = MemoryRoles::Bookie;
    apply_memory_pools(&mut config, &memory.pools());
    if !config.journal_sync {
        tracing::warn!("journal fsync is off: acknowledged entries can be lost on a crash");
    }
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("bind {listen}"))?;
    let options = StartOptions::with_metadata(metadata)
        .autorecovery(autorecovery_config(&args.autorecovery, client_tls))
        .tls(server_tls);
    let bookie = RunningBookie::start(config, listener, options)
        .await
        .context("start bookie")?;
    tracing::info!(bookie_id = %bookie.bookie_id(), addr = %bookie.local_addr(), "bookie serving");
    let mut announced = vec![("grpc", bookie.local_addr())];
    if let Some(port) = args.http_port {
        let http_addr = SocketAddr::new(listen.ip(), port);
        let http = TcpListener::bind(http_addr)
            .await
            .with_context(|| format!("bind bookie HTTP port {http_addr}"))?;
        announced.push(("http", http.local_addr()?));
        let stop = shutdown.clone().cancelled_owned();
        let status = bookie.status();
        tokio::spawn(async move {
            if let Err(error) = magnetar_bookie::node::http::serve(http, status, stop).await {
                tracing::error!(%error, "bookie http server stopped");
            }
        });
    }
    ready::announce("bookie", &announced);
    shutdown.cancelled().await;
    bookie.shutdown().await;
    Ok(())
}
