//! The embedded Raft metadata store as `magnetar metadata` processes on
//! loopback (or in network namespaces, see [`crate::netns`]): 1, 3 or 5 voters, each with its own data directory, killed
//! (SIGKILL) on drop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use magnetar_metadata::url::{connect, MetadataUrl};
use magnetar_metadata::MetadataStore;
use tempfile::TempDir;

use crate::netns::{bind_ip, Host};
use crate::process::MagnetarProcess;

/// How long a metadata node may take to become ready.
pub const RAFT_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the group may take to elect its first leader.
const FIRST_LEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// A port nothing listens on right now (the caller binds it a moment later).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind port 0")?;
    Ok(listener.local_addr().context("local address")?.port())
}

/// Voters of one Raft group.
pub struct RaftGroup {
    pub nodes: Vec<MagnetarProcess>,
    addrs: Vec<String>,
    _dirs: Vec<TempDir>,
}

impl RaftGroup {
    /// Starts `voters` metadata nodes (1, 3 or 5) on free loopback ports.
    pub fn start(voters: usize) -> Result<RaftGroup> {
        // Each in a network namespace of its own when the test has a network.
        let hosts = (0..voters)
            .map(|_| Host::next())
            .collect::<Result<Vec<_>>>()?;
        let addrs = hosts
            .iter()
            .map(|host| Ok(format!("{}:{}", bind_ip(host.as_ref()), free_port()?)))
            .collect::<Result<Vec<_>>>()?;
        let peers = addrs
            .iter()
            .enumerate()
            .map(|(i, addr)| format!("{}={addr}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for (i, (addr, host)) in addrs.iter().zip(hosts).enumerate() {
            let dir = tempfile::Builder::new()
                .prefix("magnetar-raft-")
                .tempdir()
                .context("create metadata data dir")?;
            let id = (i + 1).to_string();
            let data_dir = dir.path().to_string_lossy().into_owned();
            let args = [
                "metadata",
                "--id",
                &id,
                "--listen",
                addr,
                "--data-dir",
                &data_dir,
                "--peers",
                &peers,
            ];
            nodes.push(
                MagnetarProcess::spawn_on(host, &args, None)
                    .and_then(|node| node.wait_ready(RAFT_START_TIMEOUT))
                    .with_context(|| format!("start metadata node {id}"))?,
            );
            dirs.push(dir);
        }
        Ok(RaftGroup {
            nodes,
            addrs,
            _dirs: dirs,
        })
    }

    /// `raft://` URL naming every voter.
    pub fn url(&self) -> String {
        format!("raft://{}", self.addrs.join(","))
    }

    /// A client that knows the given nodes (indices into `nodes`).
    pub async fn client(&self, nodes: &[usize]) -> Result<Arc<dyn MetadataStore>> {
        let endpoints = nodes
            .iter()
            .map(|i| self.addrs[*i].as_str())
            .collect::<Vec<_>>();
        let url = MetadataUrl::parse(&format!("raft://{}", endpoints.join(",")))
            .context("parse raft url")?;
        connect(&url).await.context("connect to the metadata group")
    }

    /// Waits until the group answers a linearizable read (it has a leader).
    pub async fn wait_for_leader(&self) -> Result<()> {
        let all: Vec<usize> = (0..self.addrs.len()).collect();
        let client = self.client(&all).await?;
        let deadline = Instant::now() + FIRST_LEADER_TIMEOUT;
        loop {
            match client.get("/raft-group-probe").await {
                Ok(_) => return Ok(()),
                Err(error) if Instant::now() < deadline => {
                    tracing::debug!(%error, "no leader yet");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => bail!("no leader within {FIRST_LEADER_TIMEOUT:?}: {error}"),
            }
        }
    }

    /// Sends `signal` (e.g. `-STOP`) to node `node`.
    pub fn signal(&self, node: usize, signal: &str) -> Result<()> {
        self.nodes[node].signal(signal)
    }
}
