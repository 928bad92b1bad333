//! Raft peer traffic over the `MetadataNode` gRPC service.
//!
//! openraft's request and response types are JSON-encoded into
//! `RaftPayload.json`. A peer answers with a JSON `Result<Response,
//! RaftError>`, so a remote Raft error (e.g. a higher vote) comes back as a
//! value rather than a transport failure. Transport failures map to
//! `Unreachable`, which makes openraft back off before retrying the peer.

use std::time::Duration;

use magnetar_proto::metadata::metadata_node_client::MetadataNodeClient;
use magnetar_proto::metadata::RaftPayload;
use openraft::error::{
    Infallible, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};

use super::types::{NodeId, TypeConfig};

/// How long a connection attempt to a peer may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Shortest deadline given to a peer RPC.
const MIN_RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// Creates a lazily connecting gRPC channel to `addr` (`host:port`).
pub fn lazy_channel(addr: &str) -> Result<Channel, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true);
    Ok(endpoint.connect_lazy())
}

/// Builds one [`PeerConnection`] per replication target.
#[derive(Debug, Clone, Default)]
pub struct GrpcNetworkFactory;

impl RaftNetworkFactory<TypeConfig> for GrpcNetworkFactory {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        PeerConnection {
            target,
            addr: node.addr.clone(),
            client: None,
        }
    }
}

/// The connection to one peer, established on first use.
pub struct PeerConnection {
    target: NodeId,
    addr: String,
    client: Option<MetadataNodeClient<Channel>>,
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl PeerConnection {
    fn client(&mut self) -> Result<MetadataNodeClient<Channel>, Unreachable> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let channel = lazy_channel(&self.addr).map_err(|e| Unreachable::new(&e))?;
        let client = MetadataNodeClient::new(channel).max_decoding_message_size(usize::MAX);
        self.client = Some(client.clone());
        Ok(client)
    }

    async fn call<Req, Resp, E>(
        &mut self,
        kind: RpcKind,
        request: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let json =
            serde_json::to_vec(request).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut client = self.client()?;
        let mut grpc_request = tonic::Request::new(RaftPayload { json: json.into() });
        // openraft's TTL is sized for heartbeats; a batch carrying large values
        // needs longer, so never wait less than MIN_RPC_TIMEOUT.
        grpc_request.set_timeout(option.hard_ttl().max(MIN_RPC_TIMEOUT));
        let response = match kind {
            RpcKind::AppendEntries => client.append_entries(grpc_request).await,
            RpcKind::Vote => client.vote(grpc_request).await,
            RpcKind::InstallSnapshot => client.install_snapshot(grpc_request).await,
        };
        let payload = response
            .map_err(|status| RPCError::Unreachable(Unreachable::new(&status)))?
            .into_inner();
        let result: Result<Resp, RaftError<NodeId, E>> = serde_json::from_slice(&payload.json)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// Which peer RPC to call.
#[derive(Debug, Clone, Copy)]
enum RpcKind {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, Infallible> {
        self.call(RpcKind::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call(RpcKind::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, Infallible> {
        self.call(RpcKind::Vote, &rpc, &option).await
    }
}
