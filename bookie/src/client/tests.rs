//! Unit tests of the client logic against fake bookies and the in-memory
//! metadata store: ordering, ensemble changes, fencing, recovery, close.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use magnetar_metadata::memory::MemoryStore;
use magnetar_metadata::MetadataStore;
use magnetar_proto::bookie::StatusCode;

use crate::client::fake_bookie::FakeCluster;
use crate::client::metadata::LedgerState;
use crate::client::write_set::Quorum;
use crate::client::{ClientConfig, LedgerClient};
use crate::ledger::{EntryId, LedgerError, LedgerOptions, LedgerStore, OpenMode};

pub(super) const PASSWORD: &[u8] = b"secret";

pub(super) fn options(ensemble: u32, write: u32, ack: u32) -> LedgerOptions {
    LedgerOptions {
        ensemble_size: ensemble,
        write_quorum: write,
        ack_quorum: ack,
        password: Bytes::from_static(PASSWORD),
        custom: BTreeMap::from([("topic".to_string(), "t".to_string())]),
    }
}

pub(super) fn test_config() -> ClientConfig {
    ClientConfig {
        add_timeout: Duration::from_millis(500),
        speculative_read_timeout: Duration::from_millis(50),
        read_timeout: Duration::from_millis(500),
        ..ClientConfig::default()
    }
}

struct Harness {
    metadata: Arc<dyn MetadataStore>,
    cluster: Arc<FakeCluster>,
}

impl Harness {
    async fn start(bookies: usize, max_delay: Duration) -> Self {
        let metadata: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
        let cluster = FakeCluster::start(bookies, max_delay, &metadata).await;
        Harness { metadata, cluster }
    }

    fn client(&self) -> LedgerClient {
        LedgerClient::with_connector(self.metadata.clone(), test_config(), self.cluster.clone())
    }
}

fn payload(i: usize) -> Bytes {
    Bytes::from(format!("entry-{i}"))
}

async fn ordering_holds_with_random_delays(ensemble: u32, write: u32, ack: u32) {
    let harness = Harness::start(ensemble as usize, Duration::from_millis(5)).await;
    let client = harness.client();
    let writer = client.create(options(ensemble, write, ack)).await.unwrap();
    let ledger_id = writer.id();
    let ensemble_ids = client
        .ledger_metadata(ledger_id)
        .await
        .unwrap()
        .metadata
        .last_ensemble()
        .to_vec();
    let quorum = Quorum::new(ensemble, write, ack);

    // FuturesUnordered may poll resolved futures in any order, so ordering is
    // checked through the LAC: when entry e resolves, the LAC (which the
    // writer advances one confirmed entry at a time) must already cover it.
    let mut pending: FuturesUnordered<_> = (0..200).map(|i| writer.append(payload(i))).collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut last_lac: EntryId = -1;
    while let Some(result) = pending.next().await {
        let entry_id = result.unwrap();
        assert!(seen.insert(entry_id), "entry {entry_id} confirmed twice");
        let lac = writer.last_add_confirmed();
        assert!(
            lac >= entry_id && lac >= last_lac,
            "LAC {lac} must be monotone and cover entry {entry_id}"
        );
        last_lac = lac;
        let holders = quorum
            .write_set(entry_id)
            .into_iter()
            .filter(|&index| {
                harness
                    .cluster
                    .get(&ensemble_ids[index])
                    .has_entry(ledger_id as i64, entry_id)
            })
            .count();
        assert!(
            holders >= ack as usize,
            "entry {entry_id} confirmed with {holders} < Qa copies in its write set"
        );
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        (0..200).collect::<Vec<EntryId>>()
    );
    // No bookie received an entry outside its write sets.
    for (index, bookie) in ensemble_ids.iter().enumerate() {
        for entry_id in harness.cluster.get(bookie).entry_ids(ledger_id as i64) {
            assert!(
                quorum.holds(index, entry_id),
                "bookie {index} got entry {entry_id}"
            );
        }
    }
    let closed = writer.close().await.unwrap();
    assert_eq!(closed.last_entry_id, 199);
    let reader = client
        .open(
            ledger_id,
            Bytes::from_static(PASSWORD),
            OpenMode::NoRecovery,
        )
        .await
        .unwrap();
    let entries = reader.read(0, 199).await.unwrap();
    assert!(entries
        .iter()
        .enumerate()
        .all(|(i, entry)| *entry == payload(i)));
    assert_eq!(
        closed.length,
        entries.iter().map(|e| e.len() as u64).sum::<u64>()
    );
}

#[tokio::test]
async fn confirmations_are_ordered_without_striping() {
    ordering_holds_with_random_delays(3, 3, 2).await;
}

#[tokio::test]
async fn confirmations_are_ordered_with_striping() {
    ordering_holds_with_random_delays(5, 3, 2).await;
}

#[tokio::test]
async fn create_validates_quorum_and_bookie_count() {
    let harness = Harness::start(2, Duration::ZERO).await;
    let client = harness.client();
    assert!(matches!(
        client.create(options(2, 3, 2)).await,
        Err(LedgerError::InvalidQuorum { .. })
    ));
    assert!(matches!(
        client.create(options(2, 2, 0)).await,
        Err(LedgerError::InvalidQuorum { .. })
    ));
    assert_eq!(
        client.create(options(3, 3, 2)).await.err(),
        Some(LedgerError::NotEnoughBookies {
            needed: 3,
            available: 2
        })
    );
    let first = client.create(options(2, 2, 1)).await.unwrap();
    let second = client.create(options(2, 2, 1)).await.unwrap();
    assert!(second.id() > first.id());
    let metadata = client.ledger_metadata(first.id()).await.unwrap().metadata;
    assert_eq!(metadata.state, LedgerState::Open);
    assert_eq!(metadata.custom.get("topic").map(String::as_str), Some("t"));
}

#[tokio::test]
async fn failed_bookie_is_replaced_and_pending_entries_resent() {
    let harness = Harness::start(4, Duration::from_millis(2)).await;
    let client = harness.client();
    let writer = client.create(options(3, 3, 2)).await.unwrap();
    let ledger_id = writer.id();
    for i in 0..20 {
        writer.append(payload(i)).await.unwrap();
    }
    let ensemble = client
        .ledger_metadata(ledger_id)
        .await
        .unwrap()
        .metadata
        .last_ensemble()
        .to_vec();
    let victim = ensemble[1].clone();
    harness.cluster.get(&victim).set_down(true);
    let pending: Vec<_> = (20..60).map(|i| writer.append(payload(i))).collect();
    for (i, result) in futures::future::join_all(pending)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(result, Ok(20 + i as EntryId));
    }
    let metadata = client.ledger_metadata(ledger_id).await.unwrap().metadata;
    assert_eq!(metadata.segments.len(), 2, "{metadata:?}");
    // Keyed at LAC + 1 when the failure was handled: entries confirmed by the
    // two live bookies before that stay in the first segment.
    let key = metadata.segments[1].first_entry_id;
    assert!((20..=59).contains(&key), "new segment keyed at {key}");
    assert!(!metadata.last_ensemble().contains(&victim));
    let closed = writer.close().await.unwrap();
    assert_eq!(closed.last_entry_id, 59);
    let reader = client
        .open(
            ledger_id,
            Bytes::from_static(PASSWORD),
            OpenMode::NoRecovery,
        )
        .await
        .unwrap();
    let entries = reader.read(0, 59).await.unwrap();
    assert!(entries
        .iter()
        .enumerate()
        .all(|(i, entry)| *entry == payload(i)));
}

#[tokio::test]
async fn read_only_answer_triggers_an_ensemble_change() {
    let harness = Harness::start(3, Duration::ZERO).await;
    let client = harness.client();
    let writer = client.create(options(2, 2, 2)).await.unwrap();
    let ensemble = client
        .ledger_metadata(writer.id())
        .await
        .unwrap()
        .metadata
        .last_ensemble()
        .to_vec();
    harness
        .cluster
        .get(&ensemble[0])
        .fail_adds_with(Some(StatusCode::StatusReadOnly));
    assert_eq!(writer.append(payload(0)).await, Ok(0));
    let metadata = client.ledger_metadata(writer.id()).await.unwrap().metadata;
    assert_eq!(
        metadata.segments.len(),
        1,
        "nothing was confirmed, so the segment is replaced in place"
    );
    assert!(!metadata.last_ensemble().contains(&ensemble[0]));
}

#[tokio::test]
async fn a_bookie_that_never_answers_is_replaced_after_the_add_timeout() {
    let harness = Harness::start(3, Duration::ZERO).await;
    let client = harness.client();
    // Qa = Qw: the add cannot be confirmed without the hung bookie.
    let writer = client.create(options(2, 2, 2)).await.unwrap();
    assert_eq!(writer.append(payload(0)).await, Ok(0));
    let ensemble = client
        .ledger_metadata(writer.id())
        .await
        .unwrap()
        .metadata
        .last_ensemble()
        .to_vec();
    harness.cluster.get(&ensemble[1]).set_silent(true);
    let started = std::time::Instant::now();
    let add = tokio::time::timeout(Duration::from_secs(10), writer.append(payload(1)));
    assert_eq!(add.await, Ok(Ok(1)), "the hung bookie was not replaced");
    let waited = started.elapsed();
    assert!(
        waited >= test_config().add_timeout,
        "confirmed after {waited:?}, before the hung bookie could time out"
    );
    let metadata = client.ledger_metadata(writer.id()).await.unwrap().metadata;
    assert!(!metadata.last_ensemble().contains(&ensemble[1]));
    assert_eq!(
        metadata.segments.len(),
        2,
        "entry 0 stays on the old ensemble"
    );
    // The replacement holds the re-sent entry.
    let replacement = metadata
        .last_ensemble()
        .iter()
        .find(|id| !ensemble.contains(id))
        .unwrap()
        .clone();
    assert!(harness
        .cluster
        .get(&replacement)
        .has_entry(writer.id() as i64, 1));
}

#[tokio::test]
async fn no_replacement_fails_the_writer() {
    let harness = Harness::start(3, Duration::ZERO).await;
    let client = harness.client();
    // Qa = Qw: the add cannot complete without the failed bookie.
    let writer = client.create(options(3, 3, 3)).await.unwrap();
    writer.append(payload(0)).await.unwrap();
    harness.cluster.get("fake-0").set_down(true);
    assert!(matches!(
        writer.append(payload(1)).await,
        Err(LedgerError::NotEnoughBookies { .. })
    ));
    assert!(matches!(
        writer.append(payload(2)).await,
        Err(LedgerError::NotEnoughBookies { .. })
    ));
}

#[tokio::test]
async fn recovery_fences_the_writer_and_keeps_confirmed_entries() {
    let harness = Harness::start(3, Duration::from_millis(2)).await;
    let writer_client = harness.client();
    let writer = writer_client.create(options(3, 3, 2)).await.unwrap();
    let ledger_id = writer.id();
    for i in 0..10 {
        writer.append(payload(i)).await.unwrap();
    }
    let last_confirmed = writer.last_add_confirmed();

    let recoverer = harness.client();
    let reader = recoverer
        .open(ledger_id, Bytes::from_static(PASSWORD), OpenMode::Recover)
        .await
        .unwrap();
    let closed = reader.closed().expect("recovery closes the ledger");
    assert!(closed.last_entry_id >= last_confirmed);
    assert_eq!(
        writer.append(payload(99)).await,
        Err(LedgerError::Fenced(ledger_id))
    );
    let entries = reader.read(0, closed.last_entry_id).await.unwrap();
    assert_eq!(entries[..10], (0..10).map(payload).collect::<Vec<_>>()[..]);
    let metadata = recoverer.ledger_metadata(ledger_id).await.unwrap().metadata;
    assert_eq!(metadata.state, LedgerState::Closed);
    assert_eq!(
        metadata.length,
        entries.iter().map(|e| e.len() as u64).sum::<u64>()
    );
    // The fenced writer's close agrees with the recovered state.
    assert_eq!(
        writer.close().await.map(|c| c.last_entry_id),
        Ok(closed.last_entry_id)
    );
}

#[tokio::test]
async fn recovery_finds_entries_written_beyond_the_lac() {
    // Only one bookie of three stores entry 5 (not confirmed): recovery must
    // still end at a consistent point and re-replicate what it found.
    let harness = Harness::start(3, Duration::ZERO).await;
    let client = harness.client();
    let writer = client.create(options(3, 3, 2)).await.unwrap();
    let ledger_id = writer.id();
    for i in 0..5 {
        writer.append(payload(i)).await.unwrap();
    }
    let ensemble = client
        .ledger_metadata(ledger_id)
        .await
        .unwrap()
        .metadata
        .last_ensemble()
        .to_vec();
    harness
        .cluster
        .get(&ensemble[1])
        .fail_adds_with(Some(StatusCode::StatusTooManyRequests));
    harness
        .cluster
        .get(&ensemble[2])
        .fail_adds_with(Some(StatusCode::StatusTooManyRequests));
    let stuck = writer.append(payload(5));
    let _ = tokio::time::timeout(Duration::from_millis(100), stuck).await;
    harness.cluster.get(&ensemble[1]).fail_adds_with(None);
    harness.cluster.get(&ensemble[2]).fail_adds_with(None);

    let reader = harness
        .client()
        .open(ledger_id, Bytes::from_static(PASSWORD), OpenMode::Recover)
        .await
        .unwrap();
    let last = reader.closed().unwrap().last_entry_id;
    assert!(last == 4 || last == 5, "recovered last entry {last}");
    assert_eq!(
        reader.read(0, last).await.unwrap().len() as EntryId,
        last + 1
    );
}

#[tokio::test]
async fn concurrent_recoverers_converge() {
    let harness = Harness::start(3, Duration::from_millis(3)).await;
    let client = harness.client();
    let writer = client.create(options(3, 3, 2)).await.unwrap();
    let ledger_id = writer.id();
    for i in 0..30 {
        writer.append(payload(i)).await.unwrap();
    }
    let (first, second) = (harness.client(), harness.client());
    let password = Bytes::from_static(PASSWORD);
    let (a, b) = tokio::join!(
        first.open(ledger_id, password.clone(), OpenMode::Recover),
        second.open(ledger_id, password.clone(), OpenMode::Recover),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.closed(), b.closed());
    assert!(a.closed().unwrap().last_entry_id >= 29);
    assert_eq!(a.read(0, 29).await.unwrap(), b.read(0, 29).await.unwrap());
}

#[tokio::test]
async fn non_recovering_reader_sees_lac_and_never_fences() {
    let harness = Harness::start(3, Duration::ZERO).await;
    let client = harness.client();
    let writer = client.create(options(3, 2, 2)).await.unwrap();
    let ledger_id = writer.id();
    for i in 0..5 {
        writer.append(payload(i)).await.unwrap();
    }
    let reader = client
        .open(
            ledger_id,
            Bytes::from_static(PASSWORD),
            OpenMode::NoRecovery,
        )
        .await
        .unwrap();
    // Entry 4's confirmation travels piggybacked on the next add only.
    assert_eq!(reader.readable_up_to(), 3);
    assert!(matches!(
        reader.read(0, 4).await,
        Err(LedgerError::BeyondLac {
            entry_id: 4,
            lac: 3
        })
    ));
    writer.append(payload(5)).await.unwrap();
    assert_eq!(reader.refresh_lac().await.unwrap(), 4);
    assert_eq!(reader.read(4, 4).await.unwrap(), vec![payload(4)]);
    assert_eq!(
        writer.append(payload(6)).await,
        Ok(6),
        "the reader must not fence"
    );
    assert!(reader.closed().is_none());
}

#[tokio::test]
async fn close_rules_and_passwords() {
    let harness = Harness::start(3, Duration::ZERO).await;
    let client = harness.client();
    let writer = client.create(options(3, 3, 2)).await.unwrap();
    let ledger_id = writer.id();
    writer.append(payload(0)).await.unwrap();
    let wrong = client
        .open(ledger_id, Bytes::from_static(b"wrong"), OpenMode::Recover)
        .await;
    assert_eq!(wrong.err(), Some(LedgerError::Unauthorized(ledger_id)));
    let closed = writer.close().await.unwrap();
    assert_eq!(
        (closed.last_entry_id, closed.length),
        (0, payload(0).len() as u64)
    );
    assert_eq!(
        writer.close().await,
        Ok(closed),
        "closing twice returns the same state"
    );
    assert_eq!(
        writer.append(payload(1)).await,
        Err(LedgerError::Closed(ledger_id))
    );
    let reader = client
        .open(ledger_id, Bytes::from_static(PASSWORD), OpenMode::Recover)
        .await
        .unwrap();
    assert_eq!(
        reader.closed(),
        Some(closed),
        "recovering a closed ledger changes nothing"
    );
    client.delete(ledger_id).await.unwrap();
    assert_eq!(
        client.delete(ledger_id).await,
        Err(LedgerError::NoSuchLedger(ledger_id))
    );
    let gone = client
        .open(
            ledger_id,
            Bytes::from_static(PASSWORD),
            OpenMode::NoRecovery,
        )
        .await;
    assert_eq!(gone.err(), Some(LedgerError::NoSuchLedger(ledger_id)));
}

#[tokio::test]
async fn fenced_answer_fails_all_pending_adds() {
    let harness = Harness::start(3, Duration::ZERO).await;
    let client = harness.client();
    let writer = client.create(options(3, 3, 3)).await.unwrap();
    writer.append(payload(0)).await.unwrap();
    harness
        .cluster
        .get("fake-2")
        .fail_adds_with(Some(StatusCode::StatusFenced));
    let pending: Vec<_> = (1..4).map(|i| writer.append(payload(i))).collect();
    for result in futures::future::join_all(pending).await {
        assert_eq!(result, Err(LedgerError::Fenced(writer.id())));
    }
    assert_eq!(
        writer.append(payload(9)).await,
        Err(LedgerError::Fenced(writer.id()))
    );
    assert_eq!(writer.last_add_confirmed(), 0);
}

#[tokio::test]
async fn ensemble_change_after_recovery_started_fails_with_fenced() {
    let harness = Harness::start(4, Duration::ZERO).await;
    let client = harness.client();
    // Qa = Qw: no add can complete without the bookie that goes down.
    let writer = client.create(options(3, 3, 3)).await.unwrap();
    let ledger_id = writer.id();
    writer.append(payload(0)).await.unwrap();
    // Another client moved the ledger to IN_RECOVERY (without fencing yet).
    let store = client.metadata_store();
    let current = store.read(ledger_id).await.unwrap();
    store
        .update(ledger_id, current, |m| {
            let mut next = m.clone();
            next.state = LedgerState::InRecovery;
            Ok(crate::client::metadata::CasStep::Write(next))
        })
        .await
        .unwrap();
    let ensemble = store
        .read(ledger_id)
        .await
        .unwrap()
        .metadata
        .last_ensemble()
        .to_vec();
    harness.cluster.get(&ensemble[0]).set_down(true);
    assert_eq!(
        writer.append(payload(1)).await,
        Err(LedgerError::Fenced(ledger_id))
    );
}
