//! The client's view of one bookie: [`BookieTransport`], and how transports
//! are obtained: [`BookieConnector`].
//!
//! The ledger logic (ordering, ensemble changes, recovery) talks only to these
//! traits, so unit tests drive it with in-memory bookies whose delays and
//! failures they control; production uses [`crate::client::grpc`].

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use magnetar_proto::bookie::{AddRequest, AddResponse, ReadLacResponse, ReadRequest, ReadResponse};
use thiserror::Error;

/// A request that never reached a bookie, or whose answer never came back.
/// Always a bookie failure from the ledger's point of view.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TransportError {
    #[error("cannot connect to bookie {bookie}: {reason}")]
    Connect { bookie: String, reason: String },
    #[error("bookie {bookie} failed the request: {reason}")]
    Rpc { bookie: String, reason: String },
    #[error("add stream to bookie {bookie} broke: {reason}")]
    StreamBroken { bookie: String, reason: String },
    #[error("bookie {bookie} did not answer in time")]
    Timeout { bookie: String },
}

/// One bookie, as the ledger client uses it.
#[async_trait]
pub trait BookieTransport: Send + Sync + 'static {
    /// Sends an add on the bookie's pipelined add stream; the future resolves
    /// with the bookie's answer. Requests are sent in call order.
    fn add(&self, request: AddRequest) -> BoxFuture<'static, Result<AddResponse, TransportError>>;

    /// Reads one entry (`entry_id = -1`: the last one), optionally fencing.
    async fn read_entry(&self, request: ReadRequest) -> Result<ReadResponse, TransportError>;

    /// The highest LAC the bookie has seen for the ledger.
    async fn read_lac(&self, ledger_id: i64) -> Result<ReadLacResponse, TransportError>;
}

/// Hands out transports by bookie id. Implementations cache one connection
/// per bookie and reconnect after failures.
pub trait BookieConnector: Send + Sync + 'static {
    fn bookie(&self, bookie_id: &str) -> Arc<dyn BookieTransport>;
}
