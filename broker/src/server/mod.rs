//! The Pulsar protocol server: the accept loops (plain text and TLS) and
//! one task per client connection.
//!
//! - [`connection`]: framing, the read loop, keepalive and the writer task.
//! - `session`, `discovery`, `produce`, `consume`, `topic_watcher`:
//!   command handlers, one file per group of commands, all methods of the
//!   connection.
//! - `auth`: who the client is (CONNECT, AUTH_CHALLENGE/AUTH_RESPONSE) and
//!   what it may do.
//! - `topic_list`: pattern filtering and hashing of topic lists, shared by
//!   GET_TOPICS_OF_NAMESPACE and the topic-list watchers.

mod auth;
mod connection;
mod consume;
mod discovery;
mod error;
mod produce;
mod session;
mod topic_list;
mod topic_watcher;

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub use error::ConnectionError;

use crate::context::BrokerContext;
use crate::security::tls::{self, TlsAcceptor};

/// How long shutdown waits for connections to wind down.
const CONNECTION_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts plain-text connections until the service shuts down.
pub(crate) async fn serve(listener: TcpListener, context: Arc<BrokerContext>) {
    accept_loop(listener, context, |context, stream, cid| {
        connection::run(context, stream, cid)
    })
    .await
}

/// Accepts TLS connections (`pulsar+ssl://`) until the service shuts
/// down. Each handshake runs in the connection's own task, so a slow one
/// holds up nobody else.
pub(crate) async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    context: Arc<BrokerContext>,
) {
    accept_loop(listener, context, move |context, stream, cid| {
        let acceptor = acceptor.clone();
        async move {
            match acceptor.accept(stream).await {
                Ok(stream) => {
                    let common_name = tls::peer_common_name(&stream);
                    connection::run_tls(context, stream, cid, common_name).await
                }
                Err(error) => tracing::info!(error = %error, "tls handshake failed"),
            }
        }
    })
    .await
}

async fn accept_loop<F, Fut>(listener: TcpListener, context: Arc<BrokerContext>, connect: F)
where
    F: Fn(Arc<BrokerContext>, TcpStream, u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let connections = TaskTracker::new();
    loop {
        tokio::select! {
            _ = context.shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let cid = context.next_connection_id.fetch_add(1, Ordering::Relaxed);
                    let span = tracing::info_span!("connection", cid, %peer);
                    connections.spawn(connect(context.clone(), stream, cid).instrument(span));
                }
                Err(error) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(error = %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(CONNECTION_DRAIN_TIMEOUT, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("connections did not close in time");
    }
}
