//! [`RaftNode`]: one member of the metadata group — the openraft handle plus
//! the applied state — and the two primitives every store operation is
//! built from: [`RaftNode::write`] and [`RaftNode::read_barrier`].
//!
//! Writes: proposed locally with `client_write`. A follower gets
//! `ForwardToLeader` and hands the command to the leader over the
//! `ForwardWrite` RPC; with no known leader (an election is running) it
//! retries until the write deadline. A write that is not committed by the
//! deadline (e.g. on a minority side) fails with `Unavailable`.
//!
//! Reads: linearizable by read index. The leader confirms its leadership
//! with a quorum (`ensure_linearizable`) and waits until its state machine
//! has applied up to the read index; a follower asks the leader for the read
//! index (`ReadIndex` RPC) and waits until its own state machine has applied
//! that far. The read then runs against the local applied state.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use magnetar_proto::metadata::metadata_node_client::MetadataNodeClient;
use magnetar_proto::metadata::{RaftPayload, ReadIndexRequest};
use openraft::error::{CheckIsLeaderError, RaftError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::error::MetadataError;
use crate::state_machine::{Command, CommandOutcome, CommandResult};
use crate::store::Result;

use super::applied_state::AppliedState;
use super::network::lazy_channel;
use super::proposals::Proposals;
use super::types::{MetaRaft, NodeId};

/// Pause between attempts while no leader is known.
const NO_LEADER_BACKOFF: Duration = Duration::from_millis(50);

/// Default deadline of one write or linearizable read.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// What the leader answers to a forwarded write.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardedWrite {
    /// Committed and applied; the state machine's outcome.
    Applied(CommandOutcome),
    /// The receiver is not the leader (any more); nothing was proposed.
    NotLeader,
}

/// One member of the metadata group. See the module docs.
pub struct RaftNode {
    id: NodeId,
    raft: MetaRaft,
    state: Arc<AppliedState>,
    operation_timeout: Duration,
    proposals: Proposals,
    leader_clients: Mutex<HashMap<String, MetadataNodeClient<Channel>>>,
}

impl RaftNode {
    pub fn new(
        id: NodeId,
        raft: MetaRaft,
        state: Arc<AppliedState>,
        operation_timeout: Duration,
    ) -> Self {
        let proposals = Proposals::start(raft.clone(), operation_timeout);
        RaftNode {
            id,
            raft,
            state,
            operation_timeout,
            proposals,
            leader_clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn raft(&self) -> &MetaRaft {
        &self.raft
    }

    pub fn state(&self) -> &Arc<AppliedState> {
        &self.state
    }

    /// Deadline of one write or linearizable read on this node.
    pub fn operation_timeout(&self) -> Duration {
        self.operation_timeout
    }

    /// Commits `command` through the log (forwarding to the leader when
    /// needed) and returns what the state machine made of it.
    pub async fn write(&self, command: Command) -> Result<CommandResult> {
        let deadline = Instant::now() + self.operation_timeout;
        loop {
            let attempt = match self.write_local(command.clone(), deadline).await? {
                ForwardedWrite::Applied(outcome) => return outcome.map_err(MetadataError::from),
                ForwardedWrite::NotLeader => self.forward_write(&command, deadline).await?,
            };
            match attempt {
                Some(ForwardedWrite::Applied(outcome)) => {
                    return outcome.map_err(MetadataError::from)
                }
                Some(ForwardedWrite::NotLeader) | None => {
                    if Instant::now() + NO_LEADER_BACKOFF >= deadline {
                        return Err(unavailable(
                            "no leader accepted the write before the deadline",
                        ));
                    }
                    tokio::time::sleep(NO_LEADER_BACKOFF).await;
                }
            }
        }
    }

    /// Proposes `command` on this node only (batched with other commands
    /// proposed meanwhile, see [`super::proposals`]). `NotLeader` when this
    /// node does not lead (the command was not proposed).
    pub async fn write_local(&self, command: Command, deadline: Instant) -> Result<ForwardedWrite> {
        match tokio::time::timeout_at(deadline, self.proposals.propose(command)).await {
            Err(_) => Err(unavailable("write was not committed before the deadline")),
            Ok(answer) => answer,
        }
    }

    /// Sends `command` to the current leader. `None` when no other node is
    /// known to lead or it could not be reached before anything was sent.
    async fn forward_write(
        &self,
        command: &Command,
        deadline: Instant,
    ) -> Result<Option<ForwardedWrite>> {
        let Some(mut client) = self.leader_client() else {
            return Ok(None);
        };
        let json = serde_json::to_vec(command).map_err(|e| corrupt(&e))?;
        let mut request = tonic::Request::new(RaftPayload { json: json.into() });
        request.set_timeout(deadline.saturating_duration_since(Instant::now()));
        match client.forward_write(request).await {
            Ok(response) => {
                let answer: ForwardedWrite =
                    serde_json::from_slice(&response.into_inner().json).map_err(|e| corrupt(&e))?;
                Ok(Some(answer))
            }
            // A transport failure (no `Failure` details: the leader was not
            // reached, e.g. it refused the connection), so retrying, possibly
            // with a new leader, is safe. A timeout the leader reported
            // itself is final: the write may still commit.
            Err(status)
                if status.code() == tonic::Code::Unavailable && status.details().is_empty() =>
            {
                tracing::debug!(%status, "leader unreachable, retrying write");
                Ok(None)
            }
            Err(status) => Err(super::convert::status_to_error(status)),
        }
    }

    /// Waits until a read of the local applied state is linearizable.
    pub async fn read_barrier(&self) -> Result<()> {
        let deadline = Instant::now() + self.operation_timeout;
        loop {
            let check = tokio::time::timeout_at(deadline, self.raft.ensure_linearizable()).await;
            match check {
                Err(_) => return Err(unavailable("leadership not confirmed before the deadline")),
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_)))) => {
                    if let Some(index) = self.remote_read_index(deadline).await? {
                        return self.wait_applied(index, deadline).await;
                    }
                }
                Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
                    tracing::debug!(%e, "read barrier: quorum not reached, retrying");
                }
                Ok(Err(RaftError::Fatal(_))) => return Err(MetadataError::ShuttingDown),
            }
            if Instant::now() + NO_LEADER_BACKOFF >= deadline {
                return Err(unavailable(
                    "no leader confirmed a read index before the deadline",
                ));
            }
            tokio::time::sleep(NO_LEADER_BACKOFF).await;
        }
    }

    /// The leader's read index, served to followers. Confirms leadership
    /// with a quorum first.
    pub async fn local_read_index(&self) -> Result<Option<u64>> {
        let deadline = Instant::now() + self.operation_timeout;
        match tokio::time::timeout_at(deadline, self.raft.ensure_linearizable()).await {
            Err(_) => Err(unavailable("leadership not confirmed before the deadline")),
            Ok(Ok(log_id)) => Ok(Some(log_id.map_or(0, |id| id.index))),
            Ok(Err(RaftError::APIError(_))) => Ok(None),
            Ok(Err(RaftError::Fatal(_))) => Err(MetadataError::ShuttingDown),
        }
    }

    async fn remote_read_index(&self, deadline: Instant) -> Result<Option<u64>> {
        let Some(mut client) = self.leader_client() else {
            return Ok(None);
        };
        let mut request = tonic::Request::new(ReadIndexRequest {});
        request.set_timeout(deadline.saturating_duration_since(Instant::now()));
        match client.read_index(request).await {
            Ok(response) => Ok(Some(response.into_inner().read_index)),
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::Unavailable | tonic::Code::FailedPrecondition
                ) =>
            {
                Ok(None)
            }
            Err(status) => Err(super::convert::status_to_error(status)),
        }
    }

    async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<()> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        self.raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index), "linearizable read")
            .await
            .map(|_| ())
            .map_err(|_| {
                unavailable("state machine did not reach the read index before the deadline")
            })
    }

    /// A client for the leader, if another node is currently known to lead.
    fn leader_client(&self) -> Option<MetadataNodeClient<Channel>> {
        let metrics = self.raft.metrics().borrow().clone();
        let leader = metrics.current_leader.filter(|leader| *leader != self.id)?;
        let addr = metrics
            .membership_config
            .membership()
            .get_node(&leader)?
            .addr
            .clone();
        let mut clients = self.leader_clients.lock();
        if let Some(client) = clients.get(&addr) {
            return Some(client.clone());
        }
        let channel = lazy_channel(&addr).ok()?;
        let client = MetadataNodeClient::new(channel).max_decoding_message_size(usize::MAX);
        clients.insert(addr, client.clone());
        Some(client)
    }
}

/// Milliseconds since the Unix epoch on this node's clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

fn unavailable(reason: &str) -> MetadataError {
    MetadataError::Unavailable(reason.to_string())
}

fn corrupt(e: &serde_json::Error) -> MetadataError {
    MetadataError::Corrupt {
        key: String::new(),
        reason: format!("raft message encoding: {e}"),
    }
}
