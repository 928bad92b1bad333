//! `magnetar standalone`: the embedded metadata store, `--bookies` bookies
//! and a broker in one process, with no config. It takes the same paths as a
//! cluster: bookies register in the metadata store, the broker owns bundles
//! through its session and opens every topic with ledger recovery.
//!
//! Bookie ids are their addresses, and ledger metadata names them, so each
//! in-process bookie keeps the port it got on first start (recorded in
//! `<data-dir>/bookie-N/port`) and binds it again after a restart. The
//! broker calls its in-process bookies directly rather than over gRPC (see
//! `magnetar_bookie::node::local`); they still serve gRPC for any other
//! client.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use magnetar_bookie::client::grpc::GrpcConnector;
use magnetar_bookie::client::LedgerClient;
use magnetar_bookie::node::local::LocalConnector;
use magnetar_bookie::node::{RunningBookie, StartOptions};
use magnetar_bookie::server::BookieConfig;
use magnetar_broker::cluster::ClusterConfig;
use magnetar_metadata::durable_file;
use magnetar_metadata::raft::EmbeddedRaft;
use tokio::net::TcpListener;

use super::bookie::{apply_journal_args, apply_memory_pools};
use super::broker_node::BookieTolerance;
use super::{broker_node, shutdown};
use crate::args::StandaloneArgs;
use crate::memory_args::MemoryRoles;
use crate::ready;

pub async fn run(args: StandaloneArgs) -> Result<()> {
    let shutdown = shutdown::on_signal();
    let quorum = args.quorum.resolve(1);
    if args.bookies == 0 || quorum.0 > args.bookies {
        bail!(
            "ensemble size {} needs at least that many bookies (--bookies {})",
            quorum.0,
            args.bookies
        );
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("create {}", args.data_dir.display()))?;
    tracing::info!(data_dir = %args.data_dir.display(), "starting standalone");

    let metadata = EmbeddedRaft::open(&args.data_dir.join("metadata"))
        .await
        .context("open embedded metadata store")?;

    let mut listen = args.listen.clone();
    listen.memory.roles = MemoryRoles::Standalone {
        bookies: args.bookies,
    };
    let pools = listen.memory.pools();
    tracing::info!(
        budget_mb = listen.memory.memory_budget_mb,
        ?pools,
        "memory pools"
    );
    let mut bookies = Vec::new();
    for index in 0..args.bookies {
        let dir = args.data_dir.join(format!("bookie-{index}"));
        let listener = bind_bookie_port(&dir).await?;
        let mut config = BookieConfig::for_dir(&dir);
        config.listen = listener.local_addr()?;
        apply_journal_args(&mut config, &args.journal);
        apply_memory_pools(&mut config, &pools);
        let bookie = RunningBookie::start(
            config,
            listener,
            StartOptions::with_metadata(Arc::clone(&metadata)),
        )
        .await
        .with_context(|| format!("start bookie {index}"))?;
        tracing::info!(bookie_id = %bookie.bookie_id(), "in-process bookie serving");
        bookies.push(bookie);
    }

    // The embedded store belongs to this data dir alone, so the broker
    // session of a previous (crashed) process is certainly dead: end it now
    // rather than waiting out its TTL, which would keep the old process's
    // bundle ownership (and its old addresses) alive for lookups.
    let session_file = args.data_dir.join("broker-session");
    revoke_previous_session(&session_file, metadata.as_ref()).await?;
    // The broker reaches its own bookies by direct calls; any other bookie
    // (none in standalone) over gRPC.
    let client_config = args.writes.client_config(args.listen.max_message_size);
    let local_bookies = bookies
        .iter()
        .map(|b| (b.bookie_id().to_string(), Arc::clone(b.bookie())));
    let connector = LocalConnector::new(
        local_bookies,
        Arc::new(GrpcConnector::new(client_config.clone())),
    );
    let ledgers = Arc::new(LedgerClient::with_connector(
        Arc::clone(&metadata),
        client_config,
        Arc::new(connector),
    ));
    // The bookies above are registered already: no startup wait.
    let tolerance = BookieTolerance::from_args(0, &args.writes);
    let node = broker_node::start(
        &listen,
        &args.cluster,
        quorum,
        tolerance,
        ClusterConfig::default(),
        metadata,
        ledgers,
    )
    .await?;
    if let Some(session) = node.session_id() {
        write_durably(&session_file, &session.to_string())?;
    }
    ready::announce("standalone", &super::node_addresses(&node));

    shutdown.cancelled().await;
    node.shutdown().await;
    for bookie in bookies {
        bookie.shutdown().await;
    }
    Ok(())
}

async fn revoke_previous_session(
    path: &Path,
    metadata: &dyn magnetar_metadata::MetadataStore,
) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("read {}", path.display())),
    };
    let session: magnetar_metadata::SessionId = text
        .trim()
        .parse()
        .with_context(|| format!("parse {}", path.display()))?;
    match metadata.revoke_session(session).await {
        Ok(()) | Err(magnetar_metadata::MetadataError::SessionExpired(_)) => {
            tracing::info!(
                session,
                "ended the broker session of the previous standalone process"
            );
            Ok(())
        }
        Err(error) => Err(error).context("revoke the previous broker session"),
    }
}

/// Binds the bookie's recorded port, or a free one on first start (then
/// records it: write to a temporary file, fsync, rename).
async fn bind_bookie_port(dir: &Path) -> Result<TcpListener> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let port_file = dir.join("port");
    let recorded: Option<u16> = match std::fs::read_to_string(&port_file) {
        Ok(text) => Some(
            text.trim()
                .parse()
                .with_context(|| format!("parse {}", port_file.display()))?,
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error).with_context(|| format!("read {}", port_file.display())),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], recorded.unwrap_or(0)));
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!(
            "bind bookie port {addr} (recorded in {})",
            port_file.display()
        )
    })?;
    if recorded.is_none() {
        write_durably(&port_file, &listener.local_addr()?.port().to_string())?;
    }
    Ok(listener)
}

fn write_durably(path: &Path, contents: &str) -> Result<()> {
    durable_file::write_file_durably(path, contents.as_bytes())
        .with_context(|| format!("write {}", path.display()))
}
