//! The in-process single-voter Raft store (`magnetar standalone`'s metadata):
//! behaviour through the `MetadataStore` trait and durability across
//! restarts, including restarts after many snapshots and log purges.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use magnetar_metadata::raft::{EmbeddedRaft, RaftTuning};
use magnetar_metadata::{
    Expected, MetadataError, MetadataStore, PutOptions, WatchEvent, WatchTarget,
};
use tokio::time::Instant;

fn fast_tuning(snapshot_every: u64) -> RaftTuning {
    RaftTuning {
        snapshot_every,
        heartbeat_interval: Duration::from_millis(50),
        election_timeout_min: Duration::from_millis(150),
        election_timeout_max: Duration::from_millis(300),
        operation_timeout: Duration::from_secs(5),
        expiry_tick: Duration::from_millis(50),
    }
}

fn value(i: usize) -> Bytes {
    Bytes::from(format!("value-{i}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_reads_and_cas_follow_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedRaft::start(dir.path(), fast_tuning(1000))
        .await
        .unwrap();

    let v1 = store
        .put(
            "/a",
            Bytes::from_static(b"1"),
            PutOptions::expect(Expected::Absent),
        )
        .await
        .unwrap();
    assert_eq!(store.get("/a").await.unwrap().unwrap().version, v1);
    let err = store
        .put(
            "/a",
            Bytes::from_static(b"2"),
            PutOptions::expect(Expected::Absent),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MetadataError::BadVersion { .. }), "{err:?}");
    let v2 = store
        .put(
            "/a",
            Bytes::from_static(b"2"),
            PutOptions::expect(Expected::Version(v1)),
        )
        .await
        .unwrap();
    assert!(v2 > v1);
    assert_eq!(store.current_revision().await.unwrap(), v2);

    store
        .put("/dir/x", Bytes::new(), PutOptions::ANY)
        .await
        .unwrap();
    store
        .put("/dir/y", Bytes::new(), PutOptions::ANY)
        .await
        .unwrap();
    let page = store.list("/dir/", None, 10).await.unwrap();
    let keys: Vec<_> = page.entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["/dir/x", "/dir/y"]);

    store.delete("/a", Expected::Version(v2)).await.unwrap();
    assert!(store.get("/a").await.unwrap().is_none());
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_replays_history_then_follows_live_changes_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedRaft::start(dir.path(), fast_tuning(1000))
        .await
        .unwrap();
    let first = store.put("/w/1", value(1), PutOptions::ANY).await.unwrap();
    store
        .put("/other", value(0), PutOptions::ANY)
        .await
        .unwrap();
    store.put("/w/2", value(2), PutOptions::ANY).await.unwrap();

    let mut watch = store
        .watch(WatchTarget::Prefix("/w/".into()), Some(first))
        .await
        .unwrap();
    let writer = async {
        for i in 3..=20 {
            store
                .put(&format!("/w/{i}"), value(i), PutOptions::ANY)
                .await
                .unwrap();
        }
        store.delete("/w/1", Expected::Any).await.unwrap();
    };
    let reader = async {
        let mut seen = Vec::new();
        while seen.len() < 21 {
            let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            seen.push(event);
        }
        seen
    };
    let ((), seen) = tokio::join!(writer, reader);
    let revisions: Vec<_> = seen.iter().map(WatchEvent::revision).collect();
    assert!(
        revisions.windows(2).all(|w| w[0] < w[1]),
        "revisions not increasing: {revisions:?}"
    );
    assert_eq!(seen[0].key(), "/w/1");
    assert_eq!(seen[1].key(), "/w/2");
    assert!(matches!(seen.last(), Some(WatchEvent::Delete { key, .. }) if key == "/w/1"));
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_many_snapshots_and_purges_keeps_every_write() {
    const SNAPSHOT_EVERY: u64 = 100;
    const WRITES: usize = 1500;
    let dir = tempfile::tempdir().unwrap();
    let mut versions = Vec::with_capacity(WRITES);
    {
        let store = EmbeddedRaft::start(dir.path(), fast_tuning(SNAPSHOT_EVERY))
            .await
            .unwrap();
        for i in 0..WRITES {
            // Overwrite a smaller key space too, so snapshots are not just appends.
            versions.push(
                store
                    .put(&format!("/k/{i:05}"), value(i), PutOptions::ANY)
                    .await
                    .unwrap(),
            );
            if i % 7 == 0 {
                store.put("/hot", value(i), PutOptions::ANY).await.unwrap();
            }
        }
        // Wait (bounded) until a snapshot covering most writes exists and the log was purged.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let metrics = store.store().node().raft().metrics().borrow().clone();
            let snapshot_index = metrics.snapshot.map_or(0, |id| id.index);
            let purged_index = metrics.purged.map_or(0, |id| id.index);
            if snapshot_index >= 10 * SNAPSHOT_EVERY && purged_index > 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no snapshot/purge: snapshot={snapshot_index} purged={purged_index}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        store.shutdown().await;
    }
    assert!(dir.path().join("snapshot").join("snapshot.bin").exists());

    let store = EmbeddedRaft::start(dir.path(), fast_tuning(SNAPSHOT_EVERY))
        .await
        .unwrap();
    for (i, version) in versions.iter().enumerate() {
        let found = store
            .get(&format!("/k/{i:05}"))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("key {i} lost"));
        assert_eq!(found.value, value(i));
        assert_eq!(found.version, *version);
    }
    let hot = store.get("/hot").await.unwrap().unwrap();
    assert_eq!(hot.value, value((WRITES - 1) / 7 * 7));
    let revision = store.current_revision().await.unwrap();
    let next = store
        .put("/after-restart", value(0), PutOptions::ANY)
        .await
        .unwrap();
    assert!(next > revision && revision >= *versions.last().unwrap());
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_deletes_its_ephemeral_keys_and_keepalive_prevents_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedRaft::start(dir.path(), fast_tuning(1000))
        .await
        .unwrap();
    let kept = store
        .create_session(Duration::from_millis(600))
        .await
        .unwrap();
    let dropped = store
        .create_session(Duration::from_millis(300))
        .await
        .unwrap();
    store
        .put(
            "/eph/kept",
            value(1),
            PutOptions::ephemeral(Expected::Absent, kept),
        )
        .await
        .unwrap();
    store
        .put(
            "/eph/dropped",
            value(2),
            PutOptions::ephemeral(Expected::Absent, dropped),
        )
        .await
        .unwrap();
    let mut watch = store
        .watch(WatchTarget::Key("/eph/dropped".into()), None)
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(5);
    while store.get("/eph/dropped").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "session never expired");
        store.keep_alive(kept).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(event, WatchEvent::Delete { ref key, .. } if key == "/eph/dropped"),
        "{event:?}"
    );
    assert!(store.get("/eph/kept").await.unwrap().is_some());
    let err = store.keep_alive(dropped).await.unwrap_err();
    assert_eq!(err, MetadataError::SessionExpired(dropped));
    store.revoke_session(kept).await.unwrap();
    assert!(store.get("/eph/kept").await.unwrap().is_none());
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_returns_a_trait_object_that_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedRaft::start(dir.path(), fast_tuning(1000))
            .await
            .unwrap();
        store
            .put("/durable", value(7), PutOptions::ANY)
            .await
            .unwrap();
        store.shutdown().await;
    }
    let store = EmbeddedRaft::open(dir.path()).await.unwrap();
    assert_eq!(
        store.get("/durable").await.unwrap().unwrap().value,
        value(7)
    );
}
