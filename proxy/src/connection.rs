//! The proxy's Pulsar listener: each client's first frame must be
//! `CONNECT`, which decides what the connection is. With
//! `proxy_to_broker_url` it becomes a [tunnel](crate::tunnel) to that
//! broker; without, the proxy answers `CONNECTED` itself and serves
//! [lookups](crate::lookup) on it, several at a time.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use magnetar_proto::pulsar::api::base_command::Type;
use magnetar_proto::pulsar::api::{CommandConnect, CommandConnected};
use magnetar_proto::pulsar::commands::command_type;
use magnetar_proto::pulsar::{Frame, PulsarCodec, PROTOCOL_VERSION};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::error::ProxyError;
use crate::lookup::{Answer, LookupService};
use crate::metrics;
use crate::upstream::{Dialer, CLIENT_VERSION};

/// Lookups one client connection may have in flight; more wait.
const LOOKUPS_IN_FLIGHT: usize = 128;

pub struct ProxyContext {
    pub lookups: LookupService,
    pub dialer: Dialer,
    /// How long a client has to send `CONNECT`, and a broker to answer one.
    pub handshake_timeout: Duration,
    pub max_message_size: usize,
}

/// Accepts clients until `shutdown`.
pub async fn serve(listener: TcpListener, context: Arc<ProxyContext>, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let context = context.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    let _open = OpenConnection::new();
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        result = handle(stream, &context) => {
                            if let Err(e) = result {
                                tracing::debug!(%peer, error = %e, "proxy connection ended");
                            }
                        }
                    }
                });
            }
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Counts a connection in the metrics for as long as it lives.
struct OpenConnection;

impl OpenConnection {
    fn new() -> Self {
        metrics::NEW_CONNECTIONS.inc();
        metrics::ACTIVE_CONNECTIONS.inc();
        OpenConnection
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::ACTIVE_CONNECTIONS.dec();
    }
}

async fn handle(stream: TcpStream, context: &Arc<ProxyContext>) -> Result<(), ProxyError> {
    stream.set_nodelay(true)?;
    let mut framed = Framed::new(
        stream,
        PulsarCodec::with_max_message_size(context.max_message_size),
    );
    let first = match tokio::time::timeout(context.handshake_timeout, framed.next()).await {
        Ok(Some(frame)) => frame?,
        Ok(None) | Err(_) => return Ok(()),
    };
    let command = first.into_command();
    let kind = command_type(&command);
    let Some(connect) = command.connect.filter(|_| kind == Some(Type::Connect)) else {
        tracing::debug!(?kind, "first frame is not CONNECT; closing");
        return Ok(());
    };
    if connect
        .proxy_to_broker_url
        .as_deref()
        .is_some_and(|url| !url.is_empty())
    {
        let directory = context.lookups.directory().clone();
        return crate::tunnel::splice(
            framed,
            *connect,
            &directory,
            context.dialer,
            context.handshake_timeout,
        )
        .await;
    }
    framed
        .send(Frame::Command(connected(&connect, context).into()))
        .await?;
    serve_lookups(framed, context).await
}

fn connected(connect: &CommandConnect, context: &ProxyContext) -> CommandConnected {
    CommandConnected {
        server_version: CLIENT_VERSION.to_string(),
        protocol_version: Some(connect.protocol_version.unwrap_or(0).min(PROTOCOL_VERSION)),
        max_message_size: i32::try_from(context.max_message_size).ok(),
        // No topic-list watchers here (the updates come unasked, which a
        // lookup connection cannot relay): clients poll
        // GET_TOPICS_OF_NAMESPACE instead. A tunnel passes on the broker's
        // CONNECTED, flags included.
        feature_flags: None,
    }
}

async fn serve_lookups(
    mut framed: Framed<TcpStream, PulsarCodec>,
    context: &Arc<ProxyContext>,
) -> Result<(), ProxyError> {
    let (answers, mut ready) = mpsc::channel::<Answer>(LOOKUPS_IN_FLIGHT);
    let in_flight = Arc::new(Semaphore::new(LOOKUPS_IN_FLIGHT));
    loop {
        tokio::select! {
            frame = framed.next() => {
                let command = match frame {
                    Some(frame) => frame?.into_command(),
                    None => return Ok(()),
                };
                let Ok(permit) = in_flight.clone().acquire_owned().await else { return Ok(()) };
                let context = context.clone();
                let answers = answers.clone();
                tokio::spawn(async move {
                    let answer = context.lookups.answer(command).await;
                    let _ = answers.send(answer).await;
                    drop(permit);
                });
            }
            Some(answer) = ready.recv() => match answer {
                Answer::Reply(reply) => framed.send(Frame::Command(*reply)).await?,
                Answer::Nothing => {}
                Answer::Close(reason) => {
                    tracing::debug!(%reason, "closing proxy lookup connection");
                    return Ok(());
                }
            }
        }
    }
}
