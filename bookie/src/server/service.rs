//! The gRPC face of a bookie: maps `magnetar.bookie.v1.Bookie` calls onto
//! [`Bookie`] and its errors onto status codes.
//!
//! AddEntries is pipelined: the stream reader validates and queues each
//! request without waiting for earlier acks, and every queued add gets its
//! own waiter that answers once the journal has fsynced it. Responses are
//! therefore sent in *completion* order (adds of one fsync group may be
//! answered in any order); each carries its `request_id`, which is how the
//! client matches them.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use magnetar_proto::bookie::bookie_server::Bookie as BookieRpc;
use magnetar_proto::bookie::{
    AddRequest, AddResponse, ForceRequest, ForceResponse, InfoRequest, InfoResponse,
    ReadLacRequest, ReadLacResponse, ReadRequest, ReadResponse, StatusCode,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::bookie::Bookie;
use super::disk::DiskStatus;
use super::error::BookieError;

/// Responses buffered per AddEntries stream before the reader waits.
const ADD_RESPONSE_BUFFER: usize = 4096;

/// The tonic service implementation.
pub struct BookieService {
    bookie: Arc<Bookie>,
    bookie_id: String,
    disk: Arc<DiskStatus>,
}

impl BookieService {
    pub fn new(bookie: Arc<Bookie>, bookie_id: String, disk: Arc<DiskStatus>) -> Self {
        BookieService {
            bookie,
            bookie_id,
            disk,
        }
    }
}

fn add_response(
    request_id: u64,
    ledger_id: i64,
    entry_id: i64,
    result: Result<(), BookieError>,
) -> AddResponse {
    let (status, message) = match result {
        Ok(()) => (StatusCode::StatusOk, String::new()),
        Err(err) => {
            tracing::debug!(ledger_id, entry_id, error = %err, "add refused");
            (err.status(), err.to_string())
        }
    };
    AddResponse {
        request_id,
        status: status as i32,
        ledger_id,
        entry_id,
        message,
    }
}

#[tonic::async_trait]
impl BookieRpc for BookieService {
    type AddEntriesStream =
        Pin<Box<dyn Stream<Item = Result<AddResponse, Status>> + Send + 'static>>;

    async fn add_entries(
        &self,
        request: Request<Streaming<AddRequest>>,
    ) -> Result<Response<Self::AddEntriesStream>, Status> {
        let mut inbound = request.into_inner();
        let (responses, outbound) = mpsc::channel(ADD_RESPONSE_BUFFER);
        let bookie = self.bookie.clone();
        tokio::spawn(async move {
            loop {
                let add = match inbound.message().await {
                    Ok(Some(add)) => add,
                    Ok(None) => break,
                    Err(status) => {
                        tracing::debug!(code = ?status.code(), "add stream ended with an error");
                        break;
                    }
                };
                let (request_id, ledger_id, entry_id) =
                    (add.request_id, add.ledger_id, add.entry_id);
                match bookie.enqueue_add(add).await {
                    Ok(pending) => {
                        let responses = responses.clone();
                        tokio::spawn(async move {
                            let result = pending.wait().await;
                            // A closed stream means the client went away; the
                            // entry is durable regardless.
                            let _ = responses
                                .send(Ok(add_response(request_id, ledger_id, entry_id, result)))
                                .await;
                        });
                    }
                    Err(err) => {
                        if responses
                            .send(Ok(add_response(request_id, ledger_id, entry_id, Err(err))))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(outbound))))
    }

    async fn read_entry(
        &self,
        request: Request<ReadRequest>,
    ) -> Result<Response<ReadResponse>, Status> {
        let read = request.into_inner();
        let response = match self
            .bookie
            .read(read.ledger_id, read.entry_id, read.fence, &read.master_key)
            .await
        {
            Ok((entry_id, body)) => ReadResponse {
                status: StatusCode::StatusOk as i32,
                ledger_id: read.ledger_id,
                entry_id,
                body,
                message: String::new(),
            },
            Err(err) => {
                tracing::debug!(ledger_id = read.ledger_id, entry_id = read.entry_id, error = %err, "read refused");
                ReadResponse {
                    status: err.status() as i32,
                    ledger_id: read.ledger_id,
                    entry_id: read.entry_id,
                    body: Default::default(),
                    message: err.to_string(),
                }
            }
        };
        Ok(Response::new(response))
    }

    async fn read_lac(
        &self,
        request: Request<ReadLacRequest>,
    ) -> Result<Response<ReadLacResponse>, Status> {
        let ledger_id = request.into_inner().ledger_id;
        let response = match self.bookie.read_lac(ledger_id) {
            Ok(lac) => ReadLacResponse {
                status: StatusCode::StatusOk as i32,
                lac,
                message: String::new(),
            },
            Err(err) => ReadLacResponse {
                status: err.status() as i32,
                lac: -1,
                message: err.to_string(),
            },
        };
        Ok(Response::new(response))
    }

    async fn force(
        &self,
        _request: Request<ForceRequest>,
    ) -> Result<Response<ForceResponse>, Status> {
        let response = match self.bookie.force().await {
            Ok(()) => ForceResponse {
                status: StatusCode::StatusOk as i32,
                message: String::new(),
            },
            Err(err) => ForceResponse {
                status: err.status() as i32,
                message: err.to_string(),
            },
        };
        Ok(Response::new(response))
    }

    async fn info(&self, _request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let usage = self.disk.usage();
        Ok(Response::new(InfoResponse {
            bookie_id: self.bookie_id.clone(),
            free_bytes: usage.free_bytes,
            total_bytes: usage.total_bytes,
            read_only: self.bookie.is_read_only(),
        }))
    }
}
