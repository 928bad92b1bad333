//! Interoperability with the Rust `pulsar` client crate: batching
//! producers, Exclusive and Shared consumers, redelivery after a consumer
//! goes away.

mod common;

use std::collections::BTreeSet;

use common::*;
use futures::StreamExt;
use pulsar::consumer::{ConsumerOptions, InitialPosition};
use pulsar::message::proto::command_subscribe::SubType;
use pulsar::producer::ProducerOptions;
use pulsar::{Consumer, Pulsar, TokioExecutor};

async fn client(broker: &magnetar_broker::BrokerServiceHandle) -> Pulsar<TokioExecutor> {
    Pulsar::builder(broker.service_url(), TokioExecutor)
        .build()
        .await
        .unwrap()
}

async fn consumer(
    pulsar: &Pulsar<TokioExecutor>,
    topic: &str,
    subscription: &str,
    sub_type: SubType,
    name: &str,
) -> Consumer<Vec<u8>, TokioExecutor> {
    pulsar
        .consumer()
        .with_topic(topic)
        .with_subscription(subscription)
        .with_subscription_type(sub_type)
        .with_consumer_name(name)
        .with_options(ConsumerOptions::default().with_initial_position(InitialPosition::Earliest))
        .build()
        .await
        .unwrap()
}

/// Publishes `count` messages `m0..` in batches of 10 and waits for every receipt.
/// Publishes `m0..m{count}` in batches of 10 messages.
async fn publish(pulsar: &Pulsar<TokioExecutor>, topic: &str, count: usize) {
    publish_with(pulsar, topic, count, Some(10)).await
}

/// Publishes `m0..m{count}`, batched when `batch_size` is set, else one
/// message per entry.
async fn publish_with(
    pulsar: &Pulsar<TokioExecutor>,
    topic: &str,
    count: usize,
    batch_size: Option<u32>,
) {
    let mut producer = pulsar
        .producer()
        .with_topic(topic)
        .with_options(ProducerOptions {
            batch_size,
            ..Default::default()
        })
        .build()
        .await
        .unwrap();
    let mut receipts = Vec::new();
    for i in 0..count {
        receipts.push(producer.send_non_blocking(format!("m{i}")).await.unwrap());
    }
    if batch_size.is_some() {
        producer.send_batch().await.unwrap();
    }
    for receipt in receipts {
        tokio::time::timeout(WAIT, receipt)
            .await
            .expect("receipt timed out")
            .unwrap();
    }
}

async fn next_payload(
    consumer: &mut Consumer<Vec<u8>, TokioExecutor>,
) -> (String, pulsar::consumer::Message<Vec<u8>>) {
    let message = tokio::time::timeout(WAIT, consumer.next())
        .await
        .expect("timed out waiting for a message")
        .expect("consumer stream ended")
        .expect("consumer error");
    (
        String::from_utf8(message.payload.data.clone()).unwrap(),
        message,
    )
}

#[tokio::test]
async fn batched_messages_arrive_in_order_on_an_exclusive_subscription() {
    let broker = start_broker().await;
    let pulsar = client(&broker).await;
    let topic = topic("exclusive-batches");
    let mut consumer = consumer(&pulsar, &topic, "sub", SubType::Exclusive, "c").await;
    publish(&pulsar, &topic, 100).await;
    for i in 0..100 {
        let (payload, message) = next_payload(&mut consumer).await;
        assert_eq!(payload, format!("m{i}"));
        consumer.ack(&message).await.unwrap();
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn shared_subscription_spreads_messages_without_loss_or_duplicates() {
    let broker = start_broker().await;
    let pulsar = client(&broker).await;
    let topic = topic("shared-three");
    let mut consumers = Vec::new();
    for name in ["a", "b", "c"] {
        consumers.push(consumer(&pulsar, &topic, "shared", SubType::Shared, name).await);
    }
    const COUNT: usize = 300;
    publish(&pulsar, &topic, COUNT).await;
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for mut consumer in consumers {
        let done = done_tx.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(message)) = consumer.next().await {
                consumer.ack(&message).await.unwrap();
                if done
                    .send(String::from_utf8(message.payload.data.clone()).unwrap())
                    .is_err()
                {
                    break;
                }
            }
        }));
    }
    drop(done_tx);
    let mut seen = Vec::new();
    while seen.len() < COUNT {
        let payload = tokio::time::timeout(WAIT, done_rx.recv())
            .await
            .expect("messages missing")
            .unwrap();
        seen.push(payload);
    }
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), COUNT, "duplicates delivered");
    let expected: BTreeSet<_> = (0..COUNT).map(|i| format!("m{i}")).collect();
    assert_eq!(unique, expected);
    for task in tasks {
        task.abort();
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn exclusive_reconnect_gets_everything_after_the_last_ack() {
    let broker = start_broker().await;
    let pulsar = client(&broker).await;
    let topic = topic("exclusive-reconnect");
    // One message per entry: an ack names an entry, so acking one message
    // of a batch would acknowledge the whole batch (as in Pulsar without
    // batch-index acks), and this test is about per-message positions.
    publish_with(&pulsar, &topic, 20, None).await;
    {
        let mut first = consumer(&pulsar, &topic, "sub", SubType::Exclusive, "first").await;
        for i in 0..5 {
            let (payload, message) = next_payload(&mut first).await;
            assert_eq!(payload, format!("m{i}"));
            consumer_ack(&mut first, &message).await;
        }
        // Receives more but does not ack, then goes away.
        next_payload(&mut first).await;
        first.close().await.unwrap();
    }
    let mut second = consumer(&pulsar, &topic, "sub", SubType::Exclusive, "second").await;
    for i in 5..20 {
        let (payload, message) = next_payload(&mut second).await;
        assert_eq!(payload, format!("m{i}"));
        consumer_ack(&mut second, &message).await;
    }
    broker.shutdown().await;
}

async fn consumer_ack(
    consumer: &mut Consumer<Vec<u8>, TokioExecutor>,
    message: &pulsar::consumer::Message<Vec<u8>>,
) {
    consumer.ack(message).await.unwrap();
}
