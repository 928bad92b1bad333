//! The client's view of one bookie: [`BookieTransport`], and how transports
//! are obtained: [`BookieConnector`].
//!
//! The ledger logic (ordering, ensemble changes, recovery) talks only to these
//! traits, so unit tests drive it with in-memory bookies whose delays and
//! failures they control; production uses [`crate::client::grpc`].
//!
//! [`TransportError`] is defined with the ledger errors (a failed read lists
//! it per bookie) and re-exported here.

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use magnetar_proto::bookie::{AddRequest, AddResponse, ReadLacResponse, ReadRequest, ReadResponse};

pub use crate::ledger::{StreamBreak, TransportError};

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
