//! [`RaftTestGroup`]: a metadata group of in-process nodes on ephemeral
//! loopback ports, for tests (feature `testing`). Nodes can be stopped one
//! by one to test failover and minorities; dropping the group stops all.

use std::collections::BTreeMap;
use std::time::Duration;

use magnetar_proto::metadata::metadata_node_client::MetadataNodeClient;
use magnetar_proto::metadata::StatusRequest;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::RaftClientStore;
use super::cluster::{run_metadata_node_on, RaftNodeConfig};
use super::error::RaftBackendError;
use super::startup::RaftTuning;
use super::types::NodeId;

/// Tuning for tests: fast elections and short operation deadlines.
pub fn test_tuning() -> RaftTuning {
    RaftTuning {
        snapshot_every: 200,
        heartbeat_interval: Duration::from_millis(50),
        election_timeout_min: Duration::from_millis(200),
        election_timeout_max: Duration::from_millis(400),
        operation_timeout: Duration::from_secs(2),
        expiry_tick: Duration::from_millis(100),
    }
}

/// One in-process node.
struct TestNode {
    addr: String,
    stop: CancellationToken,
    task: Option<JoinHandle<Result<(), RaftBackendError>>>,
}

/// A running group. See the module docs.
pub struct RaftTestGroup {
    nodes: BTreeMap<NodeId, TestNode>,
    _dirs: Vec<tempfile::TempDir>,
}

impl RaftTestGroup {
    /// Starts `size` voters (ids 1..=size) with `tuning`.
    pub async fn start(size: u64, tuning: RaftTuning) -> std::io::Result<RaftTestGroup> {
        let mut listeners = BTreeMap::new();
        for id in 1..=size {
            listeners.insert(id, TcpListener::bind("127.0.0.1:0").await?);
        }
        let mut peers = BTreeMap::new();
        for (id, listener) in &listeners {
            peers.insert(*id, listener.local_addr()?.to_string());
        }
        let mut dirs = Vec::new();
        let mut nodes = BTreeMap::new();
        for (id, listener) in listeners {
            let dir = tempfile::tempdir()?;
            let config = RaftNodeConfig {
                id,
                listen: listener.local_addr()?,
                peers: peers.clone(),
                data_dir: dir.path().to_path_buf(),
                tuning: tuning.clone(),
            };
            let stop = CancellationToken::new();
            let task = tokio::spawn(run_metadata_node_on(config, listener, stop.clone()));
            dirs.push(dir);
            nodes.insert(
                id,
                TestNode {
                    addr: peers[&id].clone(),
                    stop,
                    task: Some(task),
                },
            );
        }
        Ok(RaftTestGroup { nodes, _dirs: dirs })
    }

    /// Every node's `host:port`, running or not, in id order.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.values().map(|node| node.addr.clone()).collect()
    }

    /// The address of node `id`.
    pub fn addr(&self, id: NodeId) -> Option<String> {
        self.nodes.get(&id).map(|node| node.addr.clone())
    }

    /// A client over every node.
    pub fn client(&self) -> RaftClientStore {
        RaftClientStore::connect(&self.addrs()).expect("loopback addresses are valid endpoints")
    }

    /// Stops node `id` and waits (bounded) for its task to end.
    pub async fn stop(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        node.stop.cancel();
        if let Some(task) = node.task.take() {
            match tokio::time::timeout(Duration::from_secs(10), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => {
                    tracing::warn!(node_id = id, %error, "test node ended with an error")
                }
                Ok(Err(join)) => tracing::warn!(node_id = id, %join, "test node task failed"),
                Err(_) => tracing::warn!(node_id = id, "test node did not stop within 10s"),
            }
        }
    }

    /// Waits (up to `limit`) until a running node other than `excluding`
    /// reports itself leader; returns its id.
    pub async fn wait_for_leader(
        &self,
        excluding: Option<NodeId>,
        limit: Duration,
    ) -> Option<NodeId> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            for (id, node) in &self.nodes {
                if node.task.is_none() || Some(*id) == excluding {
                    continue;
                }
                let Ok(mut client) =
                    MetadataNodeClient::connect(format!("http://{}", node.addr)).await
                else {
                    continue;
                };
                if let Ok(status) = client.status(StatusRequest {}).await {
                    if status.into_inner().leader_id == *id {
                        return Some(*id);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for RaftTestGroup {
    fn drop(&mut self) {
        for node in self.nodes.values() {
            node.stop.cancel();
        }
    }
}
