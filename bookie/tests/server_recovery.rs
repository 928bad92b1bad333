//! Restart behaviour: journal replay, checkpoints, and torn or corrupt
//! journal tails.

mod server_common;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use magnetar_bookie::digest::decode_entry;
use magnetar_bookie::node::StartOptions;
use magnetar_proto::bookie::{ReadRequest, StatusCode};
use server_common::*;

fn journal_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(data_dir.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "journal"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn acked_entries_survive_a_restart_without_checkpoint() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let k = key("pw");
    {
        let bookie = start(test_config(dir.path()), StartOptions::storage_only()).await;
        let mut client = connect(bookie.local_addr()).await;
        // Part of ledger 1 is checkpointed, the rest only journaled.
        let first: Vec<_> = (0..50)
            .map(|e| add_request(1, e, &k, 0, &payload(1, e, 64)))
            .collect();
        assert!(add_all(&mut client, first)
            .await
            .iter()
            .all(|r| r.status == 0));
        bookie.bookie().checkpoint().await.unwrap();
        let second: Vec<_> = (50..100)
            .map(|e| add_request(1, e, &k, 0, &payload(1, e, 64)))
            .collect();
        assert!(add_all(&mut client, second)
            .await
            .iter()
            .all(|r| r.status == 0));
        let fence = ReadRequest {
            ledger_id: 2,
            entry_id: -1,
            fence: true,
            master_key: k.clone(),
        };
        assert_eq!(
            status(client.read_entry(fence).await.unwrap().into_inner().status),
            StatusCode::StatusNoEntry
        );
        drop(client);
        bookie.stop_without_checkpoint().await;
    }
    for round in 0..2 {
        tracing::info!(round, "phase: reopen and read everything back");
        let bookie = start(test_config(dir.path()), StartOptions::storage_only()).await;
        let mut client = connect(bookie.local_addr()).await;
        for entry_id in 0..100 {
            let response = read(&mut client, 1, entry_id).await;
            assert_eq!(
                status(response.status),
                StatusCode::StatusOk,
                "entry {entry_id}"
            );
            assert_eq!(
                decode_entry(&response.body).unwrap().payload.as_ref(),
                payload(1, entry_id, 64).as_slice()
            );
        }
        assert_eq!(read(&mut client, 1, -1).await.entry_id, 99);
        // The fence and the master key survived too.
        let late = add_one(&mut client, add_request(2, 0, &k, 0, b"x")).await;
        assert_eq!(status(late.status), StatusCode::StatusFenced);
        let wrong = add_one(&mut client, add_request(1, 100, &key("other"), 0, b"x")).await;
        assert_eq!(status(wrong.status), StatusCode::StatusUnauthorized);
        drop(client);
        // Round 0 replays again without checkpoint: replay is idempotent.
        bookie.stop_without_checkpoint().await;
    }
}

/// Writes ledger 3 entries 0..count, stops without checkpoint and returns
/// the journal file holding them.
async fn journal_with_entries(dir: &Path, count: i64) -> PathBuf {
    let bookie = start(test_config(dir), StartOptions::storage_only()).await;
    let mut client = connect(bookie.local_addr()).await;
    let k = key("pw");
    for entry_id in 0..count {
        // One add per stream: one record per group, records in entry order.
        let response = add_one(
            &mut client,
            add_request(3, entry_id, &k, 0, &payload(3, entry_id, 1000)),
        )
        .await;
        assert_eq!(response.status, 0);
    }
    drop(client);
    bookie.stop_without_checkpoint().await;
    journal_files(dir).pop().unwrap()
}

async fn readable_prefix(dir: &Path, count: i64) -> i64 {
    let bookie = start(test_config(dir), StartOptions::storage_only()).await;
    let mut client = connect(bookie.local_addr()).await;
    let mut prefix = 0;
    for entry_id in 0..count {
        let response = read(&mut client, 3, entry_id).await;
        match status(response.status) {
            StatusCode::StatusOk => {
                // Never corrupt: what is served decodes and is the right data.
                let entry = decode_entry(&response.body).expect("served entries pass their digest");
                assert_eq!(
                    entry.payload.as_ref(),
                    payload(3, entry_id, 1000).as_slice()
                );
                assert_eq!(prefix, entry_id, "readable entries form a prefix");
                prefix += 1;
            }
            StatusCode::StatusNoEntry => {}
            other => panic!("unexpected status {other:?} for entry {entry_id}"),
        }
    }
    drop(client);
    // No checkpoint: the next start replays the same journal file again.
    bookie.stop_without_checkpoint().await;
    prefix
}

#[tokio::test]
async fn truncated_journal_tail_recovers_to_the_last_whole_record() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_with_entries(dir.path(), 10).await;
    let len = std::fs::metadata(&journal).unwrap().len();
    // Cut the last record in half.
    OpenOptions::new()
        .write(true)
        .open(&journal)
        .unwrap()
        .set_len(len - 500)
        .unwrap();
    assert_eq!(readable_prefix(dir.path(), 10).await, 9);
    // The torn bytes were cut off the file.
    assert!(std::fs::metadata(&journal).unwrap().len() < len - 500);
    // A second restart sees the same state.
    assert_eq!(readable_prefix(dir.path(), 10).await, 9);
}

#[tokio::test]
async fn flipped_byte_in_the_journal_drops_that_record_and_the_rest_of_the_file() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_with_entries(dir.path(), 10).await;
    let mut bytes = std::fs::read(&journal).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&journal, &bytes).unwrap();
    let prefix = readable_prefix(dir.path(), 10).await;
    assert!(
        (3..=6).contains(&prefix),
        "recovered up to the record before the flipped byte, got {prefix}"
    );
}

#[tokio::test]
async fn torn_record_in_a_preallocated_journal_file_is_dropped_and_the_rest_replays() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    const FILE_SIZE: u64 = 128 * 1024;
    let mut config = test_config(dir.path());
    config.journal_max_file_size = FILE_SIZE;
    let bookie = start(config, StartOptions::storage_only()).await;
    let mut client = connect(bookie.local_addr()).await;
    let k = key("pw");
    // Add until the newest journal file is a preallocated one holding a few
    // records (its length is then the full file size, not its records').
    let mut count = 0;
    let newest = loop {
        assert!(
            count < 3000,
            "the journal never moved to a preallocated file"
        );
        let response = add_one(
            &mut client,
            add_request(3, count, &k, 0, &payload(3, count, 1000)),
        )
        .await;
        assert_eq!(response.status, 0);
        count += 1;
        let newest = journal_files(dir.path()).pop().unwrap();
        let (end, zero_filled) = records_end(&newest);
        if zero_filled && end > 3000 {
            break newest;
        }
    };
    drop(client);
    bookie.stop_without_checkpoint().await;
    // Everything written reads back after a restart that replays it all.
    assert_eq!(readable_prefix(dir.path(), count).await, count);

    // Tear the last record: its tail never reached the disk, so it is zeros.
    let (end, _) = records_end(&newest);
    let mut bytes = std::fs::read(&newest).unwrap();
    bytes[end as usize - 500..end as usize].fill(0);
    std::fs::write(&newest, &bytes).unwrap();
    assert_eq!(readable_prefix(dir.path(), count).await, count - 1);
    // A second restart sees the same state.
    assert_eq!(readable_prefix(dir.path(), count).await, count - 1);
}

/// Where the records of a journal file end, and whether zeros follow.
fn records_end(path: &Path) -> (u64, bool) {
    let outcome =
        magnetar_bookie::server::record::scan_records(path, 0, 1 << 20, |_, _| {}).unwrap();
    (outcome.valid_end, outcome.zero_filled)
}
