//! The gRPC face of a bookie: maps `magnetar.bookie.v1.Bookie` calls onto
//! [`Bookie`] and its errors onto status codes.
//!
//! AddEntries is pipelined and batched both ways; [`super::add_stream`]
//! serves it. Each answer carries its `request_id`, which is how the client
//! matches them.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use magnetar_proto::bookie::bookie_server::Bookie as BookieRpc;
use magnetar_proto::bookie::{
    AddBatch, AddResponseBatch, ForceRequest, ForceResponse, InfoRequest, InfoResponse,
    ReadLacRequest, ReadLacResponse, ReadRequest, ReadResponse, StatusCode,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::add_stream::serve_add_stream;
use super::bookie::Bookie;
use super::disk::DiskStatus;
use super::error::BookieError;

/// Response batches buffered per AddEntries stream before the responder waits.
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

#[tonic::async_trait]
impl BookieRpc for BookieService {
    type AddEntriesStream =
        Pin<Box<dyn Stream<Item = Result<AddResponseBatch, Status>> + Send + 'static>>;

    async fn add_entries(
        &self,
        request: Request<Streaming<AddBatch>>,
    ) -> Result<Response<Self::AddEntriesStream>, Status> {
        let (responses, outbound) = mpsc::channel(ADD_RESPONSE_BUFFER);
        tokio::spawn(serve_add_stream(
            self.bookie.clone(),
            request.into_inner(),
            responses,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(outbound))))
    }

    async fn read_entry(
        &self,
        request: Request<ReadRequest>,
    ) -> Result<Response<ReadResponse>, Status> {
        let read = request.into_inner();
        let result = self
            .bookie
            .read(read.ledger_id, read.entry_id, read.fence, &read.master_key)
            .await;
        Ok(Response::new(read_response(&read, result)))
    }

    async fn read_lac(
        &self,
        request: Request<ReadLacRequest>,
    ) -> Result<Response<ReadLacResponse>, Status> {
        let ledger_id = request.into_inner().ledger_id;
        Ok(Response::new(read_lac_response(
            self.bookie.read_lac(ledger_id),
        )))
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

    async fn info(&self, request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let usage = self.disk.usage();
        let reset = request.into_inner().reset_add_latency;
        Ok(Response::new(InfoResponse {
            bookie_id: self.bookie_id.clone(),
            free_bytes: usage.free_bytes,
            total_bytes: usage.total_bytes,
            read_only: self.bookie.is_read_only(),
            add_latency: Some(self.bookie.add_latency().summary(reset)),
        }))
    }
}

/// The answer to a read: the entry, or the refusal's status and message.
pub(crate) fn read_response(
    read: &ReadRequest,
    result: Result<(i64, bytes::Bytes), BookieError>,
) -> ReadResponse {
    match result {
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
    }
}

/// The answer to a LAC read.
pub(crate) fn read_lac_response(result: Result<i64, BookieError>) -> ReadLacResponse {
    match result {
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
    }
}
