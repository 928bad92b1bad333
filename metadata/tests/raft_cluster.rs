//! A 3-voter metadata group run in-process over real gRPC on loopback:
//! clients reach it through `RaftClientStore`, the leader is stopped and
//! writes continue without losing committed data, and a lone node (a
//! minority) cannot commit.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use magnetar_metadata::raft::test_group::{test_tuning, RaftTestGroup};
use magnetar_metadata::raft::RaftClientStore;
use magnetar_metadata::{MetadataError, MetadataStore, PutOptions, WatchTarget};
use tokio::time::Instant;

const ELECTION_LIMIT: Duration = Duration::from_secs(15);

fn value(i: usize) -> Bytes {
    Bytes::from(format!("v{i}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_leader_loss_and_any_node_serves_clients() {
    let mut group = RaftTestGroup::start(3, test_tuning()).await.unwrap();
    let client = group.client();
    let leader = group
        .wait_for_leader(None, ELECTION_LIMIT)
        .await
        .expect("a leader is elected");

    let mut committed = Vec::new();
    for i in 0..50 {
        committed.push((
            i,
            client
                .put(&format!("/c/{i:03}"), value(i), PutOptions::ANY)
                .await
                .unwrap(),
        ));
    }
    // A client that only knows a follower is served too (forwarded writes, read index).
    let follower = (1..=3)
        .find(|id| *id != leader)
        .and_then(|id| group.addr(id))
        .unwrap();
    let via_follower = RaftClientStore::connect(&[follower]).unwrap();
    via_follower
        .put("/c/from-follower", value(1), PutOptions::ANY)
        .await
        .unwrap();
    assert_eq!(
        via_follower.get("/c/000").await.unwrap().unwrap().value,
        value(0)
    );
    let mut watch = via_follower
        .watch(WatchTarget::Prefix("/c/".into()), Some(committed[0].1))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.key(), "/c/000");

    tracing::info!(leader, "stopping the leader");
    group.stop(leader).await;
    let new_leader = group
        .wait_for_leader(Some(leader), ELECTION_LIMIT)
        .await
        .expect("a new leader is elected");
    assert_ne!(new_leader, leader);

    for i in 50..80 {
        committed.push((
            i,
            client
                .put(&format!("/c/{i:03}"), value(i), PutOptions::ANY)
                .await
                .unwrap(),
        ));
    }
    for (i, version) in &committed {
        let found = client
            .get(&format!("/c/{i:03}"))
            .await
            .unwrap()
            .expect("committed write lost");
        assert_eq!((found.value, found.version), (value(*i), *version));
    }
    let page = client.list("/c/", None, 1000).await.unwrap();
    assert_eq!(page.entries.len(), 81);
    for id in 1..=3 {
        group.stop(id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_node_cannot_commit() {
    let mut group = RaftTestGroup::start(3, test_tuning()).await.unwrap();
    let client = group.client();
    group
        .wait_for_leader(None, ELECTION_LIMIT)
        .await
        .expect("a leader is elected");
    client
        .put("/before", value(0), PutOptions::ANY)
        .await
        .unwrap();

    for id in [1, 2] {
        group.stop(id).await;
    }
    let lone = RaftClientStore::connect(&[group.addr(3).unwrap()]).unwrap();
    let started = Instant::now();
    let err = lone
        .put("/after", value(1), PutOptions::ANY)
        .await
        .unwrap_err();
    assert!(matches!(err, MetadataError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(15));
    let err = lone.get("/before").await.unwrap_err();
    assert!(
        matches!(err, MetadataError::Unavailable(_)),
        "linearizable read on a minority: {err:?}"
    );
    group.stop(3).await;
}
