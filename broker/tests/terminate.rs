//! Terminated topics, in process over the in-memory stores, with a
//! raw-frame client and the admin API: producers are closed and refused,
//! sends racing the termination are stored before the terminated position
//! or refused, every subscription (and a reader) gets all messages and then
//! REACHED_END_OF_TOPIC once, and a broker restarted over the same stores
//! finds the topic still terminated. Also the admin API's answers for an
//! unknown topic, a partitioned topic and a repeated termination.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use magnetar_bookie::testing::MemoryLedgerStore;
use magnetar_broker::topic::TopicName;
use magnetar_metadata::MemoryStore;
use magnetar_proto::pulsar::api::command_ack::AckType;
use magnetar_proto::pulsar::api::command_subscribe::SubType;
use magnetar_proto::pulsar::api::*;
use serde_json::{json, Value};

/// How long to wait for a frame that must not come.
const QUIET: Duration = Duration::from_millis(300);

/// The admin path of a `persistent://public/default/...` topic.
fn admin_path(topic: &str) -> String {
    format!(
        "/admin/v2/persistent/{}",
        topic.trim_start_matches("persistent://")
    )
}

fn id_json(id: &MessageIdData) -> Value {
    json!({"ledgerId": id.ledger_id, "entryId": id.entry_id, "partitionIndex": -1})
}

/// Subscribes `consumer_id` on its own connection (from the earliest
/// message; `durable: false` makes it a reader) with permits for 100.
async fn consumer(addr: SocketAddr, topic: &str, subscription: &str, durable: bool) -> RawClient {
    let mut client = RawClient::connect(addr).await;
    client
        .send(CommandSubscribe {
            topic: topic.into(),
            subscription: subscription.into(),
            sub_type: SubType::Exclusive as i32,
            consumer_id: 1,
            request_id: 1,
            initial_position: Some(command_subscribe::InitialPosition::Earliest as i32),
            durable: Some(durable),
            start_message_id: (!durable).then(|| MessageIdData {
                ledger_id: u64::MAX,
                entry_id: u64::MAX,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    let reply = client.recv_command().await;
    assert!(reply.success.is_some(), "subscribe: {reply:?}");
    client.flow(1, 100).await;
    client
}

/// Receives `count` messages; acknowledges each when `ack`. Returns their
/// payloads.
async fn receive(client: &mut RawClient, count: usize, ack: bool) -> Vec<String> {
    let mut payloads = Vec::new();
    for _ in 0..count {
        let (message, body) = client.recv_message().await;
        payloads.push(String::from_utf8_lossy(&payload_of(&body)).into_owned());
        if ack {
            client
                .send(CommandAck {
                    consumer_id: 1,
                    ack_type: AckType::Individual as i32,
                    message_id: vec![message.message_id],
                    ..Default::default()
                })
                .await;
        }
    }
    payloads
}

/// The next command is REACHED_END_OF_TOPIC for consumer 1, and no second
/// one follows.
async fn expect_end_of_topic(client: &mut RawClient) {
    let reply = client.recv_command().await;
    let end = reply
        .reached_end_of_topic
        .clone()
        .unwrap_or_else(|| panic!("expected REACHED_END_OF_TOPIC, got {reply:?}"));
    assert_eq!(end.consumer_id, 1);
    assert!(client.try_recv(QUIET).await.is_none(), "told only once");
}

fn numbered(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("m{i}")).collect()
}

/// Asks for a producer and returns the error code it is refused with.
async fn refused_producer(client: &mut RawClient, topic: &str, producer_id: u64) -> ServerError {
    client
        .send(CommandProducer {
            topic: topic.into(),
            producer_id,
            request_id: 100 + producer_id,
            ..Default::default()
        })
        .await;
    error_code(&client.recv_command().await)
}

#[tokio::test]
async fn a_terminated_topic_refuses_producers_ends_subscriptions_and_survives_a_restart() {
    let (metadata, ledgers) = (
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryLedgerStore::new()),
    );
    let node = AdminNode::start(&metadata, &ledgers).await;
    let addr = node.broker.local_addr();
    let topic = topic("terminate");
    let path = admin_path(&topic);
    let mut producer = RawClient::connect(addr).await;
    producer.create_producer(&topic, 1).await;
    let ids = producer.publish_numbered(1, 5).await;
    let mut before = consumer(addr, &topic, "before", true).await;
    assert_eq!(receive(&mut before, 5, false).await, numbered(5));

    let (status, body) = node.http("POST", &format!("{path}/terminate"), "").await;
    assert_eq!((status, &body), (200, &id_json(&ids[4])));

    // The producer is closed; a send on it and a new producer are refused.
    let close = producer.recv_command().await.close_producer;
    assert_eq!(close.map(|c| c.producer_id), Some(1));
    producer.publish(1, 5, b"late", 1).await;
    let send_error = producer
        .recv_command()
        .await
        .send_error
        .expect("SEND_ERROR");
    assert_eq!(
        (send_error.sequence_id, send_error.error),
        (5, ServerError::TopicTerminatedError as i32)
    );
    assert_eq!(
        refused_producer(&mut producer, &topic, 2).await,
        ServerError::TopicTerminatedError
    );

    // Not before everything is acknowledged; then once.
    assert!(before.try_recv(QUIET).await.is_none());
    for id in &ids {
        before
            .send(CommandAck {
                consumer_id: 1,
                ack_type: AckType::Individual as i32,
                message_id: vec![id.clone()],
                ..Default::default()
            })
            .await;
    }
    expect_end_of_topic(&mut before).await;
    // Subscribing after the termination: the messages, then the end.
    let mut after = consumer(addr, &topic, "after", true).await;
    assert_eq!(receive(&mut after, 5, true).await, numbered(5));
    expect_end_of_topic(&mut after).await;
    // A reader has everything once it has read everything.
    let mut reader = consumer(addr, &topic, "reader", false).await;
    assert_eq!(receive(&mut reader, 5, false).await, numbered(5));
    expect_end_of_topic(&mut reader).await;

    let (status, again) = node.http("POST", &format!("{path}/terminate"), "").await;
    assert_eq!((status, again), (200, body.clone()), "idempotent");
    let (_, internal) = node.http("GET", &format!("{path}/internalStats"), "").await;
    assert_eq!(internal["state"], "Terminated", "{internal}");
    drop((producer, before, after, reader));
    node.stop().await;

    let node = AdminNode::start(&metadata, &ledgers).await;
    let addr = node.broker.local_addr();
    let mut producer = RawClient::connect(addr).await;
    assert_eq!(
        refused_producer(&mut producer, &topic, 1).await,
        ServerError::TopicTerminatedError
    );
    let mut fresh = consumer(addr, &topic, "after-restart", true).await;
    assert_eq!(receive(&mut fresh, 5, true).await, numbered(5));
    expect_end_of_topic(&mut fresh).await;
    // A subscription that had everything before the restart hears it at once.
    let mut before = consumer(addr, &topic, "before", true).await;
    expect_end_of_topic(&mut before).await;
    let (status, again) = node.http("POST", &format!("{path}/terminate"), "").await;
    assert_eq!((status, again), (200, body));
    node.stop().await;
}

#[tokio::test]
async fn sends_racing_the_termination_are_stored_before_it_or_refused() {
    let (metadata, ledgers) = (
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryLedgerStore::new()),
    );
    let node = AdminNode::start(&metadata, &ledgers).await;
    let topic = topic("terminate-race");
    let mut producer = RawClient::connect(node.broker.local_addr()).await;
    producer.create_producer(&topic, 1).await;
    producer.publish_numbered(1, 1).await;
    const SENDS: u64 = 50;
    for sequence_id in 1..=SENDS {
        producer.publish(1, sequence_id, b"racing", 1).await;
    }
    let loaded = node
        .broker
        .topics()
        .get(&TopicName::parse(&topic).unwrap())
        .expect("loaded");
    let terminated = loaded.terminate().await.unwrap();

    // Every send is answered, in order: receipts first, then refusals.
    let (mut receipts, mut refused, mut closed) = (Vec::new(), Vec::new(), false);
    while receipts.len() + refused.len() < SENDS as usize {
        let reply = producer.recv_command().await;
        if let Some(receipt) = reply.send_receipt {
            assert!(refused.is_empty(), "a receipt after a refusal");
            receipts.push(receipt);
        } else if let Some(error) = reply.send_error {
            assert_eq!(error.error, ServerError::TopicTerminatedError as i32);
            refused.push(error.sequence_id);
        } else if reply.close_producer.is_some() {
            closed = true;
        } else {
            panic!("unexpected {reply:?}");
        }
    }
    assert!(closed || producer.recv_command().await.close_producer.is_some());
    let sequences: Vec<u64> = receipts
        .iter()
        .map(|r| r.sequence_id)
        .chain(refused.iter().copied())
        .collect();
    assert_eq!(sequences, (1..=SENDS).collect::<Vec<_>>());
    // Nothing was stored after the terminated position.
    let last_stored = receipts
        .last()
        .and_then(|r| r.message_id.clone())
        .map(|id| (id.ledger_id, id.entry_id as i64));
    let ledger = loaded.ledger();
    assert_eq!(
        ledger.last_confirmed().map(|p| (p.ledger_id, p.entry_id)),
        Some((terminated.ledger_id, terminated.entry_id))
    );
    if let Some(last) = last_stored {
        assert_eq!(last, (terminated.ledger_id, terminated.entry_id));
    }
    node.stop().await;
}

#[tokio::test]
async fn admin_terminate_answers_as_pulsar_does() {
    let (metadata, ledgers) = (
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryLedgerStore::new()),
    );
    let node = AdminNode::start(&metadata, &ledgers).await;
    let base = "/admin/v2/persistent/public/default";

    let (status, body) = node
        .http("POST", &format!("{base}/nowhere/terminate"), "")
        .await;
    assert_eq!(status, 404, "{body}");

    let (status, _) = node.http("PUT", &format!("{base}/empty"), "").await;
    assert_eq!(status, 204);
    let (status, body) = node
        .http("POST", &format!("{base}/empty/terminate"), "")
        .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"ledgerId": -1, "entryId": -1, "partitionIndex": -1})
        )
    );

    let (status, _) = node
        .http("PUT", &format!("{base}/parts/partitions"), "2")
        .await;
    assert_eq!(status, 204);
    let (status, body) = node
        .http("POST", &format!("{base}/parts/terminate"), "")
        .await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(
        body["reason"],
        "Termination of a partitioned topic is not allowed"
    );
    let (status, body) = node
        .http("POST", &format!("{base}/parts/terminate/partitions"), "")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "0": {"ledgerId": -1, "entryId": -1, "partitionIndex": 0},
            "1": {"ledgerId": -1, "entryId": -1, "partitionIndex": 1},
        })
    );
    let mut client = RawClient::connect(node.broker.local_addr()).await;
    assert_eq!(
        refused_producer(
            &mut client,
            "persistent://public/default/parts-partition-1",
            1
        )
        .await,
        ServerError::TopicTerminatedError
    );
    let (status, _) = node
        .http("POST", &format!("{base}/empty/terminate/partitions"), "")
        .await;
    assert_eq!(status, 404);
    node.stop().await;
}
