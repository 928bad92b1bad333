//! In-process transport: when bookies run in the same process as the ledger
//! client (`magnetar standalone`), adds and reads call the [`Bookie`]
//! directly instead of crossing gRPC on loopback.
//!
//! Only the transport changes. The bookie applies the same checks (master
//! key, fencing, read-only, size), the journal fsync still comes before the
//! answer, and ensembles, quorums and recovery work as with remote bookies.
//! Bookies not registered here are reached through the fallback connector.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::{BoxFuture, FutureExt};
use magnetar_proto::bookie::{AddRequest, AddResponse, ReadLacResponse, ReadRequest, ReadResponse};

use crate::client::transport::{BookieConnector, BookieTransport, TransportError};
use crate::server::add_stream::add_response;
use crate::server::service::{read_lac_response, read_response};
use crate::server::Bookie;

/// Hands out in-process transports for the bookies it was given, and the
/// fallback connector's transports for every other bookie id.
pub struct LocalConnector {
    local: HashMap<String, Arc<LocalBookie>>,
    fallback: Arc<dyn BookieConnector>,
}

impl LocalConnector {
    /// `bookies`: `(bookie id, bookie)` of every bookie in this process.
    pub fn new(
        bookies: impl IntoIterator<Item = (String, Arc<Bookie>)>,
        fallback: Arc<dyn BookieConnector>,
    ) -> Self {
        let local = bookies
            .into_iter()
            .map(|(id, bookie)| (id, Arc::new(LocalBookie { bookie })))
            .collect();
        LocalConnector { local, fallback }
    }
}

impl BookieConnector for LocalConnector {
    fn bookie(&self, bookie_id: &str) -> Arc<dyn BookieTransport> {
        match self.local.get(bookie_id) {
            Some(local) => local.clone(),
            None => self.fallback.bookie(bookie_id),
        }
    }
}

/// One bookie of this process.
pub struct LocalBookie {
    bookie: Arc<Bookie>,
}

#[async_trait]
impl BookieTransport for LocalBookie {
    fn add(&self, request: AddRequest) -> BoxFuture<'static, Result<AddResponse, TransportError>> {
        let bookie = self.bookie.clone();
        async move {
            let (request_id, ledger_id, entry_id) =
                (request.request_id, request.ledger_id, request.entry_id);
            let result = match bookie.enqueue_add(request).await {
                Ok(admitted) => admitted.wait().await,
                Err(err) => Err(err),
            };
            Ok(add_response(request_id, ledger_id, entry_id, result))
        }
        .boxed()
    }

    async fn read_entry(&self, request: ReadRequest) -> Result<ReadResponse, TransportError> {
        let result = self
            .bookie
            .read(
                request.ledger_id,
                request.entry_id,
                request.fence,
                &request.master_key,
            )
            .await;
        Ok(read_response(&request, result))
    }

    async fn read_lac(&self, ledger_id: i64) -> Result<ReadLacResponse, TransportError> {
        Ok(read_lac_response(self.bookie.read_lac(ledger_id)))
    }
}
