//! One client connection: a framed reader driven by this task and a writer
//! task fed through [`Outbound`].
//!
//! Commands are handled one at a time in arrival order. Handlers that wait
//! (topic loads, pending-publish permits) therefore hold back the following
//! commands of the same connection, which is the backpressure the protocol
//! expects; other connections are unaffected.
//!
//! The connection ends on: peer close, an undecodable frame, a protocol
//! violation ([`ConnectionError`]), two keepalive periods without traffic,
//! or broker shutdown. On the way out every producer and consumer of the
//! connection is detached, so a consumer's unacknowledged messages go back
//! to its subscription, and its topic-list watchers are stopped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use magnetar_proto::pulsar::api::base_command::Type;
use magnetar_proto::pulsar::api::{BaseCommand, CommandPing, CommandPong, ServerError};
use magnetar_proto::pulsar::{commands, Frame, PulsarCodec};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

use super::auth::ConnectionAuth;
use super::topic_watcher::TopicWatchers;
use super::ConnectionError;
use crate::consumer::Consumer;
use crate::context::BrokerContext;
use crate::producer::Producer;
use crate::topic::{PersistentTopic, Subscription};
use crate::wire::Outbound;

/// Frames written per flush at most, so one busy producer cannot starve the flush.
const WRITE_BATCH: usize = 64;

/// A consumer as its connection knows it.
pub(super) struct ConsumerSlot {
    pub consumer: Arc<Consumer>,
    pub subscription: Arc<Subscription>,
    pub topic: Arc<PersistentTopic>,
}

/// A producer as its connection knows it.
pub(super) struct ProducerSlot {
    pub producer: Arc<Producer>,
    pub topic: Arc<PersistentTopic>,
}

pub(super) struct Connection {
    pub context: Arc<BrokerContext>,
    pub cid: u64,
    pub out: Outbound,
    /// Negotiated protocol version; `None` until CONNECT.
    pub protocol_version: Option<i32>,
    /// Whether the client understands REACHED_END_OF_TOPIC (set at CONNECT).
    pub end_of_topic_notices: bool,
    pub producers: HashMap<u64, ProducerSlot>,
    pub consumers: HashMap<u64, ConsumerSlot>,
    /// Topic-list watchers (WATCH_TOPIC_LIST) by watcher id.
    pub topic_watchers: TopicWatchers,
    /// Bounds publishes awaiting their receipt.
    pub publish_permits: Arc<Semaphore>,
    /// Who the client is, and the state of a credential refresh.
    pub auth: ConnectionAuth,
}

/// Serves a plain-text connection.
pub(crate) async fn run(context: Arc<BrokerContext>, stream: TcpStream, cid: u64) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(error = %error, "could not set TCP_NODELAY");
    }
    let (read_half, write_half) = stream.into_split();
    serve(
        context,
        read_half,
        write_half,
        cid,
        ConnectionAuth::default(),
    )
    .await
}

/// Serves a connection whose TLS handshake is done; `common_name` is the
/// client certificate's, for the `tls` authentication provider.
pub(crate) async fn run_tls(
    context: Arc<BrokerContext>,
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    cid: u64,
    common_name: Option<String>,
) {
    if let Err(error) = stream.get_ref().0.set_nodelay(true) {
        tracing::debug!(error = %error, "could not set TCP_NODELAY");
    }
    let (read_half, write_half) = tokio::io::split(stream);
    serve(
        context,
        read_half,
        write_half,
        cid,
        ConnectionAuth::with_certificate(common_name),
    )
    .await
}

async fn serve<R, W>(
    context: Arc<BrokerContext>,
    read_half: R,
    write_half: W,
    cid: u64,
    auth: ConnectionAuth,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let codec = PulsarCodec::with_max_message_size(context.config.max_message_size);
    let mut reader = FramedRead::new(read_half, codec.clone());
    let (frames, frames_rx) = mpsc::unbounded_channel();
    let writer_done = CancellationToken::new();
    let close_writer = CancellationToken::new();
    let writer = tokio::spawn(write_frames(
        FramedWrite::new(write_half, codec),
        frames_rx,
        close_writer.clone(),
        writer_done.clone(),
    ));
    let mut connection = Connection {
        publish_permits: Arc::new(Semaphore::new(context.config.max_pending_publishes)),
        context,
        cid,
        out: Outbound::new(cid, frames),
        protocol_version: None,
        end_of_topic_notices: false,
        producers: HashMap::new(),
        consumers: HashMap::new(),
        topic_watchers: TopicWatchers::default(),
        auth,
    };
    tracing::debug!("connection accepted");
    match connection.read_loop(&mut reader, &writer_done).await {
        Ok(()) => tracing::debug!("connection closed"),
        Err(error) => tracing::warn!(error = %error, "closing connection"),
    }
    connection.detach_all().await;
    close_writer.cancel();
    if let Err(error) = writer.await {
        tracing::warn!(error = %error, "writer task failed");
    }
}

impl Connection {
    async fn read_loop<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut FramedRead<R, PulsarCodec>,
        writer_done: &CancellationToken,
    ) -> Result<(), ConnectionError> {
        let interval = self.context.config.keepalive_interval;
        let mut keepalive = tokio::time::interval_at(Instant::now() + interval, interval);
        let refresh = self.context.security.authn.refresh_check_interval();
        let mut auth_check = tokio::time::interval_at(Instant::now() + refresh, refresh);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                _ = self.context.shutdown.cancelled() => return Ok(()),
                _ = writer_done.cancelled() => return Err(ConnectionError::WriterGone),
                frame = reader.next() => match frame {
                    None => return Ok(()),
                    Some(Err(error)) => return Err(error.into()),
                    Some(Ok(frame)) => {
                        last_heard = Instant::now();
                        self.handle_frame(frame).await?;
                    }
                },
                _ = keepalive.tick() => {
                    let silent: Duration = last_heard.elapsed();
                    if silent > interval * 2 {
                        return Err(ConnectionError::KeepaliveTimeout(silent));
                    }
                    if self.protocol_version.is_some() {
                        self.out.send(CommandPing {});
                    }
                }
                _ = auth_check.tick() => self.check_credentials()?,
            }
        }
    }

    /// SEND, the one client command with a message body, goes straight to
    /// [`Self::handle_send`] without copying its command; a body on any
    /// other command is dropped.
    async fn handle_frame(&mut self, frame: Frame) -> Result<(), ConnectionError> {
        match frame {
            Frame::Payload(mut payload)
                if commands::command_type(&payload.command) == Some(Type::Send) =>
            {
                self.check_connected(Type::Send)?;
                let send = payload
                    .command
                    .send
                    .take()
                    .ok_or(ConnectionError::MissingBody(payload.command.r#type))?;
                self.handle_send(*send, payload).await
            }
            frame => self.handle_command(frame.into_command()).await,
        }
    }

    /// Before CONNECT only CONNECT is allowed.
    fn check_connected(&self, kind: Type) -> Result<(), ConnectionError> {
        if self.protocol_version.is_none() && kind != Type::Connect {
            return Err(ConnectionError::NotConnected(kind.as_str_name()));
        }
        Ok(())
    }

    async fn handle_command(&mut self, command: BaseCommand) -> Result<(), ConnectionError> {
        let kind = commands::command_type(&command)
            .ok_or(ConnectionError::UnknownCommandType(command.r#type))?;
        self.check_connected(kind)?;
        let missing = || ConnectionError::MissingBody(command.r#type);
        match kind {
            Type::Connect => self.handle_connect(*command.connect.ok_or_else(missing)?)?,
            Type::Ping => {
                self.out.send(CommandPong {});
            }
            Type::Pong => {}
            Type::Lookup => {
                self.handle_lookup(*command.lookup_topic.ok_or_else(missing)?)
                    .await
            }
            Type::PartitionedMetadata => {
                self.handle_partitioned_metadata(*command.partition_metadata.ok_or_else(missing)?)
                    .await
            }
            Type::GetTopicsOfNamespace => {
                self.handle_topics_of_namespace(
                    *command.get_topics_of_namespace.ok_or_else(missing)?,
                )
                .await
            }
            Type::WatchTopicList => {
                self.handle_watch_topic_list(*command.watch_topic_list.ok_or_else(missing)?)
                    .await
            }
            Type::WatchTopicListClose => {
                self.handle_watch_topic_list_close(
                    *command.watch_topic_list_close.ok_or_else(missing)?,
                )
                .await
            }
            Type::GetSchema => {
                self.handle_get_schema(*command.get_schema.ok_or_else(missing)?)
                    .await
            }
            Type::GetOrCreateSchema => {
                self.handle_get_or_create_schema(*command.get_or_create_schema.ok_or_else(missing)?)
                    .await
            }
            Type::Producer => {
                self.handle_producer(*command.producer.ok_or_else(missing)?)
                    .await
            }
            Type::Send => return Err(ConnectionError::SendWithoutPayload),
            Type::CloseProducer => {
                self.handle_close_producer(*command.close_producer.ok_or_else(missing)?)
            }
            Type::Subscribe => {
                self.handle_subscribe(*command.subscribe.ok_or_else(missing)?)
                    .await
            }
            Type::Flow => self.handle_flow(*command.flow.ok_or_else(missing)?)?,
            Type::Ack => self.handle_ack(*command.ack.ok_or_else(missing)?)?,
            Type::RedeliverUnacknowledgedMessages => self.handle_redeliver(
                *command
                    .redeliver_unacknowledged_messages
                    .ok_or_else(missing)?,
            )?,
            Type::Unsubscribe => {
                self.handle_unsubscribe(*command.unsubscribe.ok_or_else(missing)?)
                    .await
            }
            Type::CloseConsumer => {
                self.handle_close_consumer(*command.close_consumer.ok_or_else(missing)?)
                    .await
            }
            Type::Seek => self.handle_seek(*command.seek.ok_or_else(missing)?).await,
            Type::GetLastMessageId => {
                self.handle_get_last_message_id(*command.get_last_message_id.ok_or_else(missing)?)
            }
            Type::ConsumerStats => {
                self.handle_consumer_stats(*command.consumer_stats.ok_or_else(missing)?)
            }
            Type::TcClientConnectRequest => self
                .handle_tc_client_connect(*command.tc_client_connect_request.ok_or_else(missing)?),
            Type::AuthResponse => {
                self.handle_auth_response(*command.auth_response.ok_or_else(missing)?)?
            }
            other => self.ignore(other, &command),
        }
        Ok(())
    }

    /// A command this broker does not serve: a request is answered with
    /// `NotAllowedError` so the client does not wait for ever; anything
    /// else is logged and dropped.
    fn ignore(&self, kind: Type, command: &BaseCommand) {
        match commands::any_request_id(command) {
            Some(request_id) => {
                tracing::info!(command = kind.as_str_name(), "refusing unsupported request");
                self.out.send(commands::error(
                    request_id,
                    ServerError::NotAllowedError,
                    format!("{} is not supported by this broker", kind.as_str_name()),
                ));
            }
            None => tracing::warn!(
                command = kind.as_str_name(),
                "ignoring command a client should not send"
            ),
        }
    }

    /// Detaches everything this connection created (disconnect).
    async fn detach_all(&mut self) {
        self.topic_watchers.stop_all().await;
        for (_, slot) in self.producers.drain() {
            slot.producer.close();
            slot.topic.remove_producer(&slot.producer);
        }
        for (consumer_id, slot) in self.consumers.drain() {
            slot.consumer.close();
            slot.topic
                .detach_consumer(&slot.subscription, consumer_id, self.cid)
                .await;
        }
    }
}

/// Writes queued frames until asked to stop, then flushes what is queued
/// and shuts the socket down.
async fn write_frames<W: AsyncWrite + Unpin>(
    mut writer: FramedWrite<W, PulsarCodec>,
    mut frames: mpsc::UnboundedReceiver<Frame>,
    close: CancellationToken,
    done: CancellationToken,
) {
    let result: Result<(), magnetar_proto::pulsar::FrameError> = async {
        loop {
            let frame = tokio::select! {
                biased;
                frame = frames.recv() => frame,
                _ = close.cancelled() => None,
            };
            let Some(frame) = frame else { break };
            feed(&mut writer, frame).await?;
            for _ in 1..WRITE_BATCH {
                match frames.try_recv() {
                    Ok(frame) => feed(&mut writer, frame).await?,
                    Err(_) => break,
                }
            }
            writer.flush().await?;
        }
        while let Ok(frame) = frames.try_recv() {
            feed(&mut writer, frame).await?;
        }
        writer.flush().await
    }
    .await;
    if let Err(error) = result {
        tracing::debug!(error = %error, "write failed");
    }
    done.cancel();
    if let Err(error) = writer.into_inner().shutdown().await {
        tracing::debug!(error = %error, "socket shutdown failed");
    }
}

/// Writes one frame; a frame too large to encode is dropped with a log line
/// instead of ending the connection.
async fn feed<W: AsyncWrite + Unpin>(
    writer: &mut FramedWrite<W, PulsarCodec>,
    frame: Frame,
) -> Result<(), magnetar_proto::pulsar::FrameError> {
    match writer.feed(frame).await {
        Err(magnetar_proto::pulsar::FrameError::FrameTooLarge { size, limit }) => {
            tracing::warn!(size, limit, "dropping outgoing frame over the size limit");
            Ok(())
        }
        other => other,
    }
}
