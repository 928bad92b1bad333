//! A client connection spliced to the broker its `CONNECT` names
//! (`proxy_to_broker_url`): the proxy relays the handshake, then copies
//! bytes both ways without decoding them until either side closes.
//!
//! Only a registered broker is ever dialled; any other target gets an
//! error and the connection closes.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use magnetar_proto::pulsar::api::{CommandConnect, ServerError};
use magnetar_proto::pulsar::commands::error;
use magnetar_proto::pulsar::{Frame, PulsarCodec};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::directory::BrokerDirectory;
use crate::error::{service_address, ProxyError};
use crate::metrics;
use crate::upstream::Dialer;

/// Relays `connect` to its broker and then the whole connection.
pub async fn splice(
    mut client: Framed<TcpStream, PulsarCodec>,
    connect: CommandConnect,
    directory: &BrokerDirectory,
    dialer: Dialer,
    timeout: Duration,
) -> Result<(), ProxyError> {
    let target = connect.proxy_to_broker_url.clone().unwrap_or_default();
    let mut broker = match dial(&target, directory, dialer).await {
        Ok(broker) => broker,
        Err(e) => {
            // The handshake's answer: the client sees why and closes.
            let _ = client
                .send(Frame::Command(error(0, e.server_error(), e.to_string())))
                .await;
            return Err(e);
        }
    };
    broker.send(Frame::Command(connect.into())).await?;
    let reply = match tokio::time::timeout(timeout, broker.next()).await {
        Ok(Some(Ok(frame))) => frame,
        Ok(Some(Err(e))) => return Err(e.into()),
        Ok(None) => return Err(ProxyError::UpstreamClosed(target)),
        Err(_) => {
            let e = ProxyError::Timeout {
                address: target,
                millis: timeout.as_millis() as u64,
            };
            let _ = client
                .send(Frame::Command(error(
                    0,
                    ServerError::ServiceNotReady,
                    e.to_string(),
                )))
                .await;
            return Err(e);
        }
    };
    let connected = reply.command().connected.is_some();
    client.send(reply).await?;
    if !connected {
        return Ok(());
    }

    let client = client.into_parts();
    let broker = broker.into_parts();
    let (mut client_io, mut broker_io) = (client.io, broker.io);
    // Bytes either side sent after the handshake, already read into the codecs' buffers.
    broker_io.write_all(&client.read_buf).await?;
    client_io.write_all(&broker.read_buf).await?;
    metrics::BINARY_BYTES.inc_by((client.read_buf.len() + broker.read_buf.len()) as u64);
    let result = tokio::io::copy_bidirectional(&mut client_io, &mut broker_io).await;
    match result {
        Ok((up, down)) => {
            metrics::BINARY_BYTES.inc_by(up + down);
            Ok(())
        }
        // A reset from either side ends the tunnel; it is not the proxy's error.
        Err(e) => {
            tracing::debug!(broker = %target, error = %e, "tunnel closed");
            Ok(())
        }
    }
}

async fn dial(
    target: &str,
    directory: &BrokerDirectory,
    dialer: Dialer,
) -> Result<Framed<TcpStream, PulsarCodec>, ProxyError> {
    let address = service_address(target)?;
    directory.by_service_address(&address).await?;
    Ok(Framed::new(
        dialer.dial(&address).await?,
        PulsarCodec::default(),
    ))
}
