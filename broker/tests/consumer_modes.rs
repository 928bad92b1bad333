//! Subscription types and cursor moves at the frame level: Failover's
//! active consumer, Key_Shared's slots and holds, readers, SEEK and
//! delayed delivery.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use magnetar_broker::dispatch::slot_of;
use magnetar_proto::pulsar::api::command_subscribe::{InitialPosition, SubType};
use magnetar_proto::pulsar::api::*;
use magnetar_proto::pulsar::{encode_body, Frame, PayloadFrame};

/// A SUBSCRIBE with everything the common helper leaves out.
fn subscribe_command(
    topic: &str,
    subscription: &str,
    sub_type: SubType,
    consumer_id: u64,
) -> CommandSubscribe {
    CommandSubscribe {
        topic: topic.into(),
        subscription: subscription.into(),
        sub_type: sub_type as i32,
        consumer_id,
        request_id: 3000 + consumer_id,
        initial_position: Some(InitialPosition::Earliest as i32),
        ..Default::default()
    }
}

/// Sends a SUBSCRIBE and returns its answer, skipping any
/// ACTIVE_CONSUMER_CHANGE that comes first.
async fn subscribe_with(client: &mut RawClient, command: CommandSubscribe) -> BaseCommand {
    let request_id = command.request_id;
    client.send(command).await;
    loop {
        let reply = client.recv_command().await;
        if reply.active_consumer_change.is_none() {
            assert!(
                reply.success.as_ref().map(|s| s.request_id) == Some(request_id)
                    || reply.error.as_ref().map(|e| e.request_id) == Some(request_id),
                "unexpected answer {reply:?}"
            );
            return reply;
        }
    }
}

/// The next ACTIVE_CONSUMER_CHANGE on the connection (other commands are skipped).
async fn next_active_change(client: &mut RawClient) -> CommandActiveConsumerChange {
    loop {
        if let Some(change) = client.recv_command().await.active_consumer_change {
            return *change;
        }
    }
}

/// The next MESSAGE, skipping ACTIVE_CONSUMER_CHANGE.
async fn next_message(client: &mut RawClient) -> (CommandMessage, bytes::Bytes) {
    loop {
        match client.recv().await {
            Frame::Payload(PayloadFrame { command, body, .. }) => {
                return (*command.message.expect("MESSAGE"), body)
            }
            Frame::Command(command) => assert!(
                command.active_consumer_change.is_some(),
                "expected MESSAGE, got {command:?}"
            ),
        }
    }
}

fn keyed_frame(producer_id: u64, sequence_id: u64, key: &str, payload: &[u8]) -> Frame {
    let metadata = MessageMetadata {
        producer_name: "raw".into(),
        sequence_id,
        publish_time: 1,
        partition_key: Some(key.to_string()),
        ..Default::default()
    };
    send_frame(producer_id, sequence_id, &metadata, payload)
}

/// Publishes one message per key (payload = key), sequence ids from
/// `sequence_id` on.
async fn publish_keys(producer: &mut RawClient, keys: &[String], sequence_id: &mut u64) {
    for key in keys {
        let frame = keyed_frame(1, *sequence_id, key, key.as_bytes());
        publish_frame_and_wait(producer, frame).await;
        *sequence_id += 1;
    }
}

fn send_frame(
    producer_id: u64,
    sequence_id: u64,
    metadata: &MessageMetadata,
    payload: &[u8],
) -> Frame {
    let send = CommandSend {
        producer_id,
        sequence_id,
        num_messages: Some(1),
        ..Default::default()
    };
    Frame::Payload(PayloadFrame::new(
        send.into(),
        encode_body(metadata, payload),
    ))
}

async fn publish_frame_and_wait(client: &mut RawClient, frame: Frame) -> MessageIdData {
    client.send_frame(frame).await;
    let reply = client.recv_command().await;
    reply
        .send_receipt
        .clone()
        .and_then(|r| r.message_id)
        .unwrap_or_else(|| panic!("expected SEND_RECEIPT, got {reply:?}"))
}

/// A cumulative ACK with a request id, and its ACK_RESPONSE.
async fn cumulative_ack(
    client: &mut RawClient,
    consumer_id: u64,
    id: MessageIdData,
) -> CommandAckResponse {
    client
        .send(CommandAck {
            consumer_id,
            ack_type: command_ack::AckType::Cumulative as i32,
            message_id: vec![id],
            request_id: Some(900 + consumer_id),
            ..Default::default()
        })
        .await;
    *client
        .recv_command()
        .await
        .ack_response
        .expect("ACK_RESPONSE")
}

fn ack(consumer_id: u64, ids: Vec<MessageIdData>) -> CommandAck {
    CommandAck {
        consumer_id,
        ack_type: command_ack::AckType::Individual as i32,
        message_id: ids,
        ..Default::default()
    }
}

#[tokio::test]
async fn failover_elects_by_priority_then_name_and_tells_every_consumer() {
    let (broker, topic, mut producer) = broker_with_producer("failover").await;
    producer.publish_numbered(1, 3).await;
    let mut b = RawClient::connect(broker.local_addr()).await;
    let mut command = subscribe_command(&topic, "fo", SubType::Failover, 1);
    command.consumer_name = Some("b".into());
    assert!(subscribe_with(&mut b, command).await.success.is_some());
    assert_eq!(next_active_change(&mut b).await.is_active, Some(true));

    // "a" sorts before "b": it takes over, and both are told.
    let mut a = RawClient::connect(broker.local_addr()).await;
    let mut command = subscribe_command(&topic, "fo", SubType::Failover, 2);
    command.consumer_name = Some("a".into());
    assert!(subscribe_with(&mut a, command).await.success.is_some());
    assert_eq!(next_active_change(&mut a).await.is_active, Some(true));
    assert_eq!(next_active_change(&mut b).await.is_active, Some(false));

    // A worse priority level never wins, whatever its name.
    let mut z = RawClient::connect(broker.local_addr()).await;
    let mut command = subscribe_command(&topic, "fo", SubType::Failover, 3);
    command.consumer_name = Some("0-first-by-name".into());
    command.priority_level = Some(5);
    assert!(subscribe_with(&mut z, command).await.success.is_some());
    assert_eq!(next_active_change(&mut z).await.is_active, Some(false));

    b.flow(1, 10).await;
    z.flow(3, 10).await;
    a.flow(2, 10).await;
    let mut received = Vec::new();
    for _ in 0..3 {
        received.push(payload_of(&next_message(&mut a).await.1));
    }
    assert_eq!(received, vec!["m0", "m1", "m2"]);
    assert!(b.try_recv(Duration::from_millis(300)).await.is_none());
    assert!(z.try_recv(Duration::from_millis(100)).await.is_none());

    // Cumulative acks are allowed on Failover.
    a.send(CommandAck {
        consumer_id: 2,
        ack_type: command_ack::AckType::Cumulative as i32,
        message_id: vec![MessageIdData {
            ledger_id: 0,
            entry_id: 0,
            ..Default::default()
        }],
        request_id: Some(9),
        ..Default::default()
    })
    .await;
    let answer = a.recv_command().await.ack_response.expect("ACK_RESPONSE");
    assert_eq!(answer.error, None, "{answer:?}");
    broker.shutdown().await;
}

#[tokio::test]
async fn failover_switch_resumes_from_the_mark_delete_position() {
    let (broker, topic, mut producer) = broker_with_producer("failover-switch").await;
    let ids = producer.publish_numbered(1, 4).await;
    let mut a = RawClient::connect(broker.local_addr()).await;
    let mut command = subscribe_command(&topic, "fo", SubType::Failover, 1);
    command.consumer_name = Some("a".into());
    subscribe_with(&mut a, command).await;
    let mut b = RawClient::connect(broker.local_addr()).await;
    let mut command = subscribe_command(&topic, "fo", SubType::Failover, 2);
    command.consumer_name = Some("b".into());
    subscribe_with(&mut b, command).await;
    b.flow(2, 10).await;
    a.flow(1, 10).await;
    for _ in 0..4 {
        next_message(&mut a).await;
    }
    a.send(ack(1, vec![ids[0].clone()])).await;
    a.send(CommandCloseConsumer {
        consumer_id: 1,
        request_id: 5,
    })
    .await;
    let switched = Instant::now();
    let mut again = Vec::new();
    while again.len() < 3 {
        match b.recv().await {
            Frame::Payload(PayloadFrame { body, .. }) => again.push(payload_of(&body)),
            Frame::Command(command) => assert!(
                command.active_consumer_change.is_some(),
                "unexpected {command:?}"
            ),
        }
    }
    assert_eq!(
        again,
        vec!["m1", "m2", "m3"],
        "resumes after the mark-delete position"
    );
    assert!(
        switched.elapsed() >= Duration::from_millis(900),
        "the switch waits the failover delay"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn key_shared_sticky_ranges_get_exactly_their_keys() {
    let broker = start_broker().await;
    let topic = topic("sticky");
    let sticky = |ranges: &[(i32, i32)]| KeySharedMeta {
        key_shared_mode: KeySharedMode::Sticky as i32,
        hash_ranges: ranges
            .iter()
            .map(|&(start, end)| IntRange { start, end })
            .collect(),
        allow_out_of_order_delivery: None,
    };
    let mut low = RawClient::connect(broker.local_addr()).await;
    let mut command = subscribe_command(&topic, "ks", SubType::KeyShared, 1);
    command.key_shared_meta = Some(sticky(&[(0, 32767)]));
    assert!(subscribe_with(&mut low, command).await.success.is_some());
    let mut high = RawClient::connect(broker.local_addr()).await;
    let mut command = subscribe_command(&topic, "ks", SubType::KeyShared, 2);
    command.key_shared_meta = Some(sticky(&[(32768, 65535)]));
    assert!(subscribe_with(&mut high, command).await.success.is_some());

    // Overlapping, inverted or out-of-space ranges and a mode mismatch are refused.
    let mut other = RawClient::connect(broker.local_addr()).await;
    for (id, meta) in [
        (3, Some(sticky(&[(100, 200)]))),
        (4, Some(sticky(&[(10, 5)]))),
        (5, Some(sticky(&[(0, 70000)]))),
        (6, Some(sticky(&[]))),
        (7, None),
    ] {
        let mut command = subscribe_command(&topic, "ks", SubType::KeyShared, id);
        command.key_shared_meta = meta;
        let error = subscribe_with(&mut other, command)
            .await
            .error
            .expect("refused");
        assert_eq!(
            error.error,
            ServerError::ConsumerAssignError as i32,
            "{error:?}"
        );
    }

    let mut producer = RawClient::connect(broker.local_addr()).await;
    producer.create_producer(&topic, 1).await;
    let keys: Vec<String> = (0..40).map(|i| format!("key-{i}")).collect();
    publish_keys(&mut producer, &keys, &mut 0).await;
    let expected_low = keys
        .iter()
        .filter(|k| slot_of(k.as_bytes()) <= 32767)
        .count();
    assert!(
        expected_low > 0 && expected_low < keys.len(),
        "keys spread over both halves"
    );
    low.flow(1, 100).await;
    high.flow(2, 100).await;
    for (client, count, low_half) in [
        (&mut low, expected_low, true),
        (&mut high, keys.len() - expected_low, false),
    ] {
        for _ in 0..count {
            let key = payload_of(&client.recv_message().await.1);
            let slot = slot_of(&key);
            assert_eq!(slot <= 32767, low_half, "{key:?} in slot {slot}");
        }
        assert!(client.try_recv(Duration::from_millis(200)).await.is_none());
    }
    broker.shutdown().await;
}

/// A key moves to a new consumer only once the old one acknowledged
/// everything it holds of that key, and never passes an older entry.
#[tokio::test]
async fn key_shared_never_has_a_key_unacked_at_two_consumers() {
    let (broker, topic, mut producer) = broker_with_producer("auto-split").await;
    let mut first = RawClient::connect(broker.local_addr()).await;
    subscribe_with(
        &mut first,
        subscribe_command(&topic, "ks", SubType::KeyShared, 1),
    )
    .await;
    first.flow(1, 1000).await;
    let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    let mut sequence_id = 0;
    publish_keys(&mut producer, &keys, &mut sequence_id).await;
    let mut held: HashMap<String, Vec<MessageIdData>> = HashMap::new();
    for _ in 0..keys.len() {
        let (message, body) = first.recv_message().await;
        let key = String::from_utf8(payload_of(&body).to_vec()).unwrap();
        held.entry(key).or_default().push(message.message_id);
    }
    // The second consumer takes over part of the key space while the first
    // still holds one unacknowledged entry of every key.
    let mut second = RawClient::connect(broker.local_addr()).await;
    subscribe_with(
        &mut second,
        subscribe_command(&topic, "ks", SubType::KeyShared, 2),
    )
    .await;
    second.flow(2, 1000).await;
    publish_keys(&mut producer, &keys, &mut sequence_id).await;
    // Keys that stayed with the first consumer arrive there; the moved
    // keys must not reach the second consumer yet.
    let mut stayed = Vec::new();
    while let Some(frame) = first.try_recv(Duration::from_millis(500)).await {
        if let Frame::Payload(PayloadFrame { body, .. }) = frame {
            stayed.push(String::from_utf8(payload_of(&body).to_vec()).unwrap());
        }
    }
    assert!(
        second.try_recv(Duration::from_millis(300)).await.is_none(),
        "a moved key reached the new consumer while the old one held it"
    );
    let moved: Vec<&String> = keys.iter().filter(|k| !stayed.contains(k)).collect();
    assert!(
        !moved.is_empty() && !stayed.is_empty(),
        "the ring split the keys"
    );
    // Acknowledging releases the moved keys to the second consumer.
    let all_held: Vec<MessageIdData> = held.values().flatten().cloned().collect();
    first.send(ack(1, all_held)).await;
    let mut arrived = Vec::new();
    for _ in 0..moved.len() {
        let body = second.recv_message().await.1;
        arrived.push(String::from_utf8(payload_of(&body).to_vec()).unwrap());
    }
    arrived.sort();
    let mut moved: Vec<String> = moved.into_iter().cloned().collect();
    moved.sort();
    assert_eq!(arrived, moved);
    broker.shutdown().await;
}

#[tokio::test]
async fn cumulative_ack_is_refused_on_key_shared() {
    let broker = start_broker().await;
    let topic = topic("ks-cumulative");
    let mut client = RawClient::connect(broker.local_addr()).await;
    subscribe_with(
        &mut client,
        subscribe_command(&topic, "ks", SubType::KeyShared, 1),
    )
    .await;
    let answer = cumulative_ack(&mut client, 1, MessageIdData::default()).await;
    assert_eq!(answer.error, Some(ServerError::NotAllowedError as i32));
    broker.shutdown().await;
}

#[tokio::test]
async fn readers_start_where_asked_and_leave_nothing_behind() {
    let (broker, topic, mut producer) = broker_with_producer("reader").await;
    let ids = producer.publish_numbered(1, 5).await;
    let earliest = MessageIdData {
        ledger_id: u64::MAX,
        entry_id: u64::MAX,
        ..Default::default()
    };
    let latest = MessageIdData {
        ledger_id: i64::MAX as u64,
        entry_id: i64::MAX as u64,
        ..Default::default()
    };
    let cases = [
        (earliest, vec!["m0", "m1", "m2", "m3", "m4"]),
        (ids[2].clone(), vec!["m2", "m3", "m4"]),
        (latest, vec![]),
    ];
    let mut client = RawClient::connect(broker.local_addr()).await;
    for (id, (start, expected)) in cases.into_iter().enumerate() {
        let consumer_id = id as u64 + 1;
        let mut command = subscribe_command(&topic, "reader-1", SubType::Exclusive, consumer_id);
        command.durable = Some(false);
        command.start_message_id = Some(start);
        assert!(subscribe_with(&mut client, command).await.success.is_some());
        client.flow(consumer_id, 100).await;
        let mut got = Vec::new();
        for _ in 0..expected.len() {
            got.push(payload_of(&client.recv_message().await.1));
        }
        assert_eq!(got, expected);
        assert!(client.try_recv(Duration::from_millis(200)).await.is_none());
        // Closing the reader forgets it, so the same name starts afresh.
        client
            .send(CommandCloseConsumer {
                consumer_id,
                request_id: 100 + consumer_id,
            })
            .await;
        assert!(client.recv_command().await.success.is_some());
    }
    // A reader never holds a durable subscription's name.
    let mut durable = RawClient::connect(broker.local_addr()).await;
    durable
        .subscribe(&topic, "taken", SubType::Exclusive, 1)
        .await;
    let mut command = subscribe_command(&topic, "taken", SubType::Exclusive, 9);
    command.durable = Some(false);
    assert!(subscribe_with(&mut client, command).await.error.is_some());
    broker.shutdown().await;
}

/// On a topic whose consumed ledgers were trimmed, a reader from the
/// earliest position, or from an id in a trimmed ledger, starts at the
/// first entry still kept; GET_LAST_MESSAGE_ID stays right.
#[tokio::test]
async fn readers_on_a_trimmed_topic_start_at_what_is_kept() {
    let mut config = magnetar_broker::BrokerServiceConfig::default();
    config.managed_ledger.max_entries_per_ledger = 2;
    config.managed_ledger.min_rollover_time = Duration::ZERO;
    let broker = start_broker_with(config).await;
    let topic = topic("trimmed-reader");
    let mut producer = RawClient::connect(broker.local_addr()).await;
    producer.create_producer(&topic, 1).await;
    let mut consumer = RawClient::connect(broker.local_addr()).await;
    consumer.subscribe(&topic, "s", SubType::Exclusive, 1).await;
    let ids = producer.publish_numbered(1, 6).await;
    consumer.flow(1, 100).await;
    for _ in 0..6 {
        consumer.recv_message().await;
    }
    consumer
        .send(CommandAck {
            consumer_id: 1,
            ack_type: command_ack::AckType::Cumulative as i32,
            message_id: vec![ids[5].clone()],
            ..Default::default()
        })
        .await;
    let ml = magnetar_broker::topic::TopicName::parse(&topic)
        .unwrap()
        .persistence_name();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = broker.factory().storage_stats(&ml).await.unwrap();
        if stats.ledgers <= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never trimmed: {} ledgers",
            stats.ledgers
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kept_from = broker
        .topics()
        .get(&magnetar_broker::topic::TopicName::parse(&topic).unwrap())
        .unwrap()
        .ledger()
        .ledgers()
        .first()
        .map(|(ledger_id, _, _)| *ledger_id);
    assert!(
        kept_from > Some(ids[0].ledger_id),
        "the first ledger is gone"
    );
    let fresh = producer.publish_and_wait(1, 6, b"m6").await;
    let earliest = MessageIdData {
        ledger_id: u64::MAX,
        entry_id: u64::MAX,
        ..Default::default()
    };
    let mut client = RawClient::connect(broker.local_addr()).await;
    for (consumer_id, start) in [(11, earliest), (12, ids[0].clone())] {
        let mut command = subscribe_command(&topic, "reader", SubType::Exclusive, consumer_id);
        command.durable = Some(false);
        command.start_message_id = Some(start);
        assert!(subscribe_with(&mut client, command).await.success.is_some());
        client.flow(consumer_id, 100).await;
        let mut got = Vec::new();
        loop {
            let (message, body) = client.recv_message().await;
            got.push((message.message_id.ledger_id, payload_of(&body)));
            if message.message_id == fresh {
                break;
            }
        }
        let first = got[0].0;
        assert!(
            kept_from.is_some_and(|id| first >= id),
            "reader {consumer_id} started in a trimmed ledger: {got:?}, kept from {kept_from:?}"
        );
        let payloads: Vec<_> = got.iter().map(|(_, p)| p.clone()).collect();
        let mut sorted = payloads.clone();
        sorted.sort();
        assert_eq!(payloads, sorted, "in publish order");
        let last = client.last_message_id(consumer_id).await;
        assert_eq!(last.last_message_id.ledger_id, fresh.ledger_id);
        assert_eq!(last.last_message_id.entry_id, fresh.entry_id);
        client
            .send(CommandCloseConsumer {
                consumer_id,
                request_id: 100 + consumer_id,
            })
            .await;
        assert!(client.recv_command().await.success.is_some());
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn seek_by_id_and_by_time_moves_the_subscription() {
    let (broker, topic, mut producer) = broker_with_producer("seek").await;
    let mut ids = Vec::new();
    for sequence_id in 0..5u64 {
        let metadata = MessageMetadata {
            producer_name: "raw".into(),
            sequence_id,
            publish_time: 1_000 * (sequence_id + 1),
            ..Default::default()
        };
        let frame = send_frame(
            1,
            sequence_id,
            &metadata,
            format!("m{sequence_id}").as_bytes(),
        );
        ids.push(publish_frame_and_wait(&mut producer, frame).await);
    }
    let mut client = RawClient::connect(broker.local_addr()).await;
    client.subscribe(&topic, "s", SubType::Exclusive, 1).await;
    client.flow(1, 100).await;
    for _ in 0..5 {
        client.recv_message().await;
    }
    client
        .send(CommandAck {
            consumer_id: 1,
            ack_type: command_ack::AckType::Cumulative as i32,
            message_id: vec![ids[4].clone()],
            ..Default::default()
        })
        .await;

    let seeks = [
        (
            CommandSeek {
                consumer_id: 1,
                request_id: 10,
                message_id: Some(ids[3].clone()),
                message_publish_time: None,
            },
            vec!["m3", "m4"],
        ),
        (
            CommandSeek {
                consumer_id: 1,
                request_id: 11,
                message_id: None,
                message_publish_time: Some(2_500),
            },
            vec!["m2", "m3", "m4"],
        ),
    ];
    for (seek, expected) in seeks {
        let request_id = seek.request_id;
        client.send(seek).await;
        // The consumer is closed from the broker side, then the seek succeeds.
        let close = client.recv_command().await;
        assert_eq!(close.close_consumer.map(|c| c.consumer_id), Some(1));
        let success = client.recv_command().await;
        assert_eq!(success.success.map(|s| s.request_id), Some(request_id));
        // The client comes back and reads from the new position.
        client.subscribe(&topic, "s", SubType::Exclusive, 1).await;
        client.flow(1, 100).await;
        let mut got = Vec::new();
        for _ in 0..expected.len() {
            got.push(payload_of(&client.recv_message().await.1));
        }
        assert_eq!(got, expected);
    }
    // A seek that names nothing is refused.
    client
        .send(CommandSeek {
            consumer_id: 1,
            request_id: 12,
            message_id: None,
            message_publish_time: None,
        })
        .await;
    assert!(client.recv_command().await.error.is_some());
    broker.shutdown().await;
}

#[tokio::test]
async fn delayed_messages_wait_on_shared_and_not_on_exclusive() {
    let (broker, topic, mut producer) = broker_with_producer("delayed").await;
    let mut shared = RawClient::connect(broker.local_addr()).await;
    shared.subscribe(&topic, "shared", SubType::Shared, 1).await;
    shared.flow(1, 100).await;
    let mut exclusive = RawClient::connect(broker.local_addr()).await;
    exclusive
        .subscribe(&topic, "excl", SubType::Exclusive, 2)
        .await;
    exclusive.flow(2, 100).await;

    let now_millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let delayed = MessageMetadata {
        producer_name: "raw".into(),
        sequence_id: 0,
        publish_time: now_millis as u64,
        deliver_at_time: Some(now_millis + 1_500),
        ..Default::default()
    };
    let sent = Instant::now();
    publish_frame_and_wait(&mut producer, send_frame(1, 0, &delayed, b"later")).await;
    let now = MessageMetadata {
        sequence_id: 1,
        deliver_at_time: None,
        ..delayed
    };
    publish_frame_and_wait(&mut producer, send_frame(1, 1, &now, b"now")).await;

    assert_eq!(payload_of(&exclusive.recv_message().await.1), "later");
    assert_eq!(payload_of(&exclusive.recv_message().await.1), "now");
    assert_eq!(payload_of(&shared.recv_message().await.1), "now");
    assert!(sent.elapsed() < Duration::from_millis(1_300));
    assert_eq!(payload_of(&shared.recv_message().await.1), "later");
    assert!(
        sent.elapsed() >= Duration::from_millis(1_400),
        "{:?}",
        sent.elapsed()
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_consumer_at_its_unacked_limit_waits_until_half_is_acknowledged() {
    let mut config = magnetar_broker::BrokerServiceConfig::default();
    config.dispatch.max_unacked_per_consumer = 4;
    let broker = start_broker_with(config).await;
    let topic = topic("unacked-limit");
    let mut producer = RawClient::connect(broker.local_addr()).await;
    producer.create_producer(&topic, 1).await;
    let ids = producer.publish_numbered(1, 10).await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    client.subscribe(&topic, "s", SubType::Shared, 1).await;
    client.flow(1, 100).await;
    for _ in 0..4 {
        client.recv_message().await;
    }
    assert!(
        client.try_recv(Duration::from_millis(300)).await.is_none(),
        "a blocked consumer received more"
    );
    client
        .send(CommandConsumerStats {
            request_id: 8,
            consumer_id: 1,
        })
        .await;
    let stats = client
        .recv_command()
        .await
        .consumer_stats_response
        .expect("CONSUMER_STATS_RESPONSE");
    assert_eq!(stats.blocked_consumer_on_unacked_msgs, Some(true));
    assert_eq!(stats.unacked_messages, Some(4));
    // One ack leaves 3 > 2 unacknowledged: still blocked; the second
    // brings it to half and lifts the block.
    client.send(ack(1, vec![ids[0].clone()])).await;
    assert!(client.try_recv(Duration::from_millis(300)).await.is_none());
    client.send(ack(1, vec![ids[1].clone()])).await;
    let mut more = 0;
    while client.try_recv(Duration::from_millis(300)).await.is_some() {
        more += 1;
    }
    assert_eq!(more, 2, "refilled up to the limit again");
    broker.shutdown().await;
}

/// Bad consumer input gets a clear error or is ignored as Pulsar ignores
/// it, and harms neither the cursor nor other consumers.
#[tokio::test]
async fn bad_consumer_input_is_refused_or_ignored() {
    let (broker, topic, mut producer) = broker_with_producer("bad-consumer-input").await;
    let ids = producer.publish_numbered(1, 3).await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    // Empty and over-long subscription names.
    for (id, name) in [(1, String::new()), (2, "s".repeat(2000))] {
        let error = client
            .subscribe(&topic, &name, SubType::Shared, id)
            .await
            .error
            .expect("refused");
        assert_eq!(
            error.error,
            ServerError::NotAllowedError as i32,
            "{error:?}"
        );
    }
    client.subscribe(&topic, "s", SubType::Shared, 3).await;
    // Acks of ids the topic does not have change nothing.
    client
        .send(ack(
            3,
            vec![MessageIdData {
                ledger_id: 987_654,
                entry_id: 3,
                ..Default::default()
            }],
        ))
        .await;
    // Cumulative acks are refused on Shared.
    let answer = cumulative_ack(&mut client, 3, ids[2].clone()).await;
    assert_eq!(answer.error, Some(ServerError::NotAllowedError as i32));
    // The largest permit count is fine: every message arrives once.
    client.flow(3, u32::MAX).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(payload_of(&client.recv_message().await.1));
    }
    assert_eq!(
        got,
        vec!["m0", "m1", "m2"],
        "nothing was acked by the bad acks"
    );
    // A seek into a ledger that does not exist moves to the next retained
    // entry: before every ledger, the first entry; past them, the end.
    for (ledger_id, expected) in [(0, vec!["m0", "m1", "m2"]), (u64::MAX / 4, vec![])] {
        client
            .send(CommandSeek {
                consumer_id: 3,
                request_id: 50 + ledger_id % 7,
                message_id: Some(MessageIdData {
                    ledger_id,
                    entry_id: 0,
                    ..Default::default()
                }),
                message_publish_time: None,
            })
            .await;
        assert!(client.recv_command().await.close_consumer.is_some());
        assert!(client.recv_command().await.success.is_some());
        client.subscribe(&topic, "s", SubType::Shared, 3).await;
        client.flow(3, 100).await;
        let mut got = Vec::new();
        for _ in 0..expected.len() {
            got.push(payload_of(&client.recv_message().await.1));
        }
        assert_eq!(got, expected, "seek to ledger {ledger_id}");
        assert!(client.try_recv(Duration::from_millis(200)).await.is_none());
    }
    broker.shutdown().await;
}
