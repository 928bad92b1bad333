//! Deduplication over raw frames: a resent sequence id is answered without
//! being stored, PRODUCER_SUCCESS carries the last stored sequence id, and
//! both survive a restart of the broker, from the snapshot in the
//! `pulsar.dedup` cursor plus a replay of the entries after it. A topic
//! that goes quiet is snapshotted after the snapshot interval.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    error_code, producer_success, publish_frame, start_broker_over, topic, RawClient, WAIT,
};
use magnetar_bookie::testing::MemoryLedgerStore;
use magnetar_broker::managed_ledger::{StoredCursor, CURSOR_ROOT};
use magnetar_broker::namespace::TopicName;
use magnetar_broker::producer::SNAPSHOT_INTERVAL;
use magnetar_broker::{BrokerServiceConfig, BrokerServiceHandle};
use magnetar_metadata::{MemoryStore, MetadataStore};
use magnetar_proto::pulsar::api::command_subscribe::SubType;
use magnetar_proto::pulsar::api::*;

async fn start(
    metadata: &Arc<MemoryStore>,
    ledgers: &Arc<MemoryLedgerStore>,
) -> BrokerServiceHandle {
    let mut config = BrokerServiceConfig::default();
    config.topic_defaults.deduplication = true;
    start_broker_over(config, metadata, ledgers).await
}

/// A producer named `raw` (the name the test frames carry); returns the
/// last sequence id the broker reports.
async fn raw_producer(client: &mut RawClient, topic: &str) -> i64 {
    client
        .send(CommandProducer {
            topic: topic.into(),
            producer_id: 1,
            request_id: 1,
            producer_name: Some("raw".into()),
            ..Default::default()
        })
        .await;
    let reply = client.recv_command().await;
    producer_success(&reply).last_sequence_id.unwrap()
}

/// Publishes `sequence_ids` pipelined and returns whether each was stored
/// (a real message id) or answered as a duplicate.
async fn publish(client: &mut RawClient, sequence_ids: impl IntoIterator<Item = u64>) -> Vec<bool> {
    let ids: Vec<u64> = sequence_ids.into_iter().collect();
    for &sequence_id in &ids {
        client
            .send_frame(publish_frame(
                1,
                sequence_id,
                format!("m{sequence_id}").as_bytes(),
                1,
            ))
            .await;
    }
    let mut stored = Vec::new();
    for &sequence_id in &ids {
        let reply = tokio::time::timeout(WAIT, client.recv_command())
            .await
            .unwrap();
        let receipt = reply
            .send_receipt
            .as_ref()
            .unwrap_or_else(|| panic!("expected SEND_RECEIPT, got {reply:?}"));
        assert_eq!(receipt.sequence_id, sequence_id);
        stored.push(receipt.message_id.as_ref().unwrap().ledger_id != u64::MAX);
    }
    stored
}

/// Every payload stored in the topic, read by a new subscription.
async fn stored_payloads(
    broker: &BrokerServiceHandle,
    topic: &str,
    expected: usize,
) -> Vec<String> {
    let mut consumer = RawClient::connect(broker.local_addr()).await;
    consumer
        .subscribe(topic, "reader", SubType::Exclusive, 1)
        .await;
    consumer.flow(1, expected as u32 + 10).await;
    let mut payloads = Vec::new();
    while payloads.len() < expected {
        let (_, body) = tokio::time::timeout(WAIT, consumer.recv_message())
            .await
            .unwrap();
        payloads.push(String::from_utf8_lossy(&common::payload_of(&body)).into_owned());
    }
    assert!(
        consumer
            .try_recv(std::time::Duration::from_millis(300))
            .await
            .is_none(),
        "more than {expected} messages stored"
    );
    payloads
}

#[tokio::test]
async fn resent_sequence_ids_are_not_stored_again_even_after_a_restart() {
    let metadata = Arc::new(MemoryStore::new());
    let ledgers = Arc::new(MemoryLedgerStore::new());
    let broker = start(&metadata, &ledgers).await;
    let topic = topic("dedup-resend");
    let mut client = RawClient::connect(broker.local_addr()).await;
    assert_eq!(raw_producer(&mut client, &topic).await, -1);
    assert_eq!(publish(&mut client, 0..10).await, vec![true; 10]);
    assert_eq!(publish(&mut client, [5, 9]).await, vec![false, false]);
    assert_eq!(publish(&mut client, [10]).await, vec![true]);
    drop(client);
    broker.shutdown().await;

    let broker = start(&metadata, &ledgers).await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    assert_eq!(raw_producer(&mut client, &topic).await, 10);
    assert_eq!(
        publish(&mut client, [3, 10, 11]).await,
        vec![false, false, true]
    );
    let payloads = stored_payloads(&broker, &topic, 12).await;
    let expected: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
    assert_eq!(payloads, expected);
    broker.shutdown().await;
}

#[tokio::test]
async fn recovery_reads_the_snapshot_then_replays_the_tail() {
    let metadata = Arc::new(MemoryStore::new());
    let ledgers = Arc::new(MemoryLedgerStore::new());
    let broker = start(&metadata, &ledgers).await;
    let topic = topic("dedup-snapshot");
    let total = 2 * SNAPSHOT_INTERVAL + 250;
    let mut client = RawClient::connect(broker.local_addr()).await;
    raw_producer(&mut client, &topic).await;
    for chunk in (0..total).collect::<Vec<_>>().chunks(500) {
        assert!(publish(&mut client, chunk.iter().copied())
            .await
            .iter()
            .all(|s| *s));
    }
    drop(client);
    broker.shutdown().await;

    // The snapshot: the cursor sits on the last multiple of the interval,
    // with the producer's sequence id there as its property.
    let name = TopicName::parse(&topic).unwrap().persistence_name();
    let stored = metadata
        .get(&format!("{CURSOR_ROOT}{name}/pulsar.dedup"))
        .await
        .unwrap()
        .expect("the dedup cursor is stored");
    let cursor: StoredCursor = serde_json::from_slice(&stored.value).unwrap();
    assert_eq!(
        cursor.properties.get("raw").map(String::as_str),
        Some(&*(2 * SNAPSHOT_INTERVAL - 1).to_string()),
        "{cursor:?}"
    );

    let broker = start(&metadata, &ledgers).await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    assert_eq!(raw_producer(&mut client, &topic).await, total as i64 - 1);
    assert_eq!(
        publish(&mut client, [0, SNAPSHOT_INTERVAL + 7, total - 1, total]).await,
        vec![false, false, false, true]
    );
    broker.shutdown().await;
}

/// The stored `pulsar.dedup` cursor of `topic`.
async fn dedup_cursor(metadata: &MemoryStore, topic: &str) -> Option<StoredCursor> {
    let name = TopicName::parse(topic).unwrap().persistence_name();
    let stored = metadata
        .get(&format!("{CURSOR_ROOT}{name}/pulsar.dedup"))
        .await
        .unwrap()?;
    Some(serde_json::from_slice(&stored.value).unwrap())
}

#[tokio::test]
async fn a_quiet_topic_is_snapshotted_after_the_interval() {
    let metadata = Arc::new(MemoryStore::new());
    let ledgers = Arc::new(MemoryLedgerStore::new());
    let mut config = BrokerServiceConfig::default();
    config.topic_defaults.deduplication = true;
    config.topic_defaults.deduplication_snapshot_interval = Some(Duration::from_millis(300));
    let broker = start_broker_over(config, &metadata, &ledgers).await;
    let topic = topic("dedup-quiet");
    let mut client = RawClient::connect(broker.local_addr()).await;
    raw_producer(&mut client, &topic).await;
    // Far fewer entries than the count interval: only the quiet snapshots.
    assert_eq!(publish(&mut client, 0..5).await, vec![true; 5]);
    let deadline = tokio::time::Instant::now() + WAIT;
    let snapshot = loop {
        let cursor = dedup_cursor(&metadata, &topic).await;
        if let Some(cursor) = cursor.filter(|c| c.properties.contains_key("raw")) {
            break cursor;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no snapshot within {WAIT:?} of the last message"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        snapshot.properties.get("raw").map(String::as_str),
        Some("4")
    );
    // The snapshot sits on the last entry: a reload replays nothing and
    // still knows the producer.
    assert_eq!(snapshot.mark_delete.entry_id, 4, "{snapshot:?}");
    drop(client);
    broker.shutdown().await;
    let broker = start(&metadata, &ledgers).await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    assert_eq!(raw_producer(&mut client, &topic).await, 4);
    assert_eq!(publish(&mut client, [4, 5]).await, vec![false, true]);
    broker.shutdown().await;
}

#[tokio::test]
async fn the_dedup_cursor_is_not_a_subscription() {
    let broker = start(
        &Arc::new(MemoryStore::new()),
        &Arc::new(MemoryLedgerStore::new()),
    )
    .await;
    let topic = topic("dedup-reserved");
    let mut client = RawClient::connect(broker.local_addr()).await;
    raw_producer(&mut client, &topic).await;
    client
        .send(CommandSubscribe {
            topic: topic.clone(),
            subscription: "pulsar.dedup".into(),
            sub_type: SubType::Shared as i32,
            consumer_id: 5,
            request_id: 77,
            ..Default::default()
        })
        .await;
    let reply = client.recv_command().await;
    assert_eq!(error_code(&reply), ServerError::NotAllowedError);
    assert_eq!(reply.error.map(|e| e.request_id), Some(77));
    broker.shutdown().await;
}
