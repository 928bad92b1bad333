//! Garbage collection: deleted ledgers go away, entry logs are compacted,
//! live entries read back byte-identical.

mod server_common;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use magnetar_bookie::digest::decode_entry;
use magnetar_bookie::node::StartOptions;
use magnetar_metadata::{Expected, MemoryStore, MetadataStore, PutOptions};
use magnetar_proto::bookie::StatusCode;
use server_common::*;

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                dir_size(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

#[tokio::test]
async fn gc_drops_deleted_ledgers_and_shrinks_entry_logs() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let mut config = test_config(dir.path());
    // Small entry logs, so the ledgers spread over many of them.
    config.entry_log_max_file_size = 256 * 1024;
    // A fixed bookie id: the restart below must pass the cookie check.
    config.advertised_address = Some("bookie-gc:3181".to_string());
    let bookie = start(config.clone(), StartOptions::with_metadata(store.clone())).await;
    let mut client = connect(bookie.local_addr()).await;
    let k = key("pw");
    const LEDGERS: i64 = 20;
    const ENTRIES: i64 = 40;

    tracing::info!("phase: write interleaved ledgers and checkpoint them");
    for ledger_id in 1..=LEDGERS {
        store
            .put(
                &format!("/ledgers/{ledger_id}"),
                Bytes::from_static(b"{}"),
                PutOptions::expect(Expected::Absent),
            )
            .await
            .unwrap();
    }
    for entry_id in 0..ENTRIES {
        let requests = (1..=LEDGERS)
            .map(|l| add_request(l, entry_id, &k, 0, &payload(l, entry_id, 2000)))
            .collect();
        assert!(add_all(&mut client, requests)
            .await
            .iter()
            .all(|r| r.status == 0));
        if entry_id % 10 == 9 {
            bookie.bookie().checkpoint().await.unwrap();
        }
    }
    let entry_logs = dir.path().join("entrylogs");
    let before = dir_size(&entry_logs);

    tracing::info!("phase: delete all but every fifth ledger, run gc");
    let kept: Vec<i64> = (1..=LEDGERS).filter(|l| l % 5 == 0).collect();
    for ledger_id in (1..=LEDGERS).filter(|l| !kept.contains(l)) {
        store
            .delete(&format!("/ledgers/{ledger_id}"), Expected::Any)
            .await
            .unwrap();
    }
    let report = bookie.run_gc_now().await.unwrap();
    assert_eq!(report.deleted_ledgers, (LEDGERS as usize) - kept.len());
    assert!(
        report.compacted_logs + report.deleted_logs > 0,
        "{report:?}"
    );
    let after = dir_size(&entry_logs);
    assert!(
        after * 2 < before,
        "entry logs shrank from {before} to {after} bytes"
    );

    tracing::info!("phase: kept ledgers read back byte-identical, deleted ones are gone");
    for &ledger_id in &kept {
        for entry_id in 0..ENTRIES {
            let response = read(&mut client, ledger_id, entry_id).await;
            assert_eq!(
                status(response.status),
                StatusCode::StatusOk,
                "ledger {ledger_id} entry {entry_id}"
            );
            let entry = decode_entry(&response.body).unwrap();
            assert_eq!(
                entry.payload.as_ref(),
                payload(ledger_id, entry_id, 2000).as_slice()
            );
        }
    }
    assert_eq!(
        status(read(&mut client, 1, 0).await.status),
        StatusCode::StatusNoLedger
    );
    drop(client);
    bookie.shutdown().await;

    tracing::info!("phase: after a restart the compacted locations still resolve");
    let bookie = start(config, StartOptions::with_metadata(store.clone())).await;
    let mut client = connect(bookie.local_addr()).await;
    for &ledger_id in &kept {
        let response = read(&mut client, ledger_id, ENTRIES - 1).await;
        assert_eq!(
            decode_entry(&response.body).unwrap().payload.as_ref(),
            payload(ledger_id, ENTRIES - 1, 2000).as_slice()
        );
    }
    assert_eq!(
        status(read(&mut client, 2, 0).await.status),
        StatusCode::StatusNoLedger
    );
    drop(client);
    bookie.shutdown().await;
}
