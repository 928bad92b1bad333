//! The Rust `pulsar` crate against a real `magnetar standalone`.

use std::collections::HashSet;
use std::time::Duration;

use futures::TryStreamExt;
use magnetar_tests::Standalone;
use pulsar::consumer::InitialPosition;
use pulsar::{producer, ConsumerOptions, ProducerOptions, Pulsar, SubType, TokioExecutor};

async fn client(url: &str) -> Pulsar<TokioExecutor> {
    Pulsar::builder(url, TokioExecutor)
        .build()
        .await
        .expect("connect")
}

async fn subscribe(
    client: &Pulsar<TokioExecutor>,
    topic: &str,
    subscription: &str,
    sub_type: SubType,
) -> pulsar::Consumer<Vec<u8>, TokioExecutor> {
    client
        .consumer()
        .with_topic(topic)
        .with_subscription(subscription)
        .with_subscription_type(sub_type)
        .with_options(ConsumerOptions::default().with_initial_position(InitialPosition::Earliest))
        .build()
        .await
        .expect("subscribe")
}

async fn produce(client: &Pulsar<TokioExecutor>, topic: &str, count: usize, batching: bool) {
    let options = ProducerOptions {
        batch_size: batching.then_some(500),
        batch_timeout: batching.then_some(Duration::from_millis(5)),
        ..Default::default()
    };
    let mut producer = client
        .producer()
        .with_topic(topic)
        .with_options(options)
        .build()
        .await
        .expect("producer");
    let mut receipts = Vec::with_capacity(count);
    for i in 0..count {
        let message = producer::Message {
            payload: format!("r-{i}").into_bytes(),
            ..Default::default()
        };
        receipts.push(producer.send_non_blocking(message).await.expect("send"));
        // Bound the sends in flight: the client refuses more with SlowDown.
        if receipts.len() >= 50 {
            for receipt in receipts.drain(..) {
                receipt.await.expect("receipt");
            }
        }
    }
    for receipt in receipts {
        receipt.await.expect("receipt");
    }
}

async fn receive_n(
    consumer: &mut pulsar::Consumer<Vec<u8>, TokioExecutor>,
    n: usize,
) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(10), consumer.try_next()).await;
        let Ok(Ok(Some(message))) = next else { break };
        got.push(String::from_utf8_lossy(&message.payload.data).into_owned());
        consumer.ack(&message).await.expect("ack");
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_produce_and_exclusive_consume() {
    let standalone = Standalone::start().unwrap();
    let client = client(&standalone.pulsar_url().unwrap()).await;
    let topic = "persistent://public/default/rust-batched";
    let mut consumer = subscribe(&client, topic, "s", SubType::Exclusive).await;
    produce(&client, topic, 10_000, true).await;
    let got = receive_n(&mut consumer, 10_000).await;
    let expected: Vec<String> = (0..10_000).map(|i| format!("r-{i}")).collect();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "messages out of order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_spreads_without_loss_or_duplicates() {
    let standalone = Standalone::start().unwrap();
    let client = client(&standalone.pulsar_url().unwrap()).await;
    let topic = "rust-shared";
    let mut consumers = Vec::new();
    for _ in 0..3 {
        consumers.push(subscribe(&client, topic, "shared", SubType::Shared).await);
    }
    produce(&client, topic, 3000, false).await;
    let tasks: Vec<_> = consumers
        .into_iter()
        .map(|mut c| tokio::spawn(async move { receive_n(&mut c, 3000).await }))
        .collect();
    let mut all = Vec::new();
    let mut active = 0;
    for task in tasks {
        let got = task.await.expect("consumer task");
        if !got.is_empty() {
            active += 1;
        }
        all.extend(got);
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 3000, "loss or duplicates");
    assert_eq!(distinct.len(), 3000, "duplicates");
    assert!(
        active >= 2,
        "shared dispatch used only {active} consumer(s)"
    );
}

/// A regex subscription takes the matching topics of the namespace and
/// picks up a matching topic created later (the crate polls
/// GET_TOPICS_OF_NAMESPACE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_subscription_picks_up_a_new_topic() {
    let standalone = Standalone::start().unwrap();
    let client = client(&standalone.pulsar_url().unwrap()).await;
    produce(&client, "persistent://public/default/rust-pat-a", 1, false).await;
    produce(&client, "persistent://public/default/rust-other", 1, false).await;
    let mut consumer: pulsar::Consumer<Vec<u8>, TokioExecutor> = client
        .consumer()
        .with_topic_regex(regex::Regex::new("persistent://public/default/rust-pat-.*").unwrap())
        .with_topic_refresh(Duration::from_secs(1))
        .with_subscription("pattern")
        .with_options(ConsumerOptions::default().with_initial_position(InitialPosition::Earliest))
        .build()
        .await
        .expect("subscribe");
    assert_eq!(receive_n(&mut consumer, 1).await, vec!["r-0"]);
    produce(&client, "persistent://public/default/rust-pat-b", 2, false).await;
    let later = receive_n(&mut consumer, 2).await;
    assert_eq!(
        later,
        vec!["r-0", "r-1"],
        "the new topic's messages, and nothing else"
    );
}

/// Failover through the crate: the consumer with the better priority level
/// is active although its name sorts last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_prefers_the_better_priority_level() {
    let standalone = Standalone::start().unwrap();
    let client = client(&standalone.pulsar_url().unwrap()).await;
    let topic = "persistent://public/default/rust-failover";
    let mut consumers = Vec::new();
    for (name, priority) in [("a", 1), ("z", 0)] {
        let consumer: pulsar::Consumer<Vec<u8>, TokioExecutor> = client
            .consumer()
            .with_topic(topic)
            .with_subscription("fo")
            .with_subscription_type(SubType::Failover)
            .with_consumer_name(name)
            .with_options(
                ConsumerOptions::default()
                    .with_initial_position(InitialPosition::Earliest)
                    .with_priority_level(priority),
            )
            .build()
            .await
            .expect("subscribe");
        consumers.push(consumer);
    }
    produce(&client, topic, 20, false).await;
    let mut z = consumers.pop().unwrap();
    let mut a = consumers.pop().unwrap();
    let expected: Vec<String> = (0..20).map(|i| format!("r-{i}")).collect();
    assert_eq!(receive_n(&mut z, 20).await, expected);
    let idle = tokio::time::timeout(Duration::from_secs(1), a.try_next()).await;
    assert!(idle.is_err(), "the inactive consumer received a message");
}
