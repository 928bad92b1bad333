//! The embedded Raft metadata store as three `magnetar metadata` processes:
//! kill -9 of each node in turn (so the leader is killed at least once)
//! loses no committed write, and a node cut off from the others by SIGSTOP
//! cannot commit until they come back.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use magnetar_metadata::url::{connect, MetadataUrl};
use magnetar_metadata::{MetadataError, MetadataStore, PutOptions};
use magnetar_tests::MagnetarProcess;
use tempfile::TempDir;

const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a write may keep failing while a new leader is elected.
const ELECTION_LIMIT: Duration = Duration::from_secs(30);

/// Three voters on loopback, each with its own data directory.
struct RaftProcesses {
    nodes: Vec<MagnetarProcess>,
    addrs: Vec<String>,
    _dirs: Vec<TempDir>,
}

impl RaftProcesses {
    fn start() -> RaftProcesses {
        let addrs: Vec<String> = (0..3)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        let peers = addrs
            .iter()
            .enumerate()
            .map(|(i, addr)| format!("{}={addr}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for (i, addr) in addrs.iter().enumerate() {
            let dir = tempfile::tempdir().expect("create data dir");
            let id = (i + 1).to_string();
            let data_dir = dir.path().to_str().expect("utf-8 temp path").to_string();
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
            nodes.push(MagnetarProcess::start(&args, START_TIMEOUT).expect("metadata node starts"));
            dirs.push(dir);
        }
        RaftProcesses {
            nodes,
            addrs,
            _dirs: dirs,
        }
    }

    /// A client that knows the given nodes.
    async fn client(&self, nodes: &[usize]) -> Arc<dyn MetadataStore> {
        let endpoints = nodes
            .iter()
            .map(|i| self.addrs[*i].as_str())
            .collect::<Vec<_>>();
        let url = MetadataUrl::parse(&format!("raft://{}", endpoints.join(","))).unwrap();
        connect(&url).await.expect("connect to the metadata group")
    }

    fn signal(&self, node: usize, signal: &str) {
        let pid = self.nodes[node].pid().expect("node is running").to_string();
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid} failed");
    }
}

/// A port nothing listens on right now (the node binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("find a free port")
}

/// Puts `key`, retrying while the group has no leader; panics after
/// [`ELECTION_LIMIT`]. Returns the committed version.
async fn put_until_committed(store: &Arc<dyn MetadataStore>, key: &str, value: &str) -> u64 {
    let deadline = Instant::now() + ELECTION_LIMIT;
    loop {
        match store
            .put(key, Bytes::from(value.to_string()), PutOptions::ANY)
            .await
        {
            Ok(version) => return version,
            Err(MetadataError::Unavailable(reason)) if Instant::now() < deadline => {
                tracing::debug!(key, %reason, "no leader yet, retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("put {key} failed: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_each_node_in_turn_loses_no_committed_write() {
    let mut group = RaftProcesses::start();
    let client = group.client(&[0, 1, 2]).await;
    let mut committed = Vec::new();
    for i in 0..20 {
        let key = format!("/faults/before/{i}");
        put_until_committed(&client, &key, &format!("v{i}")).await;
        committed.push(key);
    }
    for victim in 0..3 {
        group.nodes[victim]
            .kill9()
            .expect("kill -9 a metadata node");
        for i in 0..20 {
            let key = format!("/faults/without-{victim}/{i}");
            put_until_committed(&client, &key, &format!("v{i}")).await;
            committed.push(key);
        }
        group.nodes[victim]
            .restart(START_TIMEOUT)
            .expect("restart the node");
    }
    // Every node was down once, the leader among them, and every write the
    // group acknowledged is still there, with its value.
    for key in &committed {
        let stored = client
            .get(key)
            .await
            .expect("read back")
            .expect("committed key present");
        let index = key.rsplit('/').next().unwrap();
        assert_eq!(stored.value, Bytes::from(format!("v{index}")), "{key}");
    }
    // The restarted nodes serve reads too.
    for node in 0..3 {
        let only = group.client(&[node]).await;
        let deadline = Instant::now() + ELECTION_LIMIT;
        let last = committed.last().unwrap();
        loop {
            match only.get(last).await {
                Ok(Some(_)) => break,
                Ok(None) => panic!("node {node} lost {last}"),
                Err(error) if Instant::now() < deadline => {
                    tracing::debug!(node, %error, "node not caught up yet");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("node {node} cannot serve reads: {error}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_the_majority_cannot_commit() {
    let group = RaftProcesses::start();
    let lone = group.client(&[0]).await;
    put_until_committed(&lone, "/partition/before", "ok").await;

    group.signal(1, "-STOP");
    group.signal(2, "-STOP");
    let started = Instant::now();
    let cut_off = lone
        .put("/partition/during", Bytes::from("never"), PutOptions::ANY)
        .await;
    assert!(
        matches!(cut_off, Err(MetadataError::Unavailable(_))),
        "a write without a majority must fail as Unavailable, got {cut_off:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the failure took {:?}",
        started.elapsed()
    );
    let read = lone.get("/partition/before").await;
    assert!(
        matches!(read, Err(MetadataError::Unavailable(_))),
        "a linearizable read without a majority must fail, got {read:?}"
    );

    group.signal(1, "-CONT");
    group.signal(2, "-CONT");
    put_until_committed(&lone, "/partition/after", "ok").await;
    let before = lone
        .get("/partition/before")
        .await
        .expect("read after the partition");
    assert_eq!(before.map(|v| v.value), Some(Bytes::from("ok")));
}
