//! Auditor and worker against fake bookies for ledgers whose metadata
//! records holes (written by hand, see [`super::hole_harness`]).

use magnetar_metadata::Expected;

use super::hole_harness::{Harness, GRACE};
use super::marker::mark_ledger_holes;
use crate::client::LedgerState;
use crate::keys::AVAILABLE_BOOKIES_PREFIX;

#[tokio::test]
async fn a_closed_ledgers_hole_is_filled_on_its_original_bookie() {
    let mut harness = Harness::new(4).await;
    // Entries 10..19 never reached fake-2 (hole 2 of the second segment).
    let ledger_id = harness.ledger(&[(0, &[]), (10, &[2])], 20, true).await;
    assert!(!harness
        .cluster
        .get("fake-2")
        .has_entry(ledger_id as i64, 10));
    // Nobody marks it: the auditor's check at election finds the holes.
    harness.start();

    let metadata = harness
        .wait_for(ledger_id, "hole not filled", |m| !m.has_holes())
        .await;
    harness.wait_unmarked(ledger_id).await;
    assert_eq!(
        metadata.segments[1].ensemble,
        ["fake-0", "fake-1", "fake-2"],
        "filled on the original bookie, not the spare"
    );
    assert!(harness
        .cluster
        .get("fake-3")
        .entry_ids(ledger_id as i64)
        .is_empty());
    assert_eq!(
        (metadata.state, metadata.last_entry_id),
        (LedgerState::Closed, 19)
    );
    harness.assert_on_write_quorum(&metadata, ledger_id, 20);
    harness.stop().await;
}

#[tokio::test]
async fn an_open_ledger_with_a_holed_tail_and_no_spare_is_never_fenced() {
    let mut harness = Harness::new(3).await;
    let ledger_id = harness.ledger(&[(0, &[2])], 10, false).await;
    // The hole's bookie is dead but still registered (its session has not
    // expired yet), then its registration goes too. No spare either way.
    harness.cluster.get("fake-2").set_down(true);
    mark_ledger_holes(&harness.store, ledger_id).await;
    harness.start();
    tokio::time::sleep(GRACE * 3 + GRACE / 2).await;
    harness
        .store
        .delete(&format!("{AVAILABLE_BOOKIES_PREFIX}fake-2"), Expected::Any)
        .await
        .unwrap();
    tokio::time::sleep(GRACE * 3 + GRACE / 2).await;

    let metadata = harness.metadata(ledger_id).await;
    assert_eq!(
        metadata.state,
        LedgerState::Open,
        "the writer's ledger was fenced"
    );
    assert_eq!(metadata.segments.len(), 1);
    assert_eq!(metadata.segments[0].holes, vec![2]);
    assert!(
        harness.marked(ledger_id).await,
        "the marker stays while the hole does"
    );
    for bookie in ["fake-0", "fake-1"] {
        assert!(
            harness.accepts_writes(bookie, ledger_id).await,
            "{bookie} fenced"
        );
    }
    harness.stop().await;
}

#[tokio::test]
async fn a_completed_hole_segment_of_an_open_ledger_is_filled_and_its_tail_left_alone() {
    let mut harness = Harness::new(3).await;
    // fake-2 missed 0..14; the writer has since gone on to a new segment at
    // 10 (still without it). Everyone is up: fake-2 is back.
    let ledger_id = harness.ledger(&[(0, &[2]), (10, &[2])], 15, false).await;
    mark_ledger_holes(&harness.store, ledger_id).await;
    harness.start();

    let metadata = harness
        .wait_for(ledger_id, "completed segment not filled", |m| {
            m.segments[0].holes.is_empty()
        })
        .await;
    let fake_2 = harness.cluster.get("fake-2");
    assert_eq!(
        fake_2.entry_ids(ledger_id as i64),
        (0..10).collect::<Vec<_>>()
    );
    assert_eq!(
        metadata.segments[0].ensemble,
        ["fake-0", "fake-1", "fake-2"]
    );
    assert_eq!(
        metadata.segments[1].holes,
        vec![2],
        "the tail is the writer's"
    );

    tokio::time::sleep(GRACE * 3).await;
    let metadata = harness.metadata(ledger_id).await;
    assert_eq!(metadata.state, LedgerState::Open);
    assert_eq!(metadata.segments[1].holes, vec![2]);
    assert_eq!(
        fake_2.entry_ids(ledger_id as i64),
        (0..10).collect::<Vec<_>>()
    );
    assert!(
        harness.marked(ledger_id).await,
        "deferred: the tail still has a hole"
    );
    assert!(harness.accepts_writes("fake-0", ledger_id).await);
    harness.stop().await;
}

#[tokio::test]
async fn an_open_tail_with_a_spare_for_the_whole_grace_is_fenced_then_repaired() {
    let mut harness = Harness::new(4).await;
    let ledger_id = harness.ledger(&[(0, &[2])], 10, false).await;
    // The writer is gone; fake-3 is a spare it never used.
    mark_ledger_holes(&harness.store, ledger_id).await;
    harness.start();
    tokio::time::sleep(GRACE * 8 / 10).await;
    assert_eq!(
        harness.metadata(ledger_id).await.state,
        LedgerState::Open,
        "fenced before the grace period"
    );

    let closed = harness
        .wait_for(ledger_id, "not fenced", |m| m.state != LedgerState::Open)
        .await;
    let metadata = harness
        .wait_for(ledger_id, "not repaired", |m| {
            m.state == LedgerState::Closed && !m.has_holes()
        })
        .await;
    harness.wait_unmarked(ledger_id).await;
    assert_eq!(
        metadata.last_entry_id, 9,
        "recovery kept every entry: {closed:?}"
    );
    harness.assert_on_write_quorum(&metadata, ledger_id, 10);
    harness.stop().await;
}
