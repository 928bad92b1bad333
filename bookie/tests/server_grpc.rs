//! The bookie's gRPC behaviour: add/read round trips, pipelining, fencing,
//! master keys, limits and read-only mode.

mod server_common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use magnetar_bookie::digest::{decode_entry, encode_entry};
use magnetar_bookie::node::StartOptions;
use magnetar_bookie::server::ManualDiskProbe;
use magnetar_metadata::{MemoryStore, MetadataStore};
use magnetar_proto::bookie::{
    AddBatch, AddFlag, ForceRequest, InfoRequest, ReadLacRequest, ReadRequest, StatusCode,
};
use server_common::*;

#[tokio::test]
async fn add_then_read_round_trips_over_grpc() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let bookie = start(test_config(dir.path()), StartOptions::storage_only()).await;
    let mut client = connect(bookie.local_addr()).await;
    let k = key("pw");

    tracing::info!("phase: pipelined adds on one stream");
    let requests: Vec<_> = (0..200)
        .map(|e| add_request(1, e, &k, 0, &payload(1, e, 100 + e as usize)))
        .collect();
    let responses = add_all(&mut client, requests).await;
    for (entry_id, response) in responses.iter().enumerate() {
        assert_eq!(
            status(response.status),
            StatusCode::StatusOk,
            "{response:?}"
        );
        assert_eq!(response.entry_id, entry_id as i64);
        assert_eq!(response.ledger_id, 1);
    }

    tracing::info!("phase: reads return the exact bytes");
    for entry_id in [0, 57, 199] {
        let read = read(&mut client, 1, entry_id).await;
        assert_eq!(status(read.status), StatusCode::StatusOk);
        let decoded = decode_entry(&read.body).unwrap();
        assert_eq!(
            decoded.payload.as_ref(),
            payload(1, entry_id, 100 + entry_id as usize).as_slice()
        );
    }
    let last = read(&mut client, 1, -1).await;
    assert_eq!(status(last.status), StatusCode::StatusOk);
    assert_eq!(last.entry_id, 199);

    tracing::info!("phase: LAC is the highest piggybacked one");
    let lac = client
        .read_lac(ReadLacRequest { ledger_id: 1 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lac.lac, 198);

    tracing::info!("phase: checkpoint moves entries to the entry log; reads still work");
    bookie.bookie().checkpoint().await.unwrap();
    let read_after = read(&mut client, 1, 57).await;
    assert_eq!(
        decode_entry(&read_after.body).unwrap().payload.as_ref(),
        payload(1, 57, 157).as_slice()
    );

    tracing::info!("phase: missing ledger and missing entry");
    assert_eq!(
        status(read(&mut client, 2, 0).await.status),
        StatusCode::StatusNoLedger
    );
    assert_eq!(
        status(read(&mut client, 1, 200).await.status),
        StatusCode::StatusNoEntry
    );
    let force = client
        .force(ForceRequest { ledger_id: 1 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(force.status), StatusCode::StatusOk);
    drop(client);
    bookie.shutdown().await;
}

#[tokio::test]
async fn fenced_ledger_rejects_normal_adds_and_accepts_recovery_adds() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let bookie = start(test_config(dir.path()), StartOptions::storage_only()).await;
    let mut client = connect(bookie.local_addr()).await;
    let k = key("pw");
    assert_eq!(
        status(
            add_one(&mut client, add_request(5, 0, &k, 0, b"a"))
                .await
                .status
        ),
        StatusCode::StatusOk
    );

    tracing::info!("phase: fencing read with the wrong key is refused");
    let wrong = ReadRequest {
        ledger_id: 5,
        entry_id: -1,
        fence: true,
        master_key: key("other"),
    };
    let refused = client.read_entry(wrong).await.unwrap().into_inner();
    assert_eq!(status(refused.status), StatusCode::StatusUnauthorized);

    tracing::info!("phase: fencing read returns the last entry");
    let fence = ReadRequest {
        ledger_id: 5,
        entry_id: -1,
        fence: true,
        master_key: k.clone(),
    };
    let fenced = client.read_entry(fence).await.unwrap().into_inner();
    assert_eq!(status(fenced.status), StatusCode::StatusOk);
    assert_eq!(fenced.entry_id, 0);

    let normal = add_one(&mut client, add_request(5, 1, &k, 0, b"b")).await;
    assert_eq!(status(normal.status), StatusCode::StatusFenced);
    let recovery = add_one(
        &mut client,
        add_request(5, 1, &k, AddFlag::Recovery as u32, b"b"),
    )
    .await;
    assert_eq!(status(recovery.status), StatusCode::StatusOk);
    assert_eq!(read(&mut client, 5, -1).await.entry_id, 1);

    tracing::info!("phase: fencing an unknown ledger creates it fenced and empty");
    let fence_new = ReadRequest {
        ledger_id: 6,
        entry_id: -1,
        fence: true,
        master_key: k.clone(),
    };
    let response = client.read_entry(fence_new).await.unwrap().into_inner();
    assert_eq!(status(response.status), StatusCode::StatusNoEntry);
    let late = add_one(&mut client, add_request(6, 0, &k, 0, b"late")).await;
    assert_eq!(status(late.status), StatusCode::StatusFenced);
    drop(client);
    bookie.shutdown().await;
}

#[tokio::test]
async fn wrong_master_key_oversize_and_malformed_adds_are_refused() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let limit = config.max_entry_size;
    let bookie = start(config, StartOptions::storage_only()).await;
    let mut client = connect(bookie.local_addr()).await;
    let k = key("pw");
    assert_eq!(
        status(
            add_one(&mut client, add_request(7, 0, &k, 0, b"a"))
                .await
                .status
        ),
        StatusCode::StatusOk
    );

    let wrong_key = add_one(&mut client, add_request(7, 1, &key("nope"), 0, b"b")).await;
    assert_eq!(status(wrong_key.status), StatusCode::StatusUnauthorized);

    let big = vec![7u8; limit];
    let oversize = add_one(&mut client, add_request(7, 1, &k, 0, &big)).await;
    assert_eq!(status(oversize.status), StatusCode::StatusTooLarge);

    let mut corrupt = add_request(7, 1, &k, 0, b"payload");
    let mut body = corrupt.body.to_vec();
    let last = body.len() - 1;
    body[last] ^= 0x55;
    corrupt.body = Bytes::from(body);
    assert_eq!(
        status(add_one(&mut client, corrupt).await.status),
        StatusCode::StatusBadRequest
    );

    let mut mismatched = add_request(7, 1, &k, 0, b"payload");
    mismatched.body = encode_entry(7, 2, 0, 0, b"payload");
    assert_eq!(
        status(add_one(&mut client, mismatched).await.status),
        StatusCode::StatusBadRequest
    );

    // None of the refused adds left anything behind.
    assert_eq!(
        status(read(&mut client, 7, 1).await.status),
        StatusCode::StatusNoEntry
    );
    assert_eq!(read(&mut client, 7, -1).await.entry_id, 0);
    drop(client);
    bookie.shutdown().await;
}

/// One batch mixing good and refused adds: every add gets exactly one
/// answer, answers come in the order the adds were sent, and a refusal in
/// the middle does not hold back or fail its neighbours.
#[tokio::test]
async fn a_batch_is_answered_in_order_with_refusals_in_place() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let bookie = start(test_config(dir.path()), StartOptions::storage_only()).await;
    let mut client = connect(bookie.local_addr()).await;
    let k = key("pw");
    let mut adds: Vec<_> = (0..6)
        .map(|e| add_request(9, e, &k, 0, &payload(9, e, 64)))
        .collect();
    adds[2] = add_request(9, 2, &key("wrong"), 0, b"x");
    adds[4].body = Bytes::from_static(b"not an entry frame");
    let sent: Vec<u64> = adds.iter().map(|a| a.request_id).collect();
    let mut stream = client
        .add_entries(futures::stream::iter(vec![AddBatch { adds }]))
        .await
        .unwrap()
        .into_inner();
    let mut answers = Vec::new();
    while let Some(batch) = stream.message().await.unwrap() {
        assert!(
            !batch.responses.is_empty(),
            "an empty response batch was sent"
        );
        answers.extend(batch.responses);
    }
    let order: Vec<u64> = answers.iter().map(|a| a.request_id).collect();
    assert_eq!(order, sent, "answers in send order, one per add");
    let statuses: Vec<StatusCode> = answers.iter().map(|a| status(a.status)).collect();
    assert_eq!(
        statuses,
        vec![
            StatusCode::StatusOk,
            StatusCode::StatusOk,
            StatusCode::StatusUnauthorized,
            StatusCode::StatusOk,
            StatusCode::StatusBadRequest,
            StatusCode::StatusOk,
        ]
    );
    for entry_id in [0, 1, 3, 5] {
        let read = read(&mut client, 9, entry_id).await;
        assert_eq!(
            status(read.status),
            StatusCode::StatusOk,
            "entry {entry_id}"
        );
    }
}

/// A bookie that went read-only between two disk checks (an ENOSPC on a
/// journal write does that) looks again every second, not at its next
/// regular check, and is writable as soon as there is room.
#[tokio::test]
async fn a_read_only_bookie_checks_its_disk_every_second() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let probe = ManualDiskProbe::default();
    probe.set_used_fraction(0.5);
    let mut config = test_config(dir.path());
    config.disk_check_interval = Duration::from_secs(3600);
    let options = StartOptions::with_metadata(store).disk_probe(Arc::new(probe.clone()));
    let bookie = start(config, options).await;
    bookie.bookie().set_read_only(true);
    assert!(
        wait_for(Duration::from_secs(5), async || !bookie
            .bookie()
            .is_read_only())
        .await,
        "still read-only with the disk half empty"
    );
    bookie.shutdown().await;
}

#[tokio::test]
async fn full_disk_makes_the_bookie_read_only_until_usage_drops() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let probe = ManualDiskProbe::default();
    probe.set_used_fraction(0.5);
    let options = StartOptions::with_metadata(store.clone()).disk_probe(Arc::new(probe.clone()));
    let bookie = start(test_config(dir.path()), options).await;
    let registration_key = format!("/bookies/available/{}", bookie.bookie_id());
    let registered_read_only = |store: Arc<dyn MetadataStore>, key: String| async move {
        let value = store
            .get(&key)
            .await
            .unwrap()
            .expect("bookie is registered")
            .value;
        serde_json::from_slice::<serde_json::Value>(&value).unwrap()["read_only"]
            .as_bool()
            .unwrap()
    };
    assert!(!registered_read_only(store.clone(), registration_key.clone()).await);
    let mut client = connect(bookie.local_addr()).await;
    let k = key("pw");
    assert_eq!(
        status(
            add_one(&mut client, add_request(9, 0, &k, 0, b"a"))
                .await
                .status
        ),
        StatusCode::StatusOk
    );

    tracing::info!("phase: above the threshold the bookie turns read-only");
    probe.set_used_fraction(0.97);
    assert!(
        wait_for(Duration::from_secs(5), async || bookie
            .bookie()
            .is_read_only())
        .await
    );
    let refused = add_one(&mut client, add_request(9, 1, &k, 0, b"b")).await;
    assert_eq!(status(refused.status), StatusCode::StatusReadOnly);
    let high = add_one(
        &mut client,
        add_request(9, 1, &k, AddFlag::HighPriority as u32, b"b"),
    )
    .await;
    assert_eq!(status(high.status), StatusCode::StatusOk);
    assert_eq!(
        status(read(&mut client, 9, 0).await.status),
        StatusCode::StatusOk
    );
    let info = client
        .info(InfoRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(info.read_only);
    assert_eq!(info.bookie_id, bookie.bookie_id());
    let (s, k2) = (store.clone(), registration_key.clone());
    assert!(
        wait_for(Duration::from_secs(5), async || registered_read_only(
            s.clone(),
            k2.clone()
        )
        .await)
        .await
    );

    tracing::info!("phase: between low-water mark and threshold it stays read-only");
    probe.set_used_fraction(0.93);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(bookie.bookie().is_read_only());

    tracing::info!("phase: below the low-water mark it is writable again");
    probe.set_used_fraction(0.5);
    assert!(
        wait_for(Duration::from_secs(5), async || !bookie
            .bookie()
            .is_read_only())
        .await
    );
    assert_eq!(
        status(
            add_one(&mut client, add_request(9, 2, &k, 0, b"c"))
                .await
                .status
        ),
        StatusCode::StatusOk
    );
    let (s, k2) = (store.clone(), registration_key.clone());
    assert!(
        wait_for(Duration::from_secs(5), async || !registered_read_only(
            s.clone(),
            k2.clone()
        )
        .await)
        .await
    );
    drop(client);
    bookie.shutdown().await;
    assert!(
        store.get(&registration_key).await.unwrap().is_none(),
        "shutdown removes the registration"
    );
}

#[tokio::test]
async fn info_reports_the_add_latency_measured_in_the_bookie() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let bookie = start(test_config(dir.path()), StartOptions::storage_only()).await;
    let mut client = connect(bookie.local_addr()).await;
    let k = key("pw");
    let adds: Vec<_> = (0..10)
        .map(|e| add_request(4, e, &k, 0, &payload(4, e, 100)))
        .collect();
    assert!(add_all(&mut client, adds)
        .await
        .iter()
        .all(|r| r.status == 0));
    // A refused add is not an add that took time.
    let refused = add_one(&mut client, add_request(4, 10, &key("other"), 0, b"x")).await;
    assert_eq!(status(refused.status), StatusCode::StatusUnauthorized);

    let reset = InfoRequest {
        reset_add_latency: true,
    };
    let latency = client
        .info(reset)
        .await
        .unwrap()
        .into_inner()
        .add_latency
        .unwrap();
    assert_eq!(latency.count, 10);
    assert!(latency.p50_us > 0 && latency.p50_us <= latency.p99_us);
    assert!(latency.p99_us <= latency.max_us);
    let after_reset = client
        .info(InfoRequest::default())
        .await
        .unwrap()
        .into_inner()
        .add_latency
        .unwrap();
    assert_eq!(after_reset.count, 0);
}
