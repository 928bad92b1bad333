//! `magnetar metadata`: one voter of the embedded Raft metadata store,
//! serving clients (`raft://` URLs) and its peers over gRPC.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use magnetar_metadata::raft::{parse_peers, run_metadata_node_on, RaftNodeConfig, RaftTuning};
use tokio::net::TcpListener;

use super::shutdown;
use crate::args::MetadataNodeArgs;
use crate::ready;

pub async fn run(args: MetadataNodeArgs) -> Result<()> {
    let shutdown = shutdown::on_signal();
    let listen: SocketAddr = tokio::net::lookup_host(&args.listen)
        .await
        .with_context(|| format!("resolve --listen {}", args.listen))?
        .next()
        .with_context(|| format!("--listen {} resolves to no address", args.listen))?;
    let peers = parse_peers(&args.peers).context("parse --peers")?;
    let config = RaftNodeConfig {
        id: args.id,
        listen,
        peers,
        data_dir: args.data_dir,
        tuning: RaftTuning::default(),
    };
    config.validate().context("check --id and --peers")?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("bind {listen}"))?;
    ready::announce("metadata", &[("grpc", listener.local_addr()?)]);
    run_metadata_node_on(config, listener, shutdown)
        .await
        .context("metadata node")?;
    Ok(())
}
