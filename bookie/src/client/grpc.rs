//! gRPC transport to real bookies.
//!
//! One [`GrpcBookie`] per bookie id, created lazily and cached by
//! [`GrpcConnector`]. Reads are plain unary calls on a shared HTTP/2 channel.
//! Adds go through one long-lived bidirectional `AddEntries` stream per
//! bookie, owned by a connection task that multiplexes callers by
//! `request_id`: callers hand it `(request, reply)` pairs, it forwards them in
//! order, batched, and routes each answer back. When the stream breaks every waiting
//! caller gets [`TransportError::StreamBroken`] (the ledger writer then
//! replaces the bookie) and the next add opens a fresh stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::{BoxFuture, FutureExt};
use magnetar_proto::bookie::bookie_client::BookieClient;
use magnetar_proto::bookie::{
    AddBatch, AddRequest, AddResponse, ReadLacRequest, ReadLacResponse, ReadRequest, ReadResponse,
    ADD_BATCH_CLOSE_BYTES,
};
use parking_lot::Mutex;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use crate::client::config::ClientConfig;
use crate::client::transport::{BookieConnector, BookieTransport, StreamBreak, TransportError};

/// Largest gRPC message the client sends or accepts (an entry plus framing).
const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;
/// Adds buffered towards one bookie's stream before callers wait.
const ADD_QUEUE_DEPTH: usize = 4096;
/// Batches handed to the HTTP/2 stream before the connection task waits.
const OUTGOING_BATCHES: usize = 64;
/// Most adds in one batch; its size bound is [`ADD_BATCH_CLOSE_BYTES`].
const MAX_ADDS_PER_BATCH: usize = 1024;

/// Where the connection task routes one bookie answer to an add.
type AddStreamReply = oneshot::Sender<Result<AddResponse, TransportError>>;

/// Caches one [`GrpcBookie`] per bookie id.
pub struct GrpcConnector {
    config: ClientConfig,
    bookies: Mutex<HashMap<String, Arc<GrpcBookie>>>,
}

impl GrpcConnector {
    pub fn new(config: ClientConfig) -> Self {
        GrpcConnector {
            config,
            bookies: Mutex::new(HashMap::new()),
        }
    }
}

impl BookieConnector for GrpcConnector {
    fn bookie(&self, bookie_id: &str) -> Arc<dyn BookieTransport> {
        let mut bookies = self.bookies.lock();
        if let Some(existing) = bookies.get(bookie_id) {
            return existing.clone();
        }
        let bookie = Arc::new(GrpcBookie::new(bookie_id, &self.config));
        bookies.insert(bookie_id.to_string(), bookie.clone());
        bookie
    }
}

/// One bookie reached over gRPC. The channel connects lazily and reconnects
/// by itself; the add stream is reopened by the connection task as needed.
pub struct GrpcBookie {
    bookie_id: String,
    /// Why there is no client: an id that is no address, or TLS settings
    /// tonic refused.
    client: Result<BookieClient<Channel>, String>,
    adds: mpsc::Sender<(AddRequest, AddStreamReply)>,
    next_request_id: AtomicU64,
}

impl GrpcBookie {
    fn new(bookie_id: &str, config: &ClientConfig) -> Self {
        let (adds, queued) = mpsc::channel(ADD_QUEUE_DEPTH);
        let client = connect_lazy(bookie_id, config).map(|channel| {
            BookieClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE)
        });
        if let Ok(client) = client.clone() {
            tokio::spawn(run_add_connection(bookie_id.to_string(), client, queued));
        }
        GrpcBookie {
            bookie_id: bookie_id.to_string(),
            client,
            adds,
            next_request_id: AtomicU64::new(1),
        }
    }

    fn client(&self) -> Result<BookieClient<Channel>, TransportError> {
        self.client
            .clone()
            .map_err(|reason| TransportError::Connect {
                bookie: self.bookie_id.clone(),
                reason,
            })
    }

    fn rpc_error(&self, status: tonic::Status) -> TransportError {
        TransportError::Rpc {
            bookie: self.bookie_id.clone(),
            code: status.code(),
            message: status.message().to_string(),
        }
    }
}

/// A lazily connecting channel to `bookie_id` (`host:port`): `https://`
/// with the configured trust and client certificate when the ledger client
/// has TLS settings, `http://` otherwise.
fn connect_lazy(bookie_id: &str, config: &ClientConfig) -> Result<Channel, String> {
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let endpoint = Endpoint::from_shared(format!("{scheme}://{bookie_id}"))
        .map_err(|_| "bookie id is not a valid address".to_string())?;
    let endpoint = match &config.tls {
        Some(tls) => endpoint
            .tls_config(tls.client_config())
            .map_err(|error| format!("TLS settings refused: {error}"))?,
        None => endpoint,
    };
    Ok(endpoint
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(config.keepalive_interval)
        .keep_alive_timeout(config.keepalive_timeout)
        .keep_alive_while_idle(true)
        .connect_lazy())
}

#[async_trait]
impl BookieTransport for GrpcBookie {
    fn add(
        &self,
        mut request: AddRequest,
    ) -> BoxFuture<'static, Result<AddResponse, TransportError>> {
        request.request_id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let bookie = self.bookie_id.clone();
        let queued = self.adds.try_send((request, reply));
        async move {
            let broken = |cause| TransportError::StreamBroken {
                bookie: bookie.clone(),
                cause,
            };
            match queued {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => return Err(broken(StreamBreak::QueueFull)),
                Err(TrySendError::Closed(_)) => return Err(broken(StreamBreak::ConnectionGone)),
            }
            answer
                .await
                .map_err(|_| broken(StreamBreak::RequestDropped))?
        }
        .boxed()
    }

    async fn read_entry(&self, request: ReadRequest) -> Result<ReadResponse, TransportError> {
        let response = self
            .client()?
            .read_entry(request)
            .await
            .map_err(|status| self.rpc_error(status))?;
        Ok(response.into_inner())
    }

    async fn read_lac(&self, ledger_id: i64) -> Result<ReadLacResponse, TransportError> {
        let request = ReadLacRequest { ledger_id };
        let response = self
            .client()?
            .read_lac(request)
            .await
            .map_err(|status| self.rpc_error(status))?;
        Ok(response.into_inner())
    }
}

/// Takes `first` and whatever else is queued right now (up to the batch
/// limits) into one batch, registering each caller's reply.
fn collect_batch(
    first: (AddRequest, AddStreamReply),
    queued: &mut mpsc::Receiver<(AddRequest, AddStreamReply)>,
    waiting: &mut HashMap<u64, AddStreamReply>,
) -> AddBatch {
    let mut adds = Vec::new();
    let mut bytes = 0;
    let mut next = Some(first);
    while let Some((request, reply)) = next.take() {
        bytes += request.body.len();
        waiting.insert(request.request_id, reply);
        adds.push(request);
        if adds.len() < MAX_ADDS_PER_BATCH && bytes < ADD_BATCH_CLOSE_BYTES {
            next = queued.try_recv().ok();
        }
    }
    AddBatch { adds }
}

/// The connection task of one bookie: runs add streams one after another
/// until every sender (the [`GrpcBookie`]) is gone.
async fn run_add_connection(
    bookie_id: String,
    client: BookieClient<Channel>,
    mut queued: mpsc::Receiver<(AddRequest, AddStreamReply)>,
) {
    while let Some(first) = queued.recv().await {
        if let Err(reason) =
            run_one_add_stream(&bookie_id, client.clone(), first, &mut queued).await
        {
            tracing::debug!(bookie = %bookie_id, %reason, "add stream ended");
        }
    }
}

/// Opens an `AddEntries` stream starting with `first` and pumps requests and
/// answers until the stream breaks. Every caller still waiting when it breaks
/// is answered with an error.
///
/// Whatever callers queued while the previous batch was being sent goes out
/// as one [`AddBatch`]: at low rates every batch holds one add (no added
/// latency), at high rates the per-message cost is shared by many adds.
async fn run_one_add_stream(
    bookie_id: &str,
    mut client: BookieClient<Channel>,
    first: (AddRequest, AddStreamReply),
    queued: &mut mpsc::Receiver<(AddRequest, AddStreamReply)>,
) -> Result<(), StreamBreak> {
    let mut waiting: HashMap<u64, AddStreamReply> = HashMap::new();
    let (outgoing, outgoing_rx) = mpsc::channel::<AddBatch>(OUTGOING_BATCHES);
    let first_batch = collect_batch(first, queued, &mut waiting);
    // Cannot fail: the receiver is alive and the channel is empty.
    let _ = outgoing.try_send(first_batch);

    let result = async {
        let mut answers = client
            .add_entries(ReceiverStream::new(outgoing_rx))
            .await
            .map_err(|status| StreamBreak::from_status(&status))?
            .into_inner();
        loop {
            tokio::select! {
                next = queued.recv() => {
                    let Some(first) = next else { return Ok(()) };
                    let batch = collect_batch(first, queued, &mut waiting);
                    if outgoing.send(batch).await.is_err() {
                        return Err(StreamBreak::RequestStreamClosed);
                    }
                }
                answer = answers.message() => match answer {
                    Ok(Some(batch)) => {
                        for answer in batch.responses {
                            if let Some(reply) = waiting.remove(&answer.request_id) {
                                let _ = reply.send(Ok(answer));
                            }
                        }
                    }
                    Ok(None) => return Err(StreamBreak::ClosedByBookie),
                    Err(status) => return Err(StreamBreak::from_status(&status)),
                },
            }
        }
    }
    .await;

    if let Err(cause) = &result {
        for (_, reply) in waiting.drain() {
            let _ = reply.send(Err(TransportError::StreamBroken {
                bookie: bookie_id.to_string(),
                cause: cause.clone(),
            }));
        }
    }
    result
}
