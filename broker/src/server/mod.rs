//! The Pulsar protocol server: the accept loop and one task per client
//! connection.
//!
//! - [`connection`]: framing, the read loop, keepalive and the writer task.
//! - `session`, `discovery`, `produce`, `consume`, `topic_watcher`:
//!   command handlers, one file per group of commands, all methods of the
//!   connection.
//! - `topic_list`: pattern filtering and hashing of topic lists, shared by
//!   GET_TOPICS_OF_NAMESPACE and the topic-list watchers.

mod connection;
mod consume;
mod discovery;
mod error;
mod produce;
mod session;
mod topic_list;
mod topic_watcher;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub use error::ConnectionError;

use crate::context::BrokerContext;

/// How long shutdown waits for connections to wind down.
const CONNECTION_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts connections until the service shuts down.
pub(crate) async fn serve(listener: TcpListener, context: Arc<BrokerContext>) {
    let connections = TaskTracker::new();
    loop {
        tokio::select! {
            _ = context.shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let cid = context.next_connection_id.fetch_add(1, Ordering::Relaxed);
                    let span = tracing::info_span!("connection", cid, %peer);
                    connections.spawn(connection::run(context.clone(), stream, cid).instrument(span));
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
