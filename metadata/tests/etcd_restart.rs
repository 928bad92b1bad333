//! etcd going away and coming back: calls fail fast with `Unavailable`
//! instead of hanging, recover once etcd is back on the same data, and a
//! watch resumed from the last revision it saw loses nothing.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use magnetar_metadata::testing::EtcdServer;
use magnetar_metadata::{
    EtcdOptions, Expected, MetadataError, MetadataStore, PutOptions, WatchEvent, WatchTarget,
};

const OPERATION_TIMEOUT: Duration = Duration::from_secs(2);
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_fail_fast_while_etcd_is_down_and_recover_after_restart() {
    let mut server = EtcdServer::start().await.expect("start etcd");
    let options = EtcdOptions {
        operation_timeout: OPERATION_TIMEOUT,
        ..EtcdOptions::default()
    };
    let store = server.store(Some("/restart"), options).await.unwrap();
    let prefix = "/topics/";

    tracing::info!("phase: a live watch sees a write");
    let mut watch = store
        .watch(WatchTarget::Prefix(prefix.to_string()), None)
        .await
        .unwrap();
    let v1 = store
        .put("/topics/1", Bytes::from("one"), PutOptions::ANY)
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("event in time");
    let last_seen = match first {
        Some(Ok(event)) => event.revision(),
        other => panic!("expected the first put, got {other:?}"),
    };
    assert_eq!(last_seen, v1);

    tracing::info!("phase: etcd is down");
    server.stop();
    let started = Instant::now();
    let put = store
        .put("/topics/lost", Bytes::from("x"), PutOptions::ANY)
        .await;
    assert!(
        matches!(put, Err(MetadataError::Unavailable(_))),
        "put while down: {put:?}"
    );
    let get = store.get("/topics/1").await;
    assert!(
        matches!(get, Err(MetadataError::Unavailable(_))),
        "get while down: {get:?}"
    );
    assert!(
        started.elapsed() < OPERATION_TIMEOUT * 2 + Duration::from_secs(2),
        "calls are bounded by the timeout"
    );
    let broken = tokio::time::timeout(Duration::from_secs(30), watch.next())
        .await
        .expect("the watch notices");
    assert!(
        matches!(broken, Some(Err(_)) | None),
        "the watch ends with an error: {broken:?}"
    );
    drop(watch);

    tracing::info!("phase: etcd is back on the same data");
    server.restart().await.expect("restart etcd");
    let deadline = Instant::now() + RECOVERY_DEADLINE;
    let v2 = loop {
        match store
            .put(
                "/topics/2",
                Bytes::from("two"),
                PutOptions::expect(Expected::Absent),
            )
            .await
        {
            Ok(version) => break version,
            Err(MetadataError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(error) => panic!("store did not recover: {error}"),
        }
    };
    assert!(v2 > v1);
    store
        .delete("/topics/1", Expected::Version(v1))
        .await
        .expect("data survived the restart");

    tracing::info!("phase: a resumed watch sees what happened meanwhile");
    let mut resumed = store
        .watch(WatchTarget::Prefix(prefix.to_string()), Some(last_seen + 1))
        .await
        .unwrap();
    let mut events = Vec::new();
    while events.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(10), resumed.next())
            .await
            .expect("event in time")
        {
            Some(Ok(event)) => events.push(event),
            other => panic!("resumed watch failed: {other:?}"),
        }
    }
    assert_eq!(
        events[0],
        WatchEvent::Put {
            key: "/topics/2".to_string(),
            value: Bytes::from("two"),
            version: v2
        }
    );
    assert!(matches!(&events[1], WatchEvent::Delete { key, .. } if key == "/topics/1"));
}
