//! Managed ledger and cursor behaviour over the in-memory ledger and
//! metadata stores: ordering across rollover, reopen with fencing, cursor
//! persistence, trimming, add failures, and cache transparency (every
//! scenario also runs with the entry cache disabled).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use magnetar_bookie::testing::MemoryLedgerStore;
use magnetar_bookie::LedgerError;
use magnetar_broker::managed_ledger::{
    InitialPosition, ManagedLedgerConfig, ManagedLedgerError, ManagedLedgerFactory, Position,
    Retention,
};
use magnetar_metadata::{MemoryStore, MetadataStore};

const NAME: &str = "public/default/persistent/t1";

struct Harness {
    metadata: Arc<MemoryStore>,
    ledgers: Arc<MemoryLedgerStore>,
    config: ManagedLedgerConfig,
}

impl Harness {
    fn new(max_entries_per_ledger: u64, cache_size_bytes: usize) -> Self {
        let config = ManagedLedgerConfig {
            ensemble_size: 1,
            write_quorum: 1,
            ack_quorum: 1,
            max_entries_per_ledger,
            min_rollover_time: Duration::ZERO,
            cache_size_bytes,
            cursor_flush_interval: Duration::from_millis(20),
            ..ManagedLedgerConfig::default()
        };
        Harness {
            metadata: Arc::new(MemoryStore::new()),
            ledgers: Arc::new(MemoryLedgerStore::new()),
            config,
        }
    }

    /// A new factory over the same stores: another broker, or this one after a restart.
    fn factory(&self) -> ManagedLedgerFactory {
        let metadata: Arc<dyn MetadataStore> = self.metadata.clone();
        ManagedLedgerFactory::new(metadata, self.ledgers.clone(), self.config.clone())
    }
}

fn payload(i: usize) -> Bytes {
    Bytes::from(format!("message-{i}"))
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Cache sizes every scenario runs with: disabled, tiny, and ample.
const CACHE_SIZES: [usize; 3] = [0, 64, 1 << 20];

#[tokio::test]
async fn positions_strictly_increase_across_rollover() {
    for cache in CACHE_SIZES {
        let harness = Harness::new(5, cache);
        let ml = harness.factory().open(NAME).await.unwrap();
        let adds: Vec<_> = (0..23).map(|i| ml.add_entry(payload(i))).collect();
        let mut positions = Vec::new();
        for add in adds {
            positions.push(add.await.unwrap());
        }
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "positions must increase: {positions:?}"
        );
        let stats = ml.stats();
        assert_eq!(stats.entries, 23);
        assert_eq!(stats.ledgers, 5, "23 entries at 5 per ledger");
        for ledger_id in harness.ledgers.ledger_ids() {
            assert!(
                harness.ledgers.entry_count(ledger_id).unwrap_or(0) <= 5,
                "no ledger exceeds the limit"
            );
        }
        assert_eq!(ml.last_confirmed(), positions.last().copied());

        let cursor = ml
            .open_cursor("sub", InitialPosition::Earliest)
            .await
            .unwrap();
        let mut read = Vec::new();
        loop {
            let batch = cursor.read_entries(4, usize::MAX).await.unwrap();
            if batch.is_empty() {
                break;
            }
            read.extend(batch);
        }
        assert_eq!(
            read.iter().map(|e| e.position).collect::<Vec<_>>(),
            positions,
            "cache {cache}"
        );
        assert!(read.iter().enumerate().all(|(i, e)| e.data == payload(i)));
        assert!(!cursor.has_more_entries());
        assert_eq!(cursor.backlog(), 23);
    }
}

#[tokio::test]
async fn reopen_recovers_every_acked_entry_and_fences_the_old_owner() {
    for cache in CACHE_SIZES {
        let harness = Harness::new(4, cache);
        let old = harness.factory().open(NAME).await.unwrap();
        let mut acked = Vec::new();
        for i in 0..10 {
            acked.push(old.add_entry(payload(i)).await.unwrap());
        }
        // The old owner is not closed: a takeover must fence it.
        let new = harness.factory().open(NAME).await.unwrap();
        let late = old.add_entry(payload(99)).await;
        assert!(
            matches!(late, Err(ManagedLedgerError::Fenced { .. })),
            "old owner must be fenced, got {late:?}"
        );
        assert!(matches!(
            old.add_entry(payload(100)).await,
            Err(ManagedLedgerError::Fenced { .. })
        ));

        let cursor = new
            .open_cursor("sub", InitialPosition::Earliest)
            .await
            .unwrap();
        let entries = cursor.read_entries(100, usize::MAX).await.unwrap();
        assert_eq!(
            entries.iter().map(|e| e.position).collect::<Vec<_>>(),
            acked,
            "cache {cache}"
        );
        assert!(entries
            .iter()
            .enumerate()
            .all(|(i, e)| e.data == payload(i)));

        let next = new.add_entry(payload(10)).await.unwrap();
        assert!(next > *acked.last().unwrap());
        new.close().await.unwrap();

        // A clean reopen after close sees every entry.
        let again = harness.factory().open(NAME).await.unwrap();
        assert_eq!(again.stats().entries, 11);
        assert_eq!(again.last_confirmed(), Some(next));
    }
}

#[tokio::test]
async fn cursor_state_survives_reload() {
    let mut harness = Harness::new(3, 1 << 20);
    // Only explicit flushes persist, so the unpersisted window is deterministic.
    harness.config.cursor_flush_interval = Duration::from_secs(3600);
    let ml = harness.factory().open(NAME).await.unwrap();
    let mut positions = Vec::new();
    for i in 0..10 {
        positions.push(ml.add_entry(payload(i)).await.unwrap());
    }
    let cursor = ml
        .open_cursor("sub", InitialPosition::Earliest)
        .await
        .unwrap();
    cursor.ack_cumulative(positions[2]);
    cursor.ack_individual(&[positions[4], positions[5], positions[8]]);
    assert_eq!(cursor.mark_delete_position(), positions[2]);
    assert_eq!(cursor.backlog(), 4, "3, 6, 7, 9 unacked");
    cursor.flush().await.unwrap();
    let flushed_mark_delete = cursor.mark_delete_position();
    // Acked after the flush and never persisted: may be redelivered.
    cursor.ack_individual(&[positions[3]]);
    assert_eq!(cursor.mark_delete_position(), positions[5]);

    let reloaded_ml = harness.factory().open(NAME).await.unwrap();
    let reloaded = reloaded_ml.cursor("sub").expect("cursor reloaded on open");
    assert!(reloaded.mark_delete_position() >= flushed_mark_delete);
    assert!(reloaded.mark_delete_position() <= positions[5]);
    for p in [positions[4], positions[5], positions[8]] {
        assert!(reloaded.is_acked(p), "{p} was persisted as acked");
    }
    for p in [positions[6], positions[7], positions[9]] {
        assert!(!reloaded.is_acked(p));
    }
    let redelivered: Vec<Position> = reloaded
        .read_entries(100, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(
        redelivered,
        vec![positions[3], positions[6], positions[7], positions[9]]
    );
}

#[tokio::test]
async fn trimming_removes_consumed_ledgers_only() {
    for cache in CACHE_SIZES {
        let harness = Harness::new(3, cache);
        let ml = harness.factory().open(NAME).await.unwrap();
        let cursor = ml
            .open_cursor("sub", InitialPosition::Earliest)
            .await
            .unwrap();
        let mut positions = Vec::new();
        for i in 0..10 {
            positions.push(ml.add_entry(payload(i)).await.unwrap());
        }
        // Ledgers: [0..3) [3..6) [6..9) [9]; consume up to entry 6.
        let first_ledgers: Vec<u64> = positions.iter().map(|p| p.ledger_id).collect();
        cursor.ack_cumulative(positions[6]);
        wait_until("trim", || ml.stats().ledgers == 2).await;
        for consumed in [first_ledgers[0], first_ledgers[3]] {
            wait_until("ledger deletion", || !harness.ledgers.contains(consumed)).await;
        }
        assert!(
            harness.ledgers.contains(positions[6].ledger_id),
            "holds unacked entries 7 and 8"
        );
        assert!(
            harness.ledgers.contains(positions[9].ledger_id),
            "the current ledger stays"
        );

        // Consuming everything never removes the current ledger.
        cursor.ack_cumulative(positions[9]);
        wait_until("trim to the current ledger", || ml.stats().ledgers == 1).await;
        assert!(harness.ledgers.contains(positions[9].ledger_id));
        assert_eq!(cursor.backlog(), 0);
        let next = ml.add_entry(payload(10)).await.unwrap();
        let read = cursor.read_entries(10, usize::MAX).await.unwrap();
        assert_eq!(
            read.iter().map(|e| e.position).collect::<Vec<_>>(),
            vec![next],
            "cache {cache}"
        );
    }
}

#[tokio::test]
async fn add_failure_rolls_to_a_new_ledger() {
    let harness = Harness::new(1000, 0);
    let ml = harness.factory().open(NAME).await.unwrap();
    let first = ml.add_entry(payload(0)).await.unwrap();
    harness
        .ledgers
        .fail_next_append(LedgerError::NotEnoughBookies {
            needed: 1,
            available: 0,
        });
    let failed = ml.add_entry(payload(1)).await;
    assert!(
        matches!(failed, Err(ManagedLedgerError::WriteFailed { .. })),
        "{failed:?}"
    );
    let after = ml.add_entry(payload(2)).await.unwrap();
    assert!(
        after.ledger_id > first.ledger_id,
        "the failed ledger is rolled over"
    );
    let cursor = ml
        .open_cursor("sub", InitialPosition::Earliest)
        .await
        .unwrap();
    let data: Vec<Bytes> = cursor
        .read_entries(10, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(data, vec![payload(0), payload(2)]);
}

#[tokio::test]
async fn tailing_readers_wake_on_new_entries() {
    let harness = Harness::new(1000, 0);
    let ml = harness.factory().open(NAME).await.unwrap();
    let cursor = ml
        .open_cursor("tail", InitialPosition::Latest)
        .await
        .unwrap();
    let mut watch = ml.watch_last_confirmed();
    assert!(!cursor.has_more_entries());
    let writer = ml.clone();
    let add = tokio::spawn(async move { writer.add_entry(payload(1)).await });
    tokio::time::timeout(Duration::from_secs(5), watch.changed())
        .await
        .unwrap()
        .unwrap();
    let position = add.await.unwrap().unwrap();
    assert_eq!(*watch.borrow(), Some(position));
    let read = cursor.read_entries(10, usize::MAX).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].data, payload(1));
}

#[tokio::test]
async fn closed_ledger_rejects_adds_and_delete_removes_everything() {
    let harness = Harness::new(2, 1 << 20);
    let factory = harness.factory();
    let ml = factory.open(NAME).await.unwrap();
    for i in 0..5 {
        ml.add_entry(payload(i)).await.unwrap();
    }
    ml.open_cursor("sub", InitialPosition::Earliest)
        .await
        .unwrap();
    assert_eq!(
        factory.list("public/default/").await.unwrap(),
        vec![NAME.to_string()]
    );
    ml.close().await.unwrap();
    assert!(matches!(
        ml.add_entry(payload(9)).await,
        Err(ManagedLedgerError::Closed { .. })
    ));

    factory.delete(NAME).await.unwrap();
    assert!(factory.list("public/default/").await.unwrap().is_empty());
    assert!(
        harness.ledgers.ledger_ids().is_empty(),
        "all ledgers deleted"
    );
    assert!(matches!(
        factory.delete(NAME).await,
        Err(ManagedLedgerError::NoSuchManagedLedger(_))
    ));
}

#[tokio::test]
async fn retention_keeps_consumed_ledgers_until_released() {
    let harness = Harness::new(3, 1 << 20);
    let forever = Retention {
        time: None,
        size_bytes: None,
    };
    let ml = harness.factory().open_with(NAME, forever).await.unwrap();
    let cursor = ml
        .open_cursor("sub", InitialPosition::Earliest)
        .await
        .unwrap();
    let mut positions = Vec::new();
    for i in 0..10 {
        positions.push(ml.add_entry(payload(i)).await.unwrap());
    }
    cursor.ack_cumulative(positions[9]);
    // Several maintenance passes: nothing consumed goes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ml.stats().ledgers, 4, "kept by retention");

    // A cursor moved back into a kept ledger needs it: no later trim may
    // take it, whatever its last persisted position said.
    cursor.reset_to(positions[4]);
    ml.set_retention(Retention::default());
    wait_until("trim below the reset position", || ml.stats().ledgers == 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ml.stats().ledgers, 3, "the reset cursor's ledger stays");
    let read = cursor.read_entries(1, usize::MAX).await.unwrap();
    assert_eq!(read[0].position, positions[4]);

    // A size limit releases the oldest consumed ledgers first.
    cursor.ack_cumulative(positions[9]);
    ml.set_retention(Retention {
        time: None,
        size_bytes: Some(payload(0).len() as u64 * 3),
    });
    wait_until("trim to the size limit", || ml.stats().ledgers == 2).await;
}

#[tokio::test]
async fn a_deleted_cursor_never_fences_its_ledger() {
    let harness = Harness::new(10, 1 << 20);
    let ml = harness.factory().open(NAME).await.unwrap();
    let cursor = ml
        .open_cursor("sub", InitialPosition::Earliest)
        .await
        .unwrap();
    let position = ml.add_entry(payload(0)).await.unwrap();
    ml.delete_cursor("sub").await.unwrap();
    // An admin request still holding the cursor acks and flushes it.
    cursor.ack_cumulative(position);
    cursor.flush().await.unwrap();
    assert!(ml.add_entry(payload(1)).await.is_ok(), "still writable");
}

#[tokio::test]
async fn termination_ends_the_log_for_good_across_a_reopen() {
    let harness = Harness::new(3, 0);
    let ml = harness.factory().open(NAME).await.unwrap();
    // Keeps every ledger from trimming.
    ml.open_cursor("keep", InitialPosition::Earliest)
        .await
        .unwrap();
    // Adds accepted before the terminate settle first (pipelined, and
    // across a rollover); every later add fails.
    let adds: Vec<_> = (0..5).map(|i| ml.add_entry(payload(i))).collect();
    let terminated = ml.terminate().await.unwrap();
    let mut positions = Vec::new();
    for add in adds {
        positions.push(add.await.unwrap());
    }
    assert_eq!(Some(&terminated), positions.last());
    assert_eq!(ml.terminated_at(), Some(terminated));
    assert!(matches!(
        ml.add_entry(payload(9)).await,
        Err(ManagedLedgerError::Terminated { .. })
    ));
    assert_eq!(ml.terminate().await.unwrap(), terminated, "idempotent");
    ml.close().await.unwrap();

    let ml = harness.factory().open(NAME).await.unwrap();
    assert_eq!(ml.terminated_at(), Some(terminated));
    assert_eq!(ml.last_confirmed(), Some(terminated));
    assert_eq!(
        ml.ledgers().last().map(|l| l.0),
        Some(terminated.ledger_id),
        "no new ledger after the terminated one"
    );
    assert!(matches!(
        ml.add_entry(payload(10)).await,
        Err(ManagedLedgerError::Terminated { .. })
    ));
    let cursor = ml
        .open_cursor("late", InitialPosition::Earliest)
        .await
        .unwrap();
    let read: Vec<Bytes> = cursor
        .read_entries(100, 1 << 20)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(read, (0..5).map(payload).collect::<Vec<_>>());
    assert_eq!(ml.terminate().await.unwrap(), terminated);
}

#[tokio::test]
async fn an_empty_log_terminates_before_its_first_entry() {
    let harness = Harness::new(10, 0);
    let ml = harness.factory().open(NAME).await.unwrap();
    let terminated = ml.terminate().await.unwrap();
    assert_eq!(terminated.entry_id, -1);
    assert_eq!(ml.last_confirmed(), None);
    ml.close().await.unwrap();
    let ml = harness.factory().open(NAME).await.unwrap();
    assert_eq!(ml.terminated_at(), Some(terminated));
    assert!(matches!(
        ml.add_entry(payload(0)).await,
        Err(ManagedLedgerError::Terminated { .. })
    ));
}
