//! The embedded Raft metadata store as three `magnetar metadata` processes:
//! kill -9 of each node in turn (so the leader is killed at least once)
//! loses no committed write, and a node cut off from the others by SIGSTOP
//! cannot commit until they come back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use magnetar_metadata::{MetadataError, MetadataStore, PutOptions};
use magnetar_tests::raft::{RaftGroup, RAFT_START_TIMEOUT};

/// Longest a write may keep failing while a new leader is elected.
const ELECTION_LIMIT: Duration = Duration::from_secs(30);

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
    let mut group = RaftGroup::start(3).expect("metadata nodes start");
    let client = group.client(&[0, 1, 2]).await.expect("client");
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
            .restart(RAFT_START_TIMEOUT)
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
        let only = group.client(&[node]).await.expect("client");
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
    let group = RaftGroup::start(3).expect("metadata nodes start");
    let lone = group.client(&[0]).await.expect("client");
    put_until_committed(&lone, "/partition/before", "ok").await;

    group.signal(1, "-STOP").expect("stop node 2");
    group.signal(2, "-STOP").expect("stop node 3");
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

    group.signal(1, "-CONT").expect("continue node 2");
    group.signal(2, "-CONT").expect("continue node 3");
    put_until_committed(&lone, "/partition/after", "ok").await;
    let before = lone
        .get("/partition/before")
        .await
        .expect("read after the partition");
    assert_eq!(before.map(|v| v.value), Some(Bytes::from("ok")));
}
