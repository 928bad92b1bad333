//! Auditor and worker together against fake bookies and the in-memory
//! metadata store: a bookie that was gone before the auditor started is
//! found by its startup check, and its entries are re-replicated.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use magnetar_metadata::{Expected, MemoryStore, MetadataStore};
use tokio_util::sync::CancellationToken;

use super::auditor::Auditor;
use super::worker::ReplicationWorker;
use super::AutoRecoveryConfig;
use crate::client::fake_bookie::FakeCluster;
use crate::client::{ClientConfig, LedgerClient, LedgerState};
use crate::keys::{marker_key, AUDITOR_ELECTION_KEY, AVAILABLE_BOOKIES_PREFIX};
use crate::ledger::{LedgerOptions, LedgerStore};

const DELAY: Duration = Duration::from_millis(500);

fn config() -> AutoRecoveryConfig {
    AutoRecoveryConfig {
        lost_bookie_recovery_delay: DELAY,
        open_ledger_rereplication_grace: Duration::from_millis(500),
        retry_interval: Duration::from_millis(200),
        ..AutoRecoveryConfig::default()
    }
}

fn client_config() -> ClientConfig {
    ClientConfig {
        add_timeout: Duration::from_millis(500),
        speculative_read_timeout: Duration::from_millis(50),
        read_timeout: Duration::from_millis(500),
        ..ClientConfig::default()
    }
}

#[tokio::test]
async fn a_bookie_lost_before_the_auditor_started_is_rereplicated_after_the_delay() {
    let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let cluster = FakeCluster::start(4, Duration::from_millis(2), &store).await;
    let client = LedgerClient::with_connector(store.clone(), client_config(), cluster.clone());
    let options = LedgerOptions {
        ensemble_size: 3,
        write_quorum: 2,
        ack_quorum: 2,
        password: Bytes::from_static(b"pw"),
        custom: BTreeMap::new(),
    };
    let writer = client.create(options).await.unwrap();
    for i in 0..30 {
        writer
            .append(Bytes::from(format!("entry-{i}")))
            .await
            .unwrap();
    }
    writer.close().await.unwrap();
    let ledger_id = writer.id();
    let dead = client
        .ledger_metadata(ledger_id)
        .await
        .unwrap()
        .metadata
        .segments[0]
        .ensemble[1]
        .clone();
    cluster.get(&dead).set_down(true);
    store
        .delete(&format!("{AVAILABLE_BOOKIES_PREFIX}{dead}"), Expected::Any)
        .await
        .unwrap();

    let started = Instant::now();
    let cancel = CancellationToken::new();
    let session_ttl = Duration::from_secs(2);
    let auditor = Auditor::new(store.clone(), "auditor".into(), config(), session_ttl);
    let worker = ReplicationWorker::new(client.clone(), "worker".into(), config(), session_ttl);
    let tasks = [
        tokio::spawn(auditor.run(cancel.clone())),
        tokio::spawn(worker.run(cancel.clone())),
    ];

    let deadline = started + Duration::from_secs(20);
    let metadata = loop {
        let current = client.ledger_metadata(ledger_id).await.unwrap().metadata;
        if !current.references(&dead) {
            break current;
        }
        assert!(
            Instant::now() < deadline,
            "not re-replicated: {:?}",
            current.segments
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        started.elapsed() >= DELAY,
        "marked before the recovery delay"
    );
    let marker_deadline = Instant::now() + Duration::from_secs(5);
    while store.get(&marker_key(ledger_id)).await.unwrap().is_some() {
        assert!(Instant::now() < marker_deadline, "marker not removed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_eq!(
        (metadata.state, metadata.last_entry_id),
        (LedgerState::Closed, 29)
    );
    let quorum = metadata.quorum();
    for entry_id in 0..=29 {
        let ensemble = metadata.ensemble_for(entry_id);
        for index in quorum.write_set(entry_id) {
            let bookie = cluster.get(&ensemble[index]);
            assert!(
                bookie.has_entry(ledger_id as i64, entry_id),
                "{} lacks entry {entry_id}",
                ensemble[index]
            );
        }
    }

    cancel.cancel();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
    assert!(
        store.get(AUDITOR_ELECTION_KEY).await.unwrap().is_none(),
        "auditor resigned"
    );
}
