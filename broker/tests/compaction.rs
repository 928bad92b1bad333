//! Topic compaction, in process over the in-memory stores, with a
//! raw-frame client and the admin API: after a compaction a
//! `read_compacted` reader sees only the latest value per key (tombstoned
//! and keyless messages gone, batches cut down to their survivors) under
//! the original message ids, then the messages after the horizon; a
//! broker restarted over the same stores still has the compacted view; a
//! second compaction replaces the first (and deletes its ledger), and
//! deleting the topic deletes the compacted ledger too. Also
//! the admin API's answers and the refusal of `read_compacted` on Shared.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use common::*;
use magnetar_bookie::testing::MemoryLedgerStore;
use magnetar_bookie::{LedgerStore, OpenMode};
use magnetar_broker::compaction::COMPACTION_CURSOR;
use magnetar_broker::topic::{is_internal_cursor, TopicName};
use magnetar_metadata::MemoryStore;
use magnetar_proto::pulsar::api::command_subscribe::{InitialPosition, SubType};
use magnetar_proto::pulsar::api::*;
use magnetar_proto::pulsar::{encode_body, split_body, Frame, PayloadFrame};
use prost::Message as _;
use serde_json::Value;

/// Compacts `topic` on `node`, to the end.
async fn compact(node: &AdminNode, topic: &str) {
    let name = TopicName::parse(topic).unwrap();
    let loaded = node.broker.topics().get_or_load(&name).await.unwrap();
    loaded.compaction().run().await.unwrap();
}

/// A message with `key` (a tombstone when `value` is empty).
fn keyed(sequence_id: u64, key: Option<&str>, value: &str) -> Frame {
    let metadata = MessageMetadata {
        producer_name: "raw".into(),
        sequence_id,
        publish_time: 1,
        partition_key: key.map(str::to_string),
        ..Default::default()
    };
    frame(sequence_id, 1, encode_body(&metadata, value.as_bytes()))
}

/// A batch of keyed messages.
fn batch(sequence_id: u64, messages: &[(&str, &str)]) -> Frame {
    let mut payload = BytesMut::new();
    for (key, value) in messages {
        let single = SingleMessageMetadata {
            partition_key: Some(key.to_string()),
            payload_size: value.len() as i32,
            ..Default::default()
        };
        payload.put_u32(single.encoded_len() as u32);
        payload.put_slice(&single.encode_to_vec());
        payload.put_slice(value.as_bytes());
    }
    let metadata = MessageMetadata {
        producer_name: "raw".into(),
        sequence_id,
        publish_time: 1,
        num_messages_in_batch: Some(messages.len() as i32),
        ..Default::default()
    };
    frame(
        sequence_id,
        messages.len() as i32,
        encode_body(&metadata, &payload),
    )
}

fn frame(sequence_id: u64, count: i32, body: Bytes) -> Frame {
    let send = CommandSend {
        producer_id: 1,
        sequence_id,
        num_messages: Some(count),
        ..Default::default()
    };
    Frame::Payload(PayloadFrame::new(send.into(), body))
}

/// Sends `frame` and returns its message id.
async fn publish(client: &mut RawClient, frame: Frame) -> (u64, u64) {
    client.send_frame(frame).await;
    let reply = client.recv_command().await;
    let id = reply
        .send_receipt
        .and_then(|r| r.message_id)
        .unwrap_or_else(|| panic!("expected SEND_RECEIPT"));
    (id.ledger_id, id.entry_id)
}

/// The `(key, value)` messages of a delivered body.
fn messages_of(body: &Bytes) -> Vec<(String, String)> {
    let metadata = magnetar_proto::pulsar::decode_metadata(body).unwrap();
    let (_, payload) = split_body(body).unwrap();
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    let Some(count) = metadata.num_messages_in_batch else {
        return vec![(metadata.partition_key.unwrap_or_default(), text(&payload))];
    };
    let mut rest = &payload[..];
    (0..count)
        .map(|_| {
            let size = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let single = SingleMessageMetadata::decode(&rest[4..4 + size]).unwrap();
            let value = text(&rest[4 + size..4 + size + single.payload_size as usize]);
            rest = &rest[4 + size + single.payload_size as usize..];
            (single.partition_key.unwrap_or_default(), value)
        })
        .collect()
}

/// Delivered entries: each one's id and `(key, value)` messages.
type Received = Vec<((u64, u64), Vec<(String, String)>)>;

/// A `read_compacted` reader from the earliest message: what it receives
/// in `expected` messages.
async fn read_compacted(addr: SocketAddr, topic: &str, expected: usize) -> (RawClient, Received) {
    let mut client = RawClient::connect(addr).await;
    client
        .send(CommandSubscribe {
            topic: topic.into(),
            subscription: format!("reader-{}", rand::random::<u32>()),
            sub_type: SubType::Exclusive as i32,
            consumer_id: 1,
            request_id: 1,
            durable: Some(false),
            read_compacted: Some(true),
            start_message_id: Some(MessageIdData {
                ledger_id: u64::MAX,
                entry_id: u64::MAX,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    let reply = client.recv_command().await;
    assert!(reply.success.is_some(), "subscribe: {reply:?}");
    client.flow(1, 1000).await;
    let mut received = Vec::new();
    for _ in 0..expected {
        let (message, body) = client.recv_message().await;
        received.push((
            (message.message_id.ledger_id, message.message_id.entry_id),
            messages_of(&body),
        ));
    }
    assert!(
        client
            .try_recv(std::time::Duration::from_millis(300))
            .await
            .is_none(),
        "nothing more"
    );
    (client, received)
}

fn kv(key: &str, value: &str) -> Vec<(String, String)> {
    vec![(key.to_string(), value.to_string())]
}

#[tokio::test]
async fn compacted_reads_survive_a_restart_and_a_second_compaction_replaces_the_first() {
    let metadata = Arc::new(MemoryStore::new());
    let ledgers = Arc::new(MemoryLedgerStore::new());
    let node = AdminNode::start(&metadata, &ledgers).await;
    let topic = topic("compaction");
    let mut producer = RawClient::connect(node.broker.local_addr()).await;
    producer.create_producer(&topic, 1).await;
    let mut ids = Vec::new();
    for (sequence, frame) in [
        keyed(0, Some("a"), "1"),
        keyed(1, Some("b"), "1"),
        keyed(2, Some("a"), "2"),
        keyed(3, Some("c"), "1"),
        keyed(4, Some("b"), ""),
        keyed(5, None, "keyless"),
        batch(6, &[("d", "1"), ("a", "3")]),
        keyed(8, Some("e"), "1"),
        keyed(9, Some("d"), "2"),
    ]
    .into_iter()
    .enumerate()
    {
        ids.push(publish(&mut producer, frame).await);
        let _ = sequence;
    }
    compact(&node, &topic).await;
    // After the horizon: read from the topic itself.
    ids.push(publish(&mut producer, keyed(10, Some("f"), "1")).await);
    ids.push(publish(&mut producer, keyed(11, Some("a"), "4")).await);

    let expected = vec![
        (ids[3], kv("c", "1")),
        (ids[6], kv("a", "3")),
        (ids[7], kv("e", "1")),
        (ids[8], kv("d", "2")),
        (ids[9], kv("f", "1")),
        (ids[10], kv("a", "4")),
    ];
    let (_reader, received) = read_compacted(node.broker.local_addr(), &topic, 6).await;
    assert_eq!(received, expected);

    // Shared and Key_Shared may not read compacted.
    let mut shared = RawClient::connect(node.broker.local_addr()).await;
    shared
        .send(CommandSubscribe {
            topic: topic.clone(),
            subscription: "shared".into(),
            sub_type: SubType::Shared as i32,
            consumer_id: 1,
            request_id: 1,
            read_compacted: Some(true),
            ..Default::default()
        })
        .await;
    let reply = shared.recv_command().await;
    assert_eq!(error_code(&reply), ServerError::NotAllowedError);
    assert!(reply
        .error
        .unwrap()
        .message
        .contains("Exclusive and Failover"));

    // The compaction cursor is the broker's own: no subscription.
    assert!(is_internal_cursor(COMPACTION_CURSOR));
    let (status, stats) = node
        .http(
            "GET",
            &format!(
                "/admin/v2/persistent/{}/stats",
                &topic["persistent://".len()..]
            ),
            "",
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        stats["subscriptions"].get(COMPACTION_CURSOR).is_none(),
        "{stats}"
    );
    node.stop().await;

    // A restart over the same stores keeps the compacted view.
    let node = AdminNode::start(&metadata, &ledgers).await;
    let (_reader, received) = read_compacted(node.broker.local_addr(), &topic, 6).await;
    assert_eq!(received, expected);
    let loaded = node
        .broker
        .topics()
        .get_or_load(&TopicName::parse(&topic).unwrap())
        .await
        .unwrap();
    let first = loaded.compaction().view().current().unwrap().info();

    // A second compaction replaces the first; its ledger is deleted.
    let mut producer = RawClient::connect(node.broker.local_addr()).await;
    producer.create_producer(&topic, 1).await;
    ids.push(publish(&mut producer, keyed(12, Some("a"), "5")).await);
    ids.push(publish(&mut producer, keyed(13, Some("c"), "")).await);
    compact(&node, &topic).await;
    let second = loaded.compaction().view().current().unwrap().info();
    assert_ne!(second.ledger_id, first.ledger_id);
    assert_eq!(second.horizon.entry_id as u64, ids[12].1);
    assert!(ledgers
        .open(first.ledger_id, Bytes::new(), OpenMode::NoRecovery)
        .await
        .is_err());
    let (mut reader, received) = read_compacted(node.broker.local_addr(), &topic, 4).await;
    assert_eq!(
        received,
        vec![
            (ids[7], kv("e", "1")),
            (ids[8], kv("d", "2")),
            (ids[9], kv("f", "1")),
            (ids[11], kv("a", "5")),
        ]
    );
    // The topic's last entry is a tombstone the view has not: the reader
    // is told the view's last message, so it knows it has everything.
    let last = reader.last_message_id(1).await.last_message_id;
    assert_eq!((last.ledger_id, last.entry_id), ids[11]);

    // A durable read_compacted subscription created at Earliest reads the
    // view too.
    let mut durable = RawClient::connect(node.broker.local_addr()).await;
    durable
        .send(CommandSubscribe {
            topic: topic.clone(),
            subscription: "table".into(),
            sub_type: SubType::Failover as i32,
            consumer_id: 1,
            request_id: 1,
            read_compacted: Some(true),
            initial_position: Some(InitialPosition::Earliest as i32),
            ..Default::default()
        })
        .await;
    assert!(durable.recv_command().await.success.is_some());
    durable.flow(1, 100).await;
    let mut seen = Vec::new();
    while seen.len() < 4 {
        match durable.recv().await {
            Frame::Payload(PayloadFrame { command, .. }) => {
                let id = command.message.unwrap().message_id;
                seen.push((id.ledger_id, id.entry_id));
            }
            // ACTIVE_CONSUMER_CHANGE (Failover).
            Frame::Command(_) => {}
        }
    }
    assert_eq!(seen, vec![ids[7], ids[8], ids[9], ids[11]]);

    // Deleting the topic deletes its compacted ledger too.
    drop((durable, reader, producer));
    let (status, reply) = node
        .http(
            "DELETE",
            &format!(
                "/admin/v2/persistent/{}?force=true",
                &topic["persistent://".len()..]
            ),
            "",
        )
        .await;
    assert_eq!(status, 204, "{reply}");
    assert!(
        ledgers
            .open(second.ledger_id, Bytes::new(), OpenMode::NoRecovery)
            .await
            .is_err(),
        "the compacted ledger {} outlived its topic",
        second.ledger_id
    );
    node.stop().await;
}

#[tokio::test]
async fn admin_api_triggers_reports_and_refuses_bad_input() {
    let metadata = Arc::new(MemoryStore::new());
    let ledgers = Arc::new(MemoryLedgerStore::new());
    let node = AdminNode::start(&metadata, &ledgers).await;
    let topic = topic("compaction-admin");
    let path = format!(
        "/admin/v2/persistent/{}/compaction",
        &topic["persistent://".len()..]
    );
    let mut producer = RawClient::connect(node.broker.local_addr()).await;
    producer.create_producer(&topic, 1).await;
    publish(&mut producer, keyed(0, Some("a"), "1")).await;

    assert_eq!(
        node.http("GET", &path, "").await,
        (
            200,
            serde_json::json!({"status": "NOT_RUN", "lastError": ""})
        )
    );
    assert_eq!(node.http("PUT", &path, "").await.0, 204);
    let mut status = Value::Null;
    for _ in 0..100 {
        status = node.http("GET", &path, "").await.1;
        if status["status"] == "SUCCESS" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status["status"], "SUCCESS", "{status}");

    // A topic that does not exist.
    let (code, _) = node
        .http(
            "PUT",
            "/admin/v2/persistent/public/default/nowhere/compaction",
            "",
        )
        .await;
    assert_eq!(code, 404);
    // A partitioned topic: every partition is compacted; its status is
    // asked of each partition.
    let (code, _) = node
        .http(
            "PUT",
            "/admin/v2/persistent/public/default/parted/partitions",
            "2",
        )
        .await;
    assert_eq!(code, 204);
    assert_eq!(
        node.http(
            "PUT",
            "/admin/v2/persistent/public/default/parted/compaction",
            ""
        )
        .await
        .0,
        204
    );
    assert_eq!(
        node.http(
            "GET",
            "/admin/v2/persistent/public/default/parted/compaction",
            ""
        )
        .await
        .0,
        405
    );
    let (code, _) = node
        .http(
            "GET",
            "/admin/v2/persistent/public/default/parted-partition-1/compaction",
            "",
        )
        .await;
    assert_eq!(code, 200);

    // The namespace threshold.
    let threshold = "/admin/v2/namespaces/public/default/compactionThreshold";
    assert_eq!(node.http("GET", threshold, "").await, (200, Value::Null));
    assert_eq!(node.http("POST", threshold, "-1").await.0, 400);
    assert_eq!(node.http("POST", threshold, "\"x\"").await.0, 400);
    assert_eq!(node.http("POST", threshold, "1048576").await.0, 204);
    assert_eq!(
        node.http("GET", threshold, "").await,
        (200, serde_json::json!(1048576))
    );
    assert_eq!(node.http("DELETE", threshold, "").await.0, 204);
    assert_eq!(node.http("GET", threshold, "").await, (200, Value::Null));
    node.stop().await;
}
