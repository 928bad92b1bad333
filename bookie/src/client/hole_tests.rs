//! Unit tests of writing on with holes: a bookie fails and none can replace
//! it. Against fake bookies and the in-memory metadata store.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use magnetar_metadata::memory::MemoryStore;
use magnetar_metadata::{MetadataStore, PutOptions};

use crate::client::fake_bookie::FakeCluster;
use crate::client::tests::{options, test_config, PASSWORD};
use crate::client::{ClientConfig, LedgerClient, LedgerMetadata};
use crate::keys::AVAILABLE_BOOKIES_PREFIX;
use crate::ledger::{EntryId, LedgerError, LedgerStore, LedgerWriter, OpenMode};

fn config() -> ClientConfig {
    ClientConfig {
        hole_fill_interval: Duration::from_millis(50),
        ..test_config()
    }
}

struct Cluster {
    metadata: Arc<dyn MetadataStore>,
    bookies: Arc<FakeCluster>,
}

impl Cluster {
    async fn start(count: usize) -> Self {
        let metadata: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
        let bookies = FakeCluster::start(count, Duration::from_millis(2), &metadata).await;
        Cluster { metadata, bookies }
    }

    fn client(&self) -> LedgerClient {
        LedgerClient::with_connector(self.metadata.clone(), config(), self.bookies.clone())
    }

    /// The bookie comes back with its data and registers again.
    async fn restart(&self, id: &str) {
        self.bookies.get(id).set_down(false);
        let registration = serde_json::json!({ "address": id, "read_only": false }).to_string();
        self.metadata
            .put(
                &format!("{AVAILABLE_BOOKIES_PREFIX}{id}"),
                Bytes::from(registration),
                PutOptions::ANY,
            )
            .await
            .unwrap();
    }

    /// Every entry has at least `Qa` holders that the metadata names and
    /// that hold it: a confirmed entry never depends on an unnamed copy.
    fn assert_metadata_names_the_holders(
        &self,
        metadata: &LedgerMetadata,
        ledger_id: u64,
        last: EntryId,
    ) {
        for entry in 0..=last {
            let ensemble = metadata.ensemble_for(entry);
            let named = metadata.live_write_set(entry);
            let holding = named
                .iter()
                .filter(|&&index| {
                    self.bookies
                        .get(&ensemble[index])
                        .has_entry(ledger_id as i64, entry)
                })
                .count();
            assert!(
                holding >= metadata.ack_quorum as usize,
                "entry {entry}: {holding} named holders hold it: {metadata:?}"
            );
        }
    }
}

/// The current ensemble of ledger `id`.
async fn ensemble(client: &LedgerClient, id: u64) -> Vec<String> {
    let metadata = client.ledger_metadata(id).await.unwrap().metadata;
    metadata.last_ensemble().to_vec()
}

async fn append_all(writer: &Arc<dyn LedgerWriter>, range: std::ops::Range<usize>) {
    let appends: Vec<_> = range
        .clone()
        .map(|i| writer.append(Bytes::from(format!("entry-{i}"))))
        .collect();
    for (i, result) in futures::future::join_all(appends)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(result, Ok((range.start + i) as EntryId));
    }
}

#[tokio::test]
async fn losing_a_bookie_with_no_spare_leaves_a_hole_and_loses_nothing() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client();
    let writer = client.create(options(3, 3, 2)).await.unwrap();
    let id = writer.id();
    append_all(&writer, 0..20).await;
    let victim = ensemble(&client, id).await[1].clone();
    cluster.bookies.get(&victim).set_down(true);
    append_all(&writer, 20..60).await;

    let metadata = client.ledger_metadata(id).await.unwrap().metadata;
    let last = metadata.segments.last().unwrap();
    assert_eq!(last.holes, vec![1], "{metadata:?}");
    assert!(
        last.first_entry_id <= 20,
        "the hole starts where {victim} stopped: {metadata:?}"
    );
    assert_eq!(writer.health().missing_bookies, vec![victim.clone()]);
    cluster.assert_metadata_names_the_holders(&metadata, id, 59);

    // Readers and recovery never need the missing bookie.
    let other = cluster.client();
    let reader = other
        .open(id, Bytes::from_static(PASSWORD), OpenMode::Recover)
        .await
        .unwrap();
    assert_eq!(reader.closed().unwrap().last_entry_id, 59);
    let entries = reader.read(0, 59).await.unwrap();
    assert!(entries
        .iter()
        .enumerate()
        .all(|(i, e)| e.as_ref() == format!("entry-{i}").as_bytes()));
    assert!(matches!(
        writer.append(Bytes::from_static(b"late")).await,
        Err(LedgerError::Fenced(_))
    ));
}

#[tokio::test]
async fn the_hole_is_filled_when_the_bookie_registers_again() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client();
    let writer = client.create(options(3, 3, 2)).await.unwrap();
    let id = writer.id();
    append_all(&writer, 0..10).await;
    let victim = ensemble(&client, id).await[0].clone();
    cluster.bookies.get(&victim).set_down(true);
    append_all(&writer, 10..20).await;
    assert_eq!(client.writable_bookies().await.unwrap(), 2, "quarantined");

    cluster.restart(&victim).await;
    let mut filled = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if !writer.health().is_degraded() {
            filled = true;
            break;
        }
    }
    assert!(filled, "the writer never filled its hole");
    assert_eq!(client.writable_bookies().await.unwrap(), 3);
    append_all(&writer, 20..30).await;
    let metadata = client.ledger_metadata(id).await.unwrap().metadata;
    let last = metadata.segments.last().unwrap();
    assert!(
        last.holes.is_empty() && last.ensemble[0] == victim,
        "{metadata:?}"
    );
    cluster.assert_metadata_names_the_holders(&metadata, id, 29);
    assert!(
        metadata.has_holes(),
        "the earlier segment keeps its hole for auto-recovery"
    );
    // Confirmation needs two acks; the third copy may land a moment later.
    let returned = cluster.bookies.get(&victim);
    let complete = || (last.first_entry_id..30).all(|entry| returned.has_entry(id as i64, entry));
    for _ in 0..100 {
        if complete() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        complete(),
        "entries from {} on are not all on {victim}",
        last.first_entry_id
    );
}

#[tokio::test]
async fn a_second_loss_below_the_ack_quorum_fails_the_writer() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client();
    let writer = client.create(options(3, 3, 2)).await.unwrap();
    let id = writer.id();
    append_all(&writer, 0..10).await;
    let ensemble = ensemble(&client, id).await;
    cluster.bookies.get(&ensemble[0]).set_down(true);
    cluster.bookies.get(&ensemble[2]).set_down(true);
    let result = writer.append(Bytes::from_static(b"x")).await;
    assert!(
        matches!(
            result,
            Err(LedgerError::NotEnoughBookies {
                needed: 2,
                available: 1
            })
        ),
        "{result:?}"
    );
    let metadata = client.ledger_metadata(id).await.unwrap().metadata;
    assert_eq!(
        metadata.last_holes().len(),
        1,
        "one hole, judged one at a time: {metadata:?}"
    );
    cluster.assert_metadata_names_the_holders(&metadata, id, 9);
}

#[tokio::test]
async fn recovery_with_a_hole_and_the_bookie_still_down_closes_at_the_last_entry() {
    // 2/2/1: one live member per write set. The old "absent" rule would need
    // two answers and could never decide with the other bookie down.
    let cluster = Cluster::start(2).await;
    let client = cluster.client();
    let writer = client.create(options(2, 2, 1)).await.unwrap();
    let id = writer.id();
    append_all(&writer, 0..5).await;
    let victim = ensemble(&client, id).await[1].clone();
    cluster.bookies.get(&victim).set_down(true);
    append_all(&writer, 5..12).await;
    let reader = cluster
        .client()
        .open(id, Bytes::from_static(PASSWORD), OpenMode::Recover)
        .await
        .unwrap();
    assert_eq!(reader.closed().unwrap().last_entry_id, 11);
    assert_eq!(reader.read(0, 11).await.unwrap().len(), 12);
}

#[tokio::test]
async fn without_delayed_ensemble_change_the_writer_fails() {
    let cluster = Cluster::start(3).await;
    let client = LedgerClient::with_connector(
        cluster.metadata.clone(),
        ClientConfig {
            delayed_ensemble_change: false,
            ..config()
        },
        cluster.bookies.clone(),
    );
    let writer = client.create(options(3, 3, 2)).await.unwrap();
    writer.append(Bytes::from_static(b"a")).await.unwrap();
    cluster.bookies.get("fake-1").set_down(true);
    // An add may still gather Qa acks before the failure is handled; the
    // writer fails once it is.
    let mut failure = None;
    for _ in 0..20 {
        if let Err(error) = writer.append(Bytes::from_static(b"b")).await {
            failure = Some(error);
            break;
        }
    }
    assert!(
        matches!(failure, Some(LedgerError::NotEnoughBookies { .. })),
        "{failure:?}"
    );
    let metadata = client.ledger_metadata(writer.id()).await.unwrap().metadata;
    assert!(!metadata.has_holes(), "{metadata:?}");
}
