//! The `MetadataNode` gRPC service of one node: Raft peer RPCs, the
//! internal forwarding RPCs, and the client operations (served by the
//! node's [`RaftStore`], so any node accepts any client request).

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use magnetar_proto::metadata::metadata_node_server::MetadataNode;
use magnetar_proto::metadata::{
    CreateSessionRequest, CreateSessionResponse, CurrentRevisionRequest, CurrentRevisionResponse,
    DeleteRequest, DeleteResponse, GetRequest, GetResponse, KeepAliveRequest, KeepAliveResponse,
    ListEntry, ListRequest, ListResponse, PutRequest, PutResponse, RaftPayload, ReadIndexRequest,
    ReadIndexResponse, RevokeSessionRequest, RevokeSessionResponse, StatusRequest, StatusResponse,
    WatchEventMessage, WatchRequest,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use crate::state_machine::Command;
use crate::store::{MetadataStore, PutOptions, WatchTarget};

use super::convert::{error_to_status, event_to_proto, expected_from_proto};
use super::node::RaftNode;
use super::raft_store::RaftStore;

/// The gRPC service of one metadata node.
#[derive(Clone)]
pub struct MetadataNodeService {
    node: Arc<RaftNode>,
    store: RaftStore,
}

impl MetadataNodeService {
    pub fn new(node: Arc<RaftNode>) -> Self {
        MetadataNodeService {
            store: RaftStore::new(Arc::clone(&node)),
            node,
        }
    }
}

fn decode<T: DeserializeOwned>(payload: &RaftPayload) -> Result<T, Status> {
    serde_json::from_slice(&payload.json)
        .map_err(|e| Status::invalid_argument(format!("undecodable raft message: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Response<RaftPayload>, Status> {
    let json = serde_json::to_vec(value)
        .map_err(|e| Status::internal(format!("unencodable raft message: {e}")))?;
    Ok(Response::new(RaftPayload { json: json.into() }))
}

type WatchResponseStream =
    Pin<Box<dyn Stream<Item = Result<WatchEventMessage, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl MetadataNode for MetadataNodeService {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let rpc = decode(request.get_ref())?;
        encode(&self.node.raft().append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let rpc = decode(request.get_ref())?;
        encode(&self.node.raft().vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let rpc = decode(request.get_ref())?;
        encode(&self.node.raft().install_snapshot(rpc).await)
    }

    async fn forward_write(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let command: Command = decode(request.get_ref())?;
        let deadline = Instant::now() + self.node.operation_timeout();
        let answer = self
            .node
            .write_local(command, deadline)
            .await
            .map_err(|e| error_to_status(&e))?;
        encode(&answer)
    }

    async fn read_index(
        &self,
        _request: Request<ReadIndexRequest>,
    ) -> Result<Response<ReadIndexResponse>, Status> {
        match self
            .node
            .local_read_index()
            .await
            .map_err(|e| error_to_status(&e))?
        {
            Some(read_index) => Ok(Response::new(ReadIndexResponse { read_index })),
            None => Err(Status::failed_precondition("not the leader")),
        }
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let found = self
            .store
            .get(&request.get_ref().key)
            .await
            .map_err(|e| error_to_status(&e))?;
        let response = match found {
            Some(versioned) => GetResponse {
                found: true,
                value: versioned.value,
                version: versioned.version,
            },
            None => GetResponse::default(),
        };
        Ok(Response::new(response))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let request = request.into_inner();
        let options = PutOptions {
            expected: expected_from_proto(request.expected),
            session: request.has_session.then_some(request.session),
        };
        let version = self
            .store
            .put(&request.key, request.value, options)
            .await
            .map_err(|e| error_to_status(&e))?;
        Ok(Response::new(PutResponse { version }))
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let request = request.into_inner();
        let expected = expected_from_proto(request.expected);
        self.store
            .delete(&request.key, expected)
            .await
            .map_err(|e| error_to_status(&e))?;
        Ok(Response::new(DeleteResponse {}))
    }

    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let request = request.into_inner();
        let start_after = request
            .has_start_after
            .then_some(request.start_after.as_str());
        let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
        let page = self
            .store
            .list(&request.prefix, start_after, limit)
            .await
            .map_err(|e| error_to_status(&e))?;
        let entries = page
            .entries
            .into_iter()
            .map(|(key, versioned)| ListEntry {
                key,
                value: versioned.value,
                version: versioned.version,
            })
            .collect();
        let has_next = page.next_start_after.is_some();
        Ok(Response::new(ListResponse {
            entries,
            next_start_after: page.next_start_after.unwrap_or_default(),
            has_next,
        }))
    }

    async fn current_revision(
        &self,
        _request: Request<CurrentRevisionRequest>,
    ) -> Result<Response<CurrentRevisionResponse>, Status> {
        let revision = self
            .store
            .current_revision()
            .await
            .map_err(|e| error_to_status(&e))?;
        Ok(Response::new(CurrentRevisionResponse { revision }))
    }

    async fn create_session(
        &self,
        request: Request<CreateSessionRequest>,
    ) -> Result<Response<CreateSessionResponse>, Status> {
        let ttl = std::time::Duration::from_millis(request.get_ref().ttl_ms);
        let session = self
            .store
            .create_session(ttl)
            .await
            .map_err(|e| error_to_status(&e))?;
        Ok(Response::new(CreateSessionResponse { session }))
    }

    async fn keep_alive(
        &self,
        request: Request<KeepAliveRequest>,
    ) -> Result<Response<KeepAliveResponse>, Status> {
        self.store
            .keep_alive(request.get_ref().session)
            .await
            .map_err(|e| error_to_status(&e))?;
        Ok(Response::new(KeepAliveResponse {}))
    }

    async fn revoke_session(
        &self,
        request: Request<RevokeSessionRequest>,
    ) -> Result<Response<RevokeSessionResponse>, Status> {
        self.store
            .revoke_session(request.get_ref().session)
            .await
            .map_err(|e| error_to_status(&e))?;
        Ok(Response::new(RevokeSessionResponse {}))
    }

    type WatchStream = WatchResponseStream;

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let request = request.into_inner();
        let target = if request.prefix {
            WatchTarget::Prefix(request.target)
        } else {
            WatchTarget::Key(request.target)
        };
        let from = (request.from_revision > 0).then_some(request.from_revision);
        let events = self
            .store
            .watch(target, from)
            .await
            .map_err(|e| error_to_status(&e))?;
        let stream = events.map(|item| item.map(event_to_proto).map_err(|e| error_to_status(&e)));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let metrics = self.node.raft().metrics().borrow().clone();
        let leader_id = metrics.current_leader.unwrap_or(0);
        let leader_addr = metrics
            .current_leader
            .and_then(|leader| {
                metrics
                    .membership_config
                    .membership()
                    .get_node(&leader)
                    .map(|n| n.addr.clone())
            })
            .unwrap_or_default();
        Ok(Response::new(StatusResponse {
            node_id: self.node.id(),
            leader_id,
            leader_addr,
            last_applied: metrics.last_applied.map_or(0, |id| id.index),
            term: metrics.current_term,
        }))
    }
}
