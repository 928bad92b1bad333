//! What a workload needs of a broker: send one message and learn when it is
//! confirmed, and receive what was sent.

use anyhow::Result;
use bytes::Bytes;
use futures::future::BoxFuture;

/// A broker with one stream created for the run.
pub trait Target: Send + Sync {
    /// Sends `payload` once first polled; resolves once the broker has
    /// confirmed the message as stored. The caller polls each send as soon
    /// as it is made, so sends reach the broker in the order they were made.
    fn send(&self, payload: Bytes) -> BoxFuture<'_, Result<()>>;

    /// A consumer of the stream from its start.
    fn consumer(&self) -> BoxFuture<'_, Result<Box<dyn Consumer>>>;

    /// Deletes the stream.
    fn remove(&self) -> BoxFuture<'_, Result<()>>;
}

/// Receives the stream's messages in order, acknowledging them as the
/// broker's consumers usually do.
pub trait Consumer: Send {
    /// The next messages' payloads, waiting for at least one (or an empty
    /// batch after about a second without any).
    fn receive(&mut self) -> BoxFuture<'_, Result<Vec<Bytes>>>;
}
