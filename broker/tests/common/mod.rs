//! Shared harness of the broker integration tests: an in-process broker on
//! an ephemeral port over in-memory metadata and ledgers (with its admin API
//! when a test needs it: [`AdminNode`]), and a raw-frame client for tests
//! that need to see (or break) individual frames.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use magnetar_bookie::testing::MemoryLedgerStore;
use magnetar_broker::admin::{self, AdminState};
use magnetar_broker::{BrokerService, BrokerServiceConfig, BrokerServiceHandle};
use magnetar_metadata::MemoryStore;
use magnetar_proto::pulsar::api::command_subscribe::{InitialPosition, SubType};
use magnetar_proto::pulsar::api::*;
use magnetar_proto::pulsar::{encode_body, Frame, PayloadFrame, PulsarCodec};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// Upper bound on any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// `GET path` over HTTP/1.0: the response head and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("response in time")
        .unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("header/body separator");
    (head.to_string(), body.to_string())
}

/// The status code of a response head.
pub fn status_code(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status code")
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

pub async fn start_broker() -> BrokerServiceHandle {
    start_broker_with(BrokerServiceConfig::default()).await
}

pub async fn start_broker_with(config: BrokerServiceConfig) -> BrokerServiceHandle {
    start_broker_over(
        config,
        &Arc::new(MemoryStore::new()),
        &Arc::new(MemoryLedgerStore::new()),
    )
    .await
}

/// A broker over the given stores: start another over the same ones after
/// a shutdown to see what survives a restart.
pub async fn start_broker_over(
    mut config: BrokerServiceConfig,
    metadata: &Arc<MemoryStore>,
    ledgers: &Arc<MemoryLedgerStore>,
) -> BrokerServiceHandle {
    init_tracing();
    config.managed_ledger.ensemble_size = 1;
    config.managed_ledger.write_quorum = 1;
    config.managed_ledger.ack_quorum = 1;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    BrokerService::start(config, metadata.clone(), ledgers.clone(), listener)
        .await
        .unwrap()
}

/// The first answer's PRODUCER_SUCCESS, or a panic naming what came.
pub fn producer_success(reply: &BaseCommand) -> &CommandProducerSuccess {
    reply
        .producer_success
        .as_ref()
        .unwrap_or_else(|| panic!("expected PRODUCER_SUCCESS, got {reply:?}"))
}

/// The error code of an ERROR answer, or a panic naming what came.
pub fn error_code(reply: &BaseCommand) -> ServerError {
    let error = reply
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("expected ERROR, got {reply:?}"));
    ServerError::try_from(error.error).unwrap()
}

/// A broker, a topic unique to the calling test, and a connection with a
/// producer (id 1) on that topic.
pub async fn broker_with_producer(test: &str) -> (BrokerServiceHandle, String, RawClient) {
    let broker = start_broker().await;
    let topic = topic(test);
    let mut producer = RawClient::connect(broker.local_addr()).await;
    producer.create_producer(&topic, 1).await;
    (broker, topic, producer)
}

/// Client speaking raw frames.
pub struct RawClient {
    pub framed: Framed<TcpStream, PulsarCodec>,
}

impl RawClient {
    /// Opens a TCP connection without the CONNECT handshake.
    pub async fn open(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).await.unwrap();
        RawClient {
            framed: Framed::new(stream, PulsarCodec::default()),
        }
    }

    /// Opens a connection and completes CONNECT/CONNECTED.
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let mut client = Self::open(addr).await;
        let connected = client.handshake(17).await;
        assert_eq!(connected.protocol_version, Some(17));
        client
    }

    pub async fn handshake(&mut self, protocol_version: i32) -> CommandConnected {
        self.send(CommandConnect {
            client_version: "raw-test".into(),
            protocol_version: Some(protocol_version),
            ..Default::default()
        })
        .await;
        *self
            .recv_command()
            .await
            .connected
            .expect("expected CONNECTED")
    }

    pub async fn send(&mut self, command: impl Into<BaseCommand>) {
        self.framed
            .send(Frame::Command(command.into()))
            .await
            .unwrap();
    }

    pub async fn send_frame(&mut self, frame: Frame) {
        self.framed.send(frame).await.unwrap();
    }

    /// Writes bytes straight to the socket.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.framed.get_mut().write_all(bytes).await.unwrap();
    }

    /// Next frame, answering broker PINGs on the way.
    pub async fn recv(&mut self) -> Frame {
        loop {
            let frame = tokio::time::timeout(WAIT, self.framed.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("connection closed")
                .expect("undecodable frame from broker");
            if frame.command().ping.is_some() {
                self.send(CommandPong {}).await;
                continue;
            }
            return frame;
        }
    }

    pub async fn recv_command(&mut self) -> BaseCommand {
        self.recv().await.command().clone()
    }

    /// Next frame if one arrives within `wait`.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<Frame> {
        match tokio::time::timeout(wait, self.framed.next()).await {
            Ok(Some(Ok(frame))) => Some(frame),
            _ => None,
        }
    }

    /// Waits until the broker closes the connection; panics if it stays open.
    pub async fn expect_closed(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.framed.next()).await {
                Err(_) => panic!("broker did not close the connection"),
                Ok(None) | Ok(Some(Err(_))) => return,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    pub async fn create_producer(
        &mut self,
        topic: &str,
        producer_id: u64,
    ) -> CommandProducerSuccess {
        self.send(CommandProducer {
            topic: topic.into(),
            producer_id,
            request_id: 1000 + producer_id,
            ..Default::default()
        })
        .await;
        let reply = self.recv_command().await;
        match reply.producer_success {
            Some(success) => *success,
            None => panic!("expected PRODUCER_SUCCESS, got {reply:?}"),
        }
    }

    /// Sends one message (a batch of `batch` when > 1) and returns nothing;
    /// read the receipt with [`Self::recv_command`].
    pub async fn publish(
        &mut self,
        producer_id: u64,
        sequence_id: u64,
        payload: &[u8],
        batch: i32,
    ) {
        let frame = publish_frame(producer_id, sequence_id, payload, batch);
        self.send_frame(frame).await;
    }

    pub async fn publish_and_wait(
        &mut self,
        producer_id: u64,
        sequence_id: u64,
        payload: &[u8],
    ) -> MessageIdData {
        self.publish(producer_id, sequence_id, payload, 1).await;
        let reply = self.recv_command().await;
        let receipt = match reply.send_receipt {
            Some(receipt) => receipt,
            None => panic!("expected SEND_RECEIPT, got {reply:?}"),
        };
        assert_eq!(receipt.sequence_id, sequence_id);
        receipt.message_id.expect("receipt without message id")
    }

    /// Publishes `m0`, `m1`, ... (`count` messages, sequence ids from 0)
    /// one at a time and returns their ids.
    pub async fn publish_numbered(&mut self, producer_id: u64, count: u64) -> Vec<MessageIdData> {
        let mut ids = Vec::new();
        for sequence_id in 0..count {
            let payload = format!("m{sequence_id}");
            ids.push(
                self.publish_and_wait(producer_id, sequence_id, payload.as_bytes())
                    .await,
            );
        }
        ids
    }

    /// GET_LAST_MESSAGE_ID for `consumer_id` and its answer.
    pub async fn last_message_id(&mut self, consumer_id: u64) -> CommandGetLastMessageIdResponse {
        self.send(CommandGetLastMessageId {
            consumer_id,
            request_id: 7000 + consumer_id,
        })
        .await;
        *self
            .recv_command()
            .await
            .get_last_message_id_response
            .expect("GET_LAST_MESSAGE_ID_RESPONSE")
    }

    /// Subscribes and returns the broker's reply (SUCCESS or ERROR).
    pub async fn subscribe(
        &mut self,
        topic: &str,
        subscription: &str,
        sub_type: SubType,
        consumer_id: u64,
    ) -> BaseCommand {
        self.send(CommandSubscribe {
            topic: topic.into(),
            subscription: subscription.into(),
            sub_type: sub_type as i32,
            consumer_id,
            request_id: 2000 + consumer_id,
            initial_position: Some(InitialPosition::Earliest as i32),
            ..Default::default()
        })
        .await;
        self.recv_command().await
    }

    pub async fn flow(&mut self, consumer_id: u64, permits: u32) {
        self.send(CommandFlow {
            consumer_id,
            message_permits: permits,
        })
        .await;
    }

    /// Next MESSAGE frame as (command, body).
    pub async fn recv_message(&mut self) -> (CommandMessage, Bytes) {
        match self.recv().await {
            Frame::Payload(PayloadFrame { command, body, .. }) => (
                *command
                    .message
                    .unwrap_or_else(|| panic!("payload frame without MESSAGE")),
                body,
            ),
            Frame::Command(other) => panic!("expected MESSAGE, got {other:?}"),
        }
    }
}

pub fn publish_frame(producer_id: u64, sequence_id: u64, payload: &[u8], batch: i32) -> Frame {
    let metadata = MessageMetadata {
        producer_name: "raw".into(),
        sequence_id,
        publish_time: 1,
        num_messages_in_batch: (batch > 1).then_some(batch),
        ..Default::default()
    };
    let send = CommandSend {
        producer_id,
        sequence_id,
        num_messages: Some(batch.max(1)),
        highest_sequence_id: Some(sequence_id + batch.max(1) as u64 - 1),
        ..Default::default()
    };
    Frame::Payload(PayloadFrame::new(
        send.into(),
        encode_body(&metadata, payload),
    ))
}

/// The payload part of a stored message body.
pub fn payload_of(body: &Bytes) -> Bytes {
    magnetar_proto::pulsar::split_body(body).unwrap().1
}

/// A topic name unique to the calling test.
pub fn topic(test: &str) -> String {
    format!(
        "persistent://public/default/{test}-{}",
        rand::random::<u32>()
    )
}

/// A broker and its admin API over the given stores.
pub struct AdminNode {
    pub broker: BrokerServiceHandle,
    pub admin: SocketAddr,
    stop_admin: CancellationToken,
}

impl AdminNode {
    pub async fn start(metadata: &Arc<MemoryStore>, ledgers: &Arc<MemoryLedgerStore>) -> AdminNode {
        let broker = start_broker_over(BrokerServiceConfig::default(), metadata, ledgers).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = listener.local_addr().unwrap();
        let mut state = AdminState::new(metadata.clone(), broker.factory().clone(), "standalone");
        state.topics = Some(broker.topics().clone());
        let stop_admin = CancellationToken::new();
        tokio::spawn(admin::serve(
            listener,
            state,
            stop_admin.clone().cancelled_owned(),
        ));
        AdminNode {
            broker,
            admin,
            stop_admin,
        }
    }

    pub async fn stop(self) {
        self.stop_admin.cancel();
        self.broker.shutdown().await;
    }

    /// One admin request: the status and the JSON body (`null` if none).
    pub async fn http(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        http_json(self.admin, method, path, body).await
    }
}

/// One HTTP/1.0 request with a JSON body: the status and the JSON answer
/// (`null` when empty or not JSON).
pub async fn http_json(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("response in time")
        .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        status_code(head),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}
