//! Every kind of bad input, each sent on its own connection while a second
//! connection keeps publishing: the broker answers or closes only the
//! offending connection.

mod common;

use bytes::{BufMut, BytesMut};
use common::*;
use magnetar_proto::pulsar::api::*;
use magnetar_proto::pulsar::{encode_body, Frame, PayloadFrame};

/// A healthy connection with a producer, used to show others are unaffected.
async fn bystander(broker: &magnetar_broker::BrokerServiceHandle) -> RawClient {
    let mut client = RawClient::connect(broker.local_addr()).await;
    client.create_producer(&topic("bystander"), 1).await;
    client
}

async fn assert_still_works(client: &mut RawClient, sequence_id: u64) {
    client.publish_and_wait(1, sequence_id, b"still here").await;
}

fn frame_with_command_bytes(command: &[u8]) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_u32(4 + command.len() as u32);
    buf.put_u32(command.len() as u32);
    buf.put_slice(command);
    buf
}

#[tokio::test]
async fn garbage_bytes_close_only_that_connection() {
    let broker = start_broker().await;
    let mut healthy = bystander(&broker).await;
    let mut bad = RawClient::connect(broker.local_addr()).await;
    bad.send_raw(&frame_with_command_bytes(&[0xff; 12])).await;
    bad.expect_closed().await;
    assert_still_works(&mut healthy, 0).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn wrong_magic_closes_the_connection() {
    let broker = start_broker().await;
    let mut healthy = bystander(&broker).await;
    let mut bad = RawClient::connect(broker.local_addr()).await;
    bad.create_producer(&topic("magic"), 1).await;
    let command: BaseCommand = CommandSend {
        producer_id: 1,
        sequence_id: 0,
        ..Default::default()
    }
    .into();
    let command = prost::Message::encode_to_vec(&command);
    let body = encode_body(
        &MessageMetadata {
            producer_name: "p".into(),
            ..Default::default()
        },
        b"x",
    );
    let mut buf = BytesMut::new();
    buf.put_u32((4 + command.len() + 6 + body.len()) as u32);
    buf.put_u32(command.len() as u32);
    buf.put_slice(&command);
    buf.put_u16(0x0bad);
    buf.put_u32(crc32c::crc32c(&body));
    buf.put_slice(&body);
    bad.send_raw(&buf).await;
    bad.expect_closed().await;
    assert_still_works(&mut healthy, 0).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn bad_checksum_gets_send_error_and_keeps_the_connection() {
    let broker = start_broker().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    client.create_producer(&topic("checksum"), 1).await;
    let Frame::Payload(good) = publish_frame(1, 0, b"payload", 1) else {
        unreachable!()
    };
    let corrupt = PayloadFrame {
        received_checksum: None,
        ..good.clone()
    };
    // Encode, then flip one payload byte so the checksum no longer matches.
    let mut buf = BytesMut::new();
    tokio_util::codec::Encoder::encode(
        &mut magnetar_proto::pulsar::PulsarCodec::default(),
        Frame::Payload(corrupt),
        &mut buf,
    )
    .unwrap();
    let last = buf.len() - 1;
    buf[last] ^= 0x01;
    client.send_raw(&buf).await;
    let error = client.recv_command().await.send_error.expect("SEND_ERROR");
    assert_eq!((error.producer_id, error.sequence_id), (1, 0));
    assert_eq!(error.error, ServerError::ChecksumError as i32);
    // Same connection, next message goes through.
    client.publish_and_wait(1, 1, b"payload").await;
    broker.shutdown().await;
}

#[tokio::test]
async fn truncated_frame_closes_the_connection() {
    let broker = start_broker().await;
    let mut healthy = bystander(&broker).await;
    let mut bad = RawClient::connect(broker.local_addr()).await;
    let mut buf = BytesMut::new();
    buf.put_u32(8);
    buf.put_u32(500); // command size beyond the frame
    buf.put_u32(0);
    bad.send_raw(&buf).await;
    bad.expect_closed().await;
    assert_still_works(&mut healthy, 0).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn oversize_frame_closes_the_connection() {
    let broker = start_broker().await;
    let mut healthy = bystander(&broker).await;
    let mut bad = RawClient::connect(broker.local_addr()).await;
    let mut buf = BytesMut::new();
    buf.put_u32(64 * 1024 * 1024);
    buf.put_slice(&[0u8; 64]);
    bad.send_raw(&buf).await;
    bad.expect_closed().await;
    assert_still_works(&mut healthy, 0).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn send_for_unknown_producer_closes_the_connection() {
    let broker = start_broker().await;
    let mut healthy = bystander(&broker).await;
    let mut bad = RawClient::connect(broker.local_addr()).await;
    bad.publish(42, 0, b"nobody", 1).await;
    bad.expect_closed().await;
    assert_still_works(&mut healthy, 0).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn flow_for_unknown_consumer_closes_the_connection() {
    let broker = start_broker().await;
    let mut healthy = bystander(&broker).await;
    let mut bad = RawClient::connect(broker.local_addr()).await;
    bad.flow(42, 10).await;
    bad.expect_closed().await;
    assert_still_works(&mut healthy, 0).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn unknown_ids_with_request_ids_get_answers() {
    let broker = start_broker().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    client
        .send(CommandConsumerStats {
            consumer_id: 42,
            request_id: 4,
        })
        .await;
    let error = client.recv_command().await.error.expect("ERROR");
    assert_eq!(
        (error.request_id, error.error),
        (4, ServerError::ConsumerNotFound as i32)
    );
    // Closing is idempotent, as in Pulsar: an unknown id closes fine.
    let closes: [BaseCommand; 2] = [
        CommandCloseConsumer {
            consumer_id: 42,
            request_id: 5,
        }
        .into(),
        CommandCloseProducer {
            producer_id: 42,
            request_id: 6,
        }
        .into(),
    ];
    for (close, request_id) in closes.into_iter().zip([5, 6]) {
        client.send(close).await;
        let answer = client.recv_command().await;
        assert_eq!(answer.success.map(|s| s.request_id), Some(request_id));
    }
    // The connection is still usable.
    client.send(CommandPing {}).await;
    assert!(client.recv_command().await.pong.is_some());
    broker.shutdown().await;
}

#[tokio::test]
async fn commands_before_connect_close_the_connection() {
    let broker = start_broker().await;
    let mut bad = RawClient::open(broker.local_addr()).await;
    bad.send(CommandLookupTopic {
        topic: "t".into(),
        request_id: 1,
        ..Default::default()
    })
    .await;
    bad.expect_closed().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn silent_connections_are_closed_by_keepalive() {
    let config = magnetar_broker::BrokerServiceConfig {
        keepalive_interval: std::time::Duration::from_millis(100),
        ..Default::default()
    };
    let broker = start_broker_with(config).await;
    let mut silent = RawClient::connect(broker.local_addr()).await;
    // Never answer the broker's PINGs: expect_closed does not reply to them.
    silent.expect_closed().await;
    broker.shutdown().await;
}
