//! Protocol-level tests with a raw-frame client: handshake, discovery,
//! the publish path, permits, subscription rules and redelivery.

mod common;

use std::time::Duration;

use common::*;
use magnetar_proto::pulsar::api::command_lookup_topic_response::LookupType;
use magnetar_proto::pulsar::api::command_subscribe::SubType;
use magnetar_proto::pulsar::api::*;

#[tokio::test]
async fn connect_negotiates_the_lower_protocol_version() {
    let broker = start_broker().await;
    let mut old = RawClient::open(broker.local_addr()).await;
    assert_eq!(old.handshake(12).await.protocol_version, Some(12));
    let mut new = RawClient::open(broker.local_addr()).await;
    let connected = new.handshake(99).await;
    assert_eq!(
        connected.protocol_version,
        Some(magnetar_proto::pulsar::PROTOCOL_VERSION)
    );
    assert_eq!(connected.max_message_size, Some(5 * 1024 * 1024));
    broker.shutdown().await;
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let broker = start_broker().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    client.send(CommandPing {}).await;
    assert!(client.recv_command().await.pong.is_some());
    broker.shutdown().await;
}

#[tokio::test]
async fn lookup_and_partitioned_metadata_point_at_this_broker() {
    let broker = start_broker().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    client
        .send(CommandLookupTopic {
            topic: "lookup-me".into(),
            request_id: 7,
            ..Default::default()
        })
        .await;
    let lookup = client
        .recv_command()
        .await
        .lookup_topic_response
        .expect("LOOKUP_RESPONSE");
    assert_eq!(lookup.request_id, 7);
    assert_eq!(lookup.response, Some(LookupType::Connect as i32));
    assert_eq!(
        lookup.broker_service_url.as_deref(),
        Some(broker.service_url())
    );

    client
        .send(CommandPartitionedTopicMetadata {
            topic: "lookup-me".into(),
            request_id: 8,
            ..Default::default()
        })
        .await;
    let metadata = client
        .recv_command()
        .await
        .partition_metadata_response
        .expect("PARTITIONED_METADATA_RESPONSE");
    assert_eq!((metadata.request_id, metadata.partitions), (8, Some(0)));

    client
        .send(CommandLookupTopic {
            topic: "a://b".into(),
            request_id: 9,
            ..Default::default()
        })
        .await;
    let failed = client
        .recv_command()
        .await
        .lookup_topic_response
        .expect("LOOKUP_RESPONSE");
    assert_eq!(failed.response, Some(LookupType::Failed as i32));
    assert_eq!(failed.error, Some(ServerError::InvalidTopicName as i32));
    broker.shutdown().await;
}

fn json_schema(data: &[u8]) -> Schema {
    Schema {
        name: "typed".into(),
        schema_data: data.to_vec().into(),
        r#type: schema::Type::Json as i32,
        properties: Vec::new(),
    }
}

#[tokio::test]
async fn get_or_create_schema_registers_versions_and_refuses_bad_ones() {
    let broker = start_broker().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    let record = br#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#;
    for (request_id, data, expected) in [
        (31, &record[..], Ok(0u64)),
        (32, &record[..], Ok(0)),
        (
            33,
            &b"{not a schema"[..],
            Err(ServerError::IncompatibleSchema),
        ),
    ] {
        client
            .send(CommandGetOrCreateSchema {
                request_id,
                topic: "typed".into(),
                schema: json_schema(data),
            })
            .await;
        let answer = client
            .recv_command()
            .await
            .get_or_create_schema_response
            .expect("GET_OR_CREATE_SCHEMA_RESPONSE");
        assert_eq!(answer.request_id, request_id);
        match expected {
            Ok(version) => {
                assert_eq!(answer.error_code, None, "{answer:?}");
                assert_eq!(
                    answer.schema_version.as_deref(),
                    Some(&version.to_be_bytes()[..])
                );
            }
            Err(code) => {
                assert_eq!(answer.error_code, Some(code as i32));
                assert!(answer
                    .error_message
                    .is_some_and(|m| m.contains("invalid schema")));
            }
        }
    }
    client
        .send(CommandGetSchema {
            request_id: 34,
            topic: "typed".into(),
            schema_version: None,
        })
        .await;
    let answer = client
        .recv_command()
        .await
        .get_schema_response
        .expect("GET_SCHEMA_RESPONSE");
    assert_eq!(
        answer.schema.map(|s| s.schema_data.to_vec()),
        Some(record.to_vec())
    );
    // The connection still serves.
    client.send(CommandPing {}).await;
    assert!(client.recv_command().await.pong.is_some());
    broker.shutdown().await;
}

#[tokio::test]
async fn topics_of_namespace_lists_created_topics() {
    let broker = start_broker().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    let topic = topic("listed");
    client.create_producer(&topic, 1).await;
    client
        .send(CommandGetTopicsOfNamespace {
            request_id: 3,
            namespace: "public/default".into(),
            ..Default::default()
        })
        .await;
    let listed = client
        .recv_command()
        .await
        .get_topics_of_namespace_response
        .expect("topics response");
    assert!(
        listed.topics.contains(&topic),
        "{topic} missing from {:?}",
        listed.topics
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn receipts_follow_send_order_with_increasing_positions() {
    let broker = start_broker().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    let success = client.create_producer(&topic("receipts"), 1).await;
    assert!(success.producer_name.starts_with("standalone-"));
    assert_eq!(success.last_sequence_id, Some(-1));
    for sequence_id in 0..50 {
        client
            .publish(1, sequence_id, format!("m{sequence_id}").as_bytes(), 1)
            .await;
    }
    let mut last = None;
    for sequence_id in 0..50 {
        let receipt = client
            .recv_command()
            .await
            .send_receipt
            .expect("SEND_RECEIPT");
        assert_eq!(receipt.sequence_id, sequence_id);
        let id = receipt.message_id.expect("message id");
        let position = (id.ledger_id, id.entry_id);
        assert!(last.is_none_or(|l| l < position), "positions must increase");
        last = Some(position);
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn producer_names_are_unique_per_topic() {
    let broker = start_broker().await;
    let topic = topic("names");
    let mut first = RawClient::connect(broker.local_addr()).await;
    let mut second = RawClient::connect(broker.local_addr()).await;
    let named = |producer_id| CommandProducer {
        topic: topic.clone(),
        producer_id,
        request_id: 1,
        producer_name: Some("only-one".into()),
        ..Default::default()
    };
    first.send(named(1)).await;
    assert!(first.recv_command().await.producer_success.is_some());
    second.send(named(1)).await;
    let error = second.recv_command().await.error.expect("ERROR");
    assert_eq!(error.error, ServerError::ProducerBusy as i32);
    broker.shutdown().await;
}

/// With N permits the broker sends exactly N messages, then waits for more.
#[tokio::test]
async fn dispatch_honours_permits_exactly() {
    let broker = start_broker().await;
    let topic = topic("permits");
    let mut producer = RawClient::connect(broker.local_addr()).await;
    producer.create_producer(&topic, 1).await;
    for sequence_id in 0..10 {
        producer
            .publish_and_wait(1, sequence_id, format!("m{sequence_id}").as_bytes())
            .await;
    }
    let mut consumer = RawClient::connect(broker.local_addr()).await;
    assert!(consumer
        .subscribe(&topic, "sub", SubType::Exclusive, 5)
        .await
        .success
        .is_some());
    consumer.flow(5, 3).await;
    let mut received = Vec::new();
    for _ in 0..3 {
        received.push(payload_of(&consumer.recv_message().await.1));
    }
    assert!(
        consumer
            .try_recv(Duration::from_millis(300))
            .await
            .is_none(),
        "more than 3 messages sent"
    );
    consumer.flow(5, 7).await;
    for _ in 0..7 {
        received.push(payload_of(&consumer.recv_message().await.1));
    }
    let expected: Vec<_> = (0..10)
        .map(|i| bytes::Bytes::from(format!("m{i}")))
        .collect();
    assert_eq!(
        received, expected,
        "exclusive delivery must keep publish order"
    );
    broker.shutdown().await;
}

/// A batch costs as many permits as it holds messages.
#[tokio::test]
async fn batches_are_charged_per_message() {
    let broker = start_broker().await;
    let topic = topic("batch-permits");
    let mut producer = RawClient::connect(broker.local_addr()).await;
    producer.create_producer(&topic, 1).await;
    for sequence_id in [0, 10] {
        producer.publish(1, sequence_id, b"batch", 10).await;
        assert!(producer.recv_command().await.send_receipt.is_some());
    }
    let mut consumer = RawClient::connect(broker.local_addr()).await;
    consumer
        .subscribe(&topic, "sub", SubType::Exclusive, 1)
        .await;
    consumer.flow(1, 5).await;
    consumer.recv_message().await;
    // Permits are now 5 - 10 = -5: 5 more leave the consumer at 0.
    consumer.flow(1, 5).await;
    assert!(consumer
        .try_recv(Duration::from_millis(300))
        .await
        .is_none());
    consumer.flow(1, 1).await;
    consumer.recv_message().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn second_exclusive_consumer_is_busy_and_other_types_are_refused_while_it_is_there() {
    let broker = start_broker().await;
    let topic = topic("exclusive");
    let mut client = RawClient::connect(broker.local_addr()).await;
    assert!(client
        .subscribe(&topic, "sub", SubType::Exclusive, 1)
        .await
        .success
        .is_some());
    let busy = client
        .subscribe(&topic, "sub", SubType::Exclusive, 2)
        .await
        .error
        .expect("ERROR");
    assert_eq!(busy.error, ServerError::ConsumerBusy as i32);
    let failover = client
        .subscribe(&topic, "sub", SubType::Failover, 3)
        .await
        .error
        .expect("ERROR");
    assert_eq!(failover.error, ServerError::ConsumerBusy as i32);
    broker.shutdown().await;
}

#[tokio::test]
async fn exclusive_redelivery_rewinds_to_first_unacked() {
    let broker = start_broker().await;
    let topic = topic("rewind");
    let mut client = RawClient::connect(broker.local_addr()).await;
    client.create_producer(&topic, 1).await;
    for sequence_id in 0..4 {
        client
            .publish_and_wait(1, sequence_id, format!("m{sequence_id}").as_bytes())
            .await;
    }
    client.subscribe(&topic, "sub", SubType::Exclusive, 9).await;
    client.flow(9, 4).await;
    let mut first_round = Vec::new();
    for _ in 0..4 {
        first_round.push(client.recv_message().await.0.message_id);
    }
    client
        .send(CommandAck {
            consumer_id: 9,
            ack_type: command_ack::AckType::Cumulative as i32,
            message_id: vec![first_round[1].clone()],
            ..Default::default()
        })
        .await;
    client
        .send(CommandRedeliverUnacknowledgedMessages {
            consumer_id: 9,
            ..Default::default()
        })
        .await;
    client.flow(9, 10).await;
    let again: Vec<_> = vec![
        client.recv_message().await.0.message_id,
        client.recv_message().await.0.message_id,
    ];
    assert_eq!(again, first_round[2..].to_vec());
    assert!(client.try_recv(Duration::from_millis(300)).await.is_none());
    broker.shutdown().await;
}

#[tokio::test]
async fn shared_consumer_close_redelivers_its_unacked_messages() {
    let broker = start_broker().await;
    let topic = topic("shared-close");
    let mut producer = RawClient::connect(broker.local_addr()).await;
    producer.create_producer(&topic, 1).await;
    let mut first = RawClient::connect(broker.local_addr()).await;
    let mut second = RawClient::connect(broker.local_addr()).await;
    first.subscribe(&topic, "shared", SubType::Shared, 1).await;
    second.subscribe(&topic, "shared", SubType::Shared, 2).await;
    first.flow(1, 100).await;
    for sequence_id in 0..4 {
        producer
            .publish_and_wait(1, sequence_id, format!("m{sequence_id}").as_bytes())
            .await;
    }
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(first.recv_message().await.0.message_id);
    }
    // Ack one; the other three must move to the second consumer.
    first
        .send(CommandAck {
            consumer_id: 1,
            ack_type: command_ack::AckType::Individual as i32,
            message_id: vec![held[0].clone()],
            ..Default::default()
        })
        .await;
    first
        .send(CommandCloseConsumer {
            consumer_id: 1,
            request_id: 50,
        })
        .await;
    assert!(first.recv_command().await.success.is_some());
    second.flow(2, 100).await;
    let mut redelivered = Vec::new();
    for _ in 0..3 {
        let (message, _) = second.recv_message().await;
        assert_eq!(message.redelivery_count, Some(1));
        redelivered.push(message.message_id);
    }
    redelivered.sort_by_key(|id| (id.ledger_id, id.entry_id));
    assert_eq!(redelivered, held[1..].to_vec());
    assert!(second.try_recv(Duration::from_millis(300)).await.is_none());
    broker.shutdown().await;
}

#[tokio::test]
async fn shared_redelivery_of_listed_ids_is_served_first() {
    let broker = start_broker().await;
    let topic = topic("shared-nack");
    let mut client = RawClient::connect(broker.local_addr()).await;
    client.create_producer(&topic, 1).await;
    for sequence_id in 0..3 {
        client.publish_and_wait(1, sequence_id, b"x").await;
    }
    client.subscribe(&topic, "s", SubType::Shared, 4).await;
    client.flow(4, 2).await;
    let first = client.recv_message().await.0.message_id;
    let _second = client.recv_message().await.0.message_id;
    client
        .send(CommandRedeliverUnacknowledgedMessages {
            consumer_id: 4,
            message_ids: vec![first.clone()],
            consumer_epoch: None,
        })
        .await;
    client.flow(4, 1).await;
    let (replayed, _) = client.recv_message().await;
    assert_eq!(replayed.message_id, first);
    assert_eq!(replayed.redelivery_count, Some(1));
    broker.shutdown().await;
}

#[tokio::test]
async fn unsubscribe_needs_the_subscription_to_itself() {
    let broker = start_broker().await;
    let topic = topic("unsubscribe");
    let mut a = RawClient::connect(broker.local_addr()).await;
    let mut b = RawClient::connect(broker.local_addr()).await;
    a.subscribe(&topic, "s", SubType::Shared, 1).await;
    b.subscribe(&topic, "s", SubType::Shared, 2).await;
    a.send(CommandUnsubscribe {
        consumer_id: 1,
        request_id: 10,
    })
    .await;
    assert_eq!(
        a.recv_command().await.error.expect("ERROR").error,
        ServerError::ConsumerBusy as i32
    );
    b.send(CommandCloseConsumer {
        consumer_id: 2,
        request_id: 11,
    })
    .await;
    assert!(b.recv_command().await.success.is_some());
    a.send(CommandUnsubscribe {
        consumer_id: 1,
        request_id: 12,
    })
    .await;
    assert!(a.recv_command().await.success.is_some());
    broker.shutdown().await;
}

#[tokio::test]
async fn get_last_message_id_reports_the_last_entry() {
    let broker = start_broker().await;
    let topic = topic("last-id");
    let mut client = RawClient::connect(broker.local_addr()).await;
    client.create_producer(&topic, 1).await;
    client.publish_and_wait(1, 0, b"a").await;
    let last = client.publish_and_wait(1, 1, b"b").await;
    client.subscribe(&topic, "s", SubType::Exclusive, 3).await;
    let reply = client.last_message_id(3).await;
    let id = reply.last_message_id;
    assert_eq!((id.ledger_id, id.entry_id), (last.ledger_id, last.entry_id));
    broker.shutdown().await;
}

#[tokio::test]
async fn last_message_id_of_an_empty_topic_is_minus_one() {
    let broker = start_broker().await;
    let topic = topic("empty-last");
    let mut client = RawClient::connect(broker.local_addr()).await;
    client.subscribe(&topic, "s", SubType::Exclusive, 1).await;
    let id = client.last_message_id(1).await.last_message_id;
    assert_eq!((id.ledger_id as i64, id.entry_id as i64), (-1, -1));
    broker.shutdown().await;
}
