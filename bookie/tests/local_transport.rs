//! The in-process transport (`node::local`): a ledger client calling a
//! bookie of its own process directly must behave as it does over gRPC.
//! Entries it confirms are readable by a remote client, and a remote
//! recoverer's fence stops it.

mod server_common;

use std::sync::Arc;

use bytes::Bytes;
use magnetar_bookie::client::grpc::GrpcConnector;
use magnetar_bookie::client::{ClientConfig, LedgerClient};
use magnetar_bookie::node::local::LocalConnector;
use magnetar_bookie::node::StartOptions;
use magnetar_bookie::{LedgerError, LedgerOptions, LedgerStore, OpenMode};
use magnetar_metadata::{MemoryStore, MetadataStore};
use server_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_writer_is_read_and_fenced_by_a_remote_client() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let bookie = start(
        test_config(dir.path()),
        StartOptions::with_metadata(store.clone()),
    )
    .await;
    let config = ClientConfig::default();
    let connector = LocalConnector::new(
        [(bookie.bookie_id().to_string(), bookie.bookie().clone())],
        Arc::new(GrpcConnector::new(config.clone())),
    );
    let local = LedgerClient::with_connector(store.clone(), config, Arc::new(connector));
    let password = Bytes::from_static(b"local");
    let writer = local
        .create(LedgerOptions {
            ensemble_size: 1,
            write_quorum: 1,
            ack_quorum: 1,
            password: password.clone(),
            custom: Default::default(),
        })
        .await
        .unwrap();
    let payloads: Vec<Bytes> = (0..50)
        .map(|e| Bytes::from(payload(writer.id() as i64, e, 200 + e as usize)))
        .collect();
    let adds: Vec<_> = payloads.iter().map(|p| writer.append(p.clone())).collect();
    for (expected, add) in adds.into_iter().enumerate() {
        assert_eq!(add.await.unwrap(), expected as i64);
    }

    // A second client, over gRPC, takes the ledger over.
    let remote = LedgerClient::new(store.clone(), ClientConfig::default());
    let recovered = remote
        .open(writer.id(), password, OpenMode::Recover)
        .await
        .unwrap();
    let closed = recovered.closed().expect("recovery closes the ledger");
    assert_eq!(closed.last_entry_id, 49);
    let read = recovered.read(0, 49).await.unwrap();
    assert_eq!(
        read, payloads,
        "the remote client reads what the local writer wrote"
    );

    let late = writer.append(Bytes::from_static(b"after the fence")).await;
    assert!(
        matches!(late, Err(LedgerError::Fenced(_))),
        "the fenced local writer must not append: {late:?}"
    );
}
