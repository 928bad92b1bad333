//! A 3-voter metadata group run in-process over real gRPC on loopback:
//! clients reach it through `RaftClientStore`, the leader is stopped and
//! writes continue without losing committed data, and a lone node (a
//! minority) cannot commit.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use magnetar_metadata::raft::{run_metadata_node_on, RaftClientStore, RaftNodeConfig, RaftTuning};
use magnetar_metadata::{MetadataError, MetadataStore, PutOptions, WatchTarget};
use magnetar_proto::metadata::metadata_node_client::MetadataNodeClient;
use magnetar_proto::metadata::StatusRequest;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn tuning() -> RaftTuning {
    RaftTuning {
        snapshot_every: 200,
        heartbeat_interval: Duration::from_millis(50),
        election_timeout_min: Duration::from_millis(200),
        election_timeout_max: Duration::from_millis(400),
        operation_timeout: Duration::from_secs(2),
        expiry_tick: Duration::from_millis(100),
    }
}

/// One in-process node: its task and the token that stops it.
struct RunningNode {
    addr: String,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl RunningNode {
    async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task).await.expect("node stops").expect("node task");
        }
    }
}

/// A group of in-process nodes on ephemeral loopback ports.
struct Group {
    _dirs: Vec<tempfile::TempDir>,
    nodes: BTreeMap<u64, RunningNode>,
}

impl Group {
    async fn start(size: u64) -> Group {
        let mut listeners = BTreeMap::new();
        for id in 1..=size {
            listeners.insert(id, TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let peers: BTreeMap<u64, String> =
            listeners.iter().map(|(id, l)| (*id, l.local_addr().unwrap().to_string())).collect();
        let mut dirs = Vec::new();
        let mut nodes = BTreeMap::new();
        for (id, listener) in listeners {
            let dir = tempfile::tempdir().unwrap();
            let config = RaftNodeConfig {
                id,
                listen: listener.local_addr().unwrap(),
                peers: peers.clone(),
                data_dir: PathBuf::from(dir.path()),
                tuning: tuning(),
            };
            let stop = CancellationToken::new();
            let token = stop.clone();
            let task = tokio::spawn(async move {
                if let Err(error) = run_metadata_node_on(config, listener, token).await {
                    panic!("node {id} failed: {error}");
                }
            });
            dirs.push(dir);
            nodes.insert(id, RunningNode { addr: peers[&id].clone(), stop, task: Some(task) });
        }
        Group { _dirs: dirs, nodes }
    }

    fn client(&self) -> RaftClientStore {
        let addrs: Vec<String> = self.nodes.values().map(|n| n.addr.clone()).collect();
        RaftClientStore::connect(&addrs).unwrap()
    }

    /// Waits (bounded) until a running node reports a leader, returns its id.
    async fn wait_leader(&self, excluding: Option<u64>) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            for (id, node) in &self.nodes {
                if node.task.is_none() {
                    continue;
                }
                let Ok(mut client) = MetadataNodeClient::connect(format!("http://{}", node.addr)).await else {
                    continue;
                };
                if let Ok(status) = client.status(StatusRequest {}).await {
                    let status = status.into_inner();
                    if status.leader_id == *id && Some(*id) != excluding {
                        return *id;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no leader elected");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn value(i: usize) -> Bytes {
    Bytes::from(format!("v{i}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_leader_loss_and_any_node_serves_clients() {
    let mut group = Group::start(3).await;
    let client = group.client();
    let leader = group.wait_leader(None).await;

    let mut committed = Vec::new();
    for i in 0..50 {
        committed.push((i, client.put(&format!("/c/{i:03}"), value(i), PutOptions::ANY).await.unwrap()));
    }
    // A client pinned to a follower is served too (forwarded writes, read index).
    let follower = group.nodes.iter().find(|(id, _)| **id != leader).map(|(_, n)| n.addr.clone()).unwrap();
    let via_follower = RaftClientStore::connect(&[follower]).unwrap();
    via_follower.put("/c/from-follower", value(1), PutOptions::ANY).await.unwrap();
    assert_eq!(via_follower.get("/c/000").await.unwrap().unwrap().value, value(0));
    let mut watch = via_follower.watch(WatchTarget::Prefix("/c/".into()), Some(committed[0].1)).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), watch.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.key(), "/c/000");

    tracing::info!(leader, "stopping the leader");
    group.nodes.get_mut(&leader).unwrap().stop().await;
    let new_leader = group.wait_leader(Some(leader)).await;
    assert_ne!(new_leader, leader);

    for i in 50..80 {
        committed.push((i, client.put(&format!("/c/{i:03}"), value(i), PutOptions::ANY).await.unwrap()));
    }
    for (i, version) in &committed {
        let found = client.get(&format!("/c/{i:03}")).await.unwrap().expect("committed write lost");
        assert_eq!((found.value, found.version), (value(*i), *version));
    }
    let page = client.list("/c/", None, 1000).await.unwrap();
    assert_eq!(page.entries.len(), 81);

    for node in group.nodes.values_mut() {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_node_cannot_commit() {
    let mut group = Group::start(3).await;
    let client = group.client();
    group.wait_leader(None).await;
    client.put("/before", value(0), PutOptions::ANY).await.unwrap();

    let survivor = 3;
    for id in [1, 2] {
        group.nodes.get_mut(&id).unwrap().stop().await;
    }
    let lone = RaftClientStore::connect(&[group.nodes[&survivor].addr.clone()]).unwrap();
    let started = Instant::now();
    let err = lone.put("/after", value(1), PutOptions::ANY).await.unwrap_err();
    assert!(matches!(err, MetadataError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(15));
    let err = lone.get("/before").await.unwrap_err();
    assert!(matches!(err, MetadataError::Unavailable(_)), "linearizable read on a minority: {err:?}");

    group.nodes.get_mut(&survivor).unwrap().stop().await;
}
