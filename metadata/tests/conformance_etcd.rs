//! The conformance suite against a real etcd, one etcd process per test.
//! Requires the `etcd` binary on the PATH (or `$ETCD_BIN`).

use std::sync::Arc;

use magnetar_metadata::testing::{EtcdServer, TestBackend};
use magnetar_metadata::EtcdOptions;

async fn etcd_backend() -> TestBackend {
    let server = EtcdServer::start().await.expect("start etcd");
    // A cluster prefix, so the suite also covers key prefixing.
    let store = server
        .store(Some("/cluster-under-test"), EtcdOptions::default())
        .await
        .expect("connect to etcd");
    TestBackend::with_guard(Arc::new(store), server)
}

magnetar_metadata::metadata_conformance_tests!(etcd_backend);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_under_different_prefixes_do_not_see_each_other() {
    use bytes::Bytes;
    use magnetar_metadata::{MetadataStore, PutOptions};

    let server = EtcdServer::start().await.expect("start etcd");
    let a = server
        .store(Some("/a"), EtcdOptions::default())
        .await
        .unwrap();
    let ab = server
        .store(Some("/ab"), EtcdOptions::default())
        .await
        .unwrap();
    a.put("/k", Bytes::from("from a"), PutOptions::ANY)
        .await
        .unwrap();
    ab.put("/k", Bytes::from("from ab"), PutOptions::ANY)
        .await
        .unwrap();
    assert_eq!(
        a.get("/k").await.unwrap().map(|v| v.value),
        Some(Bytes::from("from a"))
    );
    let listed = a.list("", None, 100).await.unwrap();
    assert_eq!(
        listed
            .entries
            .iter()
            .map(|(key, _)| key.as_str())
            .collect::<Vec<_>>(),
        vec!["/k"]
    );
}
