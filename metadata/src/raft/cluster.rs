//! [`run_metadata_node`]: one networked member of a 1-, 3- or 5-voter
//! metadata group, as run by `magnetar metadata --id N --listen HOST:PORT
//! --data-dir DIR --peers 1=HOST:PORT,2=HOST:PORT,3=HOST:PORT`.
//!
//! Bootstrap is deterministic: the voter with the lowest id initializes the
//! group with the full membership when its storage is uninitialized; every
//! other node waits to be contacted. `initialize` on an initialized node is
//! refused harmlessly, so restarts never re-bootstrap, and a restarted node
//! rejoins from its persisted log, vote and snapshot. The group elects a
//! leader as soon as a majority of voters is up.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use magnetar_proto::metadata::metadata_node_server::MetadataNodeServer;
use openraft::error::{InitializeError, RaftError};
use openraft::BasicNode;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::error::RaftBackendError;
use super::expiry::run_session_expiry;
use super::node::RaftNode;
use super::service::MetadataNodeService;
use super::startup::{start_node, RaftTuning};
use super::types::NodeId;

/// Configuration of one networked metadata node.
#[derive(Debug, Clone)]
pub struct RaftNodeConfig {
    pub id: NodeId,
    /// Address to listen on (`--listen`).
    pub listen: SocketAddr,
    /// Every voter, this node included: id → `host:port` peers dial.
    pub peers: BTreeMap<NodeId, String>,
    pub data_dir: PathBuf,
    pub tuning: RaftTuning,
}

impl RaftNodeConfig {
    /// Checks the voter set: 1, 3 or 5 voters, this node among them.
    pub fn validate(&self) -> Result<(), RaftBackendError> {
        if ![1, 3, 5].contains(&self.peers.len()) {
            return Err(RaftBackendError::InvalidPeers(format!(
                "a metadata group has 1, 3 or 5 voters, got {}",
                self.peers.len()
            )));
        }
        if !self.peers.contains_key(&self.id) {
            return Err(RaftBackendError::InvalidPeers(format!(
                "node {} is not in the peer list",
                self.id
            )));
        }
        Ok(())
    }
}

/// Parses `1=host:port,2=host:port,...` (the `--peers` flag).
pub fn parse_peers(spec: &str) -> Result<BTreeMap<NodeId, String>, RaftBackendError> {
    let mut peers = BTreeMap::new();
    for item in spec
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let (id, addr) = item.split_once('=').ok_or_else(|| {
            RaftBackendError::InvalidPeers(format!("{item:?} is not ID=HOST:PORT"))
        })?;
        let id: NodeId = id
            .trim()
            .parse()
            .map_err(|_| RaftBackendError::InvalidPeers(format!("{id:?} is not a node id")))?;
        if id == 0 {
            return Err(RaftBackendError::InvalidPeers(
                "node ids start at 1".to_string(),
            ));
        }
        if peers.insert(id, addr.trim().to_string()).is_some() {
            return Err(RaftBackendError::InvalidPeers(format!(
                "node {id} is listed twice"
            )));
        }
    }
    Ok(peers)
}

/// Binds `config.listen` and runs the node until `shutdown` fires.
pub async fn run_metadata_node(
    config: RaftNodeConfig,
    shutdown: CancellationToken,
) -> Result<(), RaftBackendError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| RaftBackendError::io("bind metadata listener", e))?;
    run_metadata_node_on(config, listener, shutdown).await
}

/// Runs the node on an already bound listener (tests bind port 0 first so
/// every node's address is known before any node starts).
pub async fn run_metadata_node_on(
    config: RaftNodeConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RaftBackendError> {
    config.validate()?;
    let node = start_node(config.id, &config.data_dir, &config.tuning).await?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| RaftBackendError::io("read listener address", e))?;
    tracing::info!(node_id = config.id, listen = %local_addr, voters = config.peers.len(), "metadata node started");

    let service = MetadataNodeServer::new(MetadataNodeService::new(Arc::clone(&node)))
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
    let server = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown.clone().cancelled_owned(),
        );
    let server_task = tokio::spawn(server);

    bootstrap_if_first(&node, &config).await?;
    let expiry = tokio::spawn(run_session_expiry(
        Arc::clone(&node),
        config.tuning.expiry_tick,
        shutdown.clone(),
    ));

    shutdown.cancelled().await;
    tracing::info!(node_id = config.id, "metadata node stopping");
    let _ = expiry.await;
    if let Err(error) = node.raft().shutdown().await {
        tracing::warn!(node_id = config.id, %error, "raft did not stop cleanly");
    }
    match server_task.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.into()),
        Err(join) => Err(RaftBackendError::io(
            "join grpc server",
            std::io::Error::other(join),
        )),
    }
}

/// The lowest-id voter initializes an uninitialized group.
async fn bootstrap_if_first(
    node: &RaftNode,
    config: &RaftNodeConfig,
) -> Result<(), RaftBackendError> {
    let lowest = config.peers.keys().next().copied();
    if lowest != Some(config.id) || node.raft().is_initialized().await? {
        return Ok(());
    }
    let members: BTreeMap<NodeId, BasicNode> = config
        .peers
        .iter()
        .map(|(id, addr)| (*id, BasicNode { addr: addr.clone() }))
        .collect();
    match node.raft().initialize(members).await {
        Ok(()) => {
            tracing::info!(
                node_id = config.id,
                voters = config.peers.len(),
                "initialized metadata group"
            );
            Ok(())
        }
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
        Err(RaftError::APIError(e)) => Err(RaftBackendError::Config(e.to_string())),
        Err(RaftError::Fatal(fatal)) => Err(fatal.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_reject_bad_lists() {
        let peers = parse_peers("1=127.0.0.1:7001, 2=127.0.0.1:7002,3=h:3").unwrap();
        assert_eq!(peers.len(), 3);
        assert_eq!(peers[&2], "127.0.0.1:7002");
        assert!(parse_peers("1=a:1,1=b:2").is_err());
        assert!(parse_peers("x=a:1").is_err());
        assert!(parse_peers("0=a:1").is_err());
        assert!(parse_peers("1").is_err());
    }

    #[test]
    fn voter_count_must_be_odd_and_include_self() {
        let config = |id, spec: &str| RaftNodeConfig {
            id,
            listen: "127.0.0.1:0".parse().unwrap(),
            peers: parse_peers(spec).unwrap(),
            data_dir: PathBuf::from("unused"),
            tuning: RaftTuning::default(),
        };
        assert!(config(1, "1=a:1,2=b:2,3=c:3").validate().is_ok());
        assert!(config(4, "1=a:1,2=b:2,3=c:3").validate().is_err());
        assert!(config(1, "1=a:1,2=b:2").validate().is_err());
    }
}
