//! Producer access modes and the topic epoch over raw frames: Exclusive
//! keeps others out, WaitForExclusive is answered twice (not ready, then
//! ready with the next epoch), ExclusiveWithFencing closes the others, a
//! stale epoch is fenced, and the epoch survives a broker restart.

mod common;

use std::sync::Arc;

use common::{
    error_code, producer_success, publish_frame, start_broker_over, topic, RawClient, WAIT,
};
use magnetar_bookie::testing::MemoryLedgerStore;
use magnetar_broker::{BrokerServiceConfig, BrokerServiceHandle};
use magnetar_metadata::MemoryStore;
use magnetar_proto::pulsar::api::*;

async fn start(
    metadata: &Arc<MemoryStore>,
    ledgers: &Arc<MemoryLedgerStore>,
) -> BrokerServiceHandle {
    start_broker_over(BrokerServiceConfig::default(), metadata, ledgers).await
}

/// Sends PRODUCER and returns the first answer.
async fn producer(
    client: &mut RawClient,
    topic: &str,
    producer_id: u64,
    name: &str,
    mode: ProducerAccessMode,
    topic_epoch: Option<u64>,
) -> BaseCommand {
    client
        .send(CommandProducer {
            topic: topic.into(),
            producer_id,
            request_id: 100 + producer_id,
            producer_name: Some(name.into()),
            producer_access_mode: Some(mode as i32),
            topic_epoch,
            ..Default::default()
        })
        .await;
    client.recv_command().await
}

async fn close(client: &mut RawClient, producer_id: u64) {
    client
        .send(CommandCloseProducer {
            producer_id,
            request_id: 900 + producer_id,
        })
        .await;
    let reply = client.recv_command().await;
    assert!(reply.success.is_some(), "{reply:?}");
}

#[tokio::test]
async fn exclusive_producers_and_the_epoch_across_a_restart() {
    let metadata = Arc::new(MemoryStore::new());
    let ledgers = Arc::new(MemoryLedgerStore::new());
    let broker = start(&metadata, &ledgers).await;
    let topic = topic("access-exclusive");
    let mut a = RawClient::connect(broker.local_addr()).await;
    let mut b = RawClient::connect(broker.local_addr()).await;

    let first = producer(&mut a, &topic, 1, "a", ProducerAccessMode::Exclusive, None).await;
    assert_eq!(producer_success(&first).topic_epoch, Some(1));
    let shared = producer(&mut b, &topic, 1, "b", ProducerAccessMode::Shared, None).await;
    assert_eq!(error_code(&shared), ServerError::ProducerBusy);
    let second = producer(&mut b, &topic, 2, "c", ProducerAccessMode::Exclusive, None).await;
    assert_eq!(error_code(&second), ServerError::ProducerFenced);

    close(&mut a, 1).await;
    let next = producer(&mut b, &topic, 3, "c", ProducerAccessMode::Exclusive, None).await;
    assert_eq!(producer_success(&next).topic_epoch, Some(2));
    close(&mut b, 3).await;
    // A producer presenting the first epoch is from before the handover.
    let stale = producer(
        &mut a,
        &topic,
        4,
        "a",
        ProducerAccessMode::Exclusive,
        Some(1),
    )
    .await;
    assert_eq!(error_code(&stale), ServerError::ProducerFenced);
    // Shared producers come back once nobody holds the topic.
    let shared = producer(&mut a, &topic, 5, "s", ProducerAccessMode::Shared, None).await;
    assert_eq!(producer_success(&shared).topic_epoch, None);
    close(&mut a, 5).await;

    drop((a, b));
    broker.shutdown().await;
    let broker = start(&metadata, &ledgers).await;
    let mut a = RawClient::connect(broker.local_addr()).await;
    let after = producer(&mut a, &topic, 1, "d", ProducerAccessMode::Exclusive, None).await;
    assert_eq!(
        producer_success(&after).topic_epoch,
        Some(3),
        "the epoch was stored"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_waiting_producer_is_answered_when_the_holder_leaves() {
    let broker = common::start_broker().await;
    let topic = topic("access-wait");
    let mut holder = RawClient::connect(broker.local_addr()).await;
    let mut waiter = RawClient::connect(broker.local_addr()).await;

    let held = producer(
        &mut holder,
        &topic,
        1,
        "h",
        ProducerAccessMode::Exclusive,
        None,
    )
    .await;
    assert_eq!(producer_success(&held).topic_epoch, Some(1));
    let queued = producer(
        &mut waiter,
        &topic,
        7,
        "w",
        ProducerAccessMode::WaitForExclusive,
        None,
    )
    .await;
    assert_eq!(producer_success(&queued).producer_ready, Some(false));
    assert!(
        waiter
            .try_recv(std::time::Duration::from_millis(300))
            .await
            .is_none(),
        "not ready while the holder is there"
    );

    close(&mut holder, 1).await;
    let ready = tokio::time::timeout(WAIT, waiter.recv_command())
        .await
        .unwrap();
    let ready = producer_success(&ready);
    assert_eq!(ready.request_id, 107);
    assert_eq!(ready.producer_ready, Some(true));
    assert_eq!(ready.topic_epoch, Some(2));

    waiter
        .send_frame(publish_frame(7, 0, b"from the waiter", 1))
        .await;
    let receipt = waiter.recv_command().await;
    assert!(receipt.send_receipt.is_some(), "{receipt:?}");
    broker.shutdown().await;
}

#[tokio::test]
async fn fencing_closes_the_others_and_refuses_waiters() {
    let broker = common::start_broker().await;
    let topic = topic("access-fencing");
    let mut shared = RawClient::connect(broker.local_addr()).await;
    let mut waiter = RawClient::connect(broker.local_addr()).await;
    let mut fencer = RawClient::connect(broker.local_addr()).await;

    producer_success(
        &producer(
            &mut shared,
            &topic,
            1,
            "s1",
            ProducerAccessMode::Shared,
            None,
        )
        .await,
    );
    producer_success(
        &producer(
            &mut shared,
            &topic,
            2,
            "s2",
            ProducerAccessMode::Shared,
            None,
        )
        .await,
    );
    let queued = producer(
        &mut waiter,
        &topic,
        3,
        "w",
        ProducerAccessMode::WaitForExclusive,
        None,
    )
    .await;
    assert_eq!(producer_success(&queued).producer_ready, Some(false));

    let fenced = producer(
        &mut fencer,
        &topic,
        4,
        "f",
        ProducerAccessMode::ExclusiveWithFencing,
        None,
    )
    .await;
    assert_eq!(producer_success(&fenced).topic_epoch, Some(1));
    let mut closed = Vec::new();
    for _ in 0..2 {
        let command = tokio::time::timeout(WAIT, shared.recv_command())
            .await
            .unwrap();
        closed.push(command.close_producer.expect("CLOSE_PRODUCER").producer_id);
    }
    closed.sort_unstable();
    assert_eq!(closed, vec![1, 2]);
    let refusal = tokio::time::timeout(WAIT, waiter.recv_command())
        .await
        .unwrap();
    assert_eq!(error_code(&refusal), ServerError::ProducerFenced);
    assert_eq!(refusal.error.unwrap().request_id, 103);
    broker.shutdown().await;
}

#[tokio::test]
async fn unknown_access_modes_are_refused() {
    let broker = common::start_broker().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    client
        .send(CommandProducer {
            topic: topic("access-unknown"),
            producer_id: 1,
            request_id: 1,
            producer_access_mode: Some(42),
            ..Default::default()
        })
        .await;
    let reply = client.recv_command().await;
    assert_eq!(error_code(&reply), ServerError::NotAllowedError);
    broker.shutdown().await;
}
