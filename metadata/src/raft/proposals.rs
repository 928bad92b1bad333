//! Batching of proposals: every command proposed on this node while the
//! previous proposal is being committed goes into one log entry.
//!
//! openraft commits one client write at a time here (the next append waits
//! for the previous log flush), so without batching every write would cost
//! its own fsync and round trip. One task owns all proposals: it takes the
//! first waiting command, adds every other command already queued (up to
//! [`MAX_COMMANDS_PER_ENTRY`]), proposes them as one [`CommandBatch`], and
//! answers each caller with its own command's outcome. The state machine
//! applies a batch's commands in order, each with its own revision, exactly
//! as if they had been proposed one by one.

use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{mpsc, oneshot};

use crate::error::MetadataError;
use crate::state_machine::Command;

use super::node::ForwardedWrite;
use super::types::{CommandBatch, MetaRaft};

/// Most commands carried by one log entry.
pub const MAX_COMMANDS_PER_ENTRY: usize = 256;

type Reply = oneshot::Sender<Result<ForwardedWrite, MetadataError>>;

/// Queue into the proposal task. Dropping the last handle stops the task.
#[derive(Clone)]
pub struct Proposals {
    queue: mpsc::UnboundedSender<(Command, Reply)>,
}

impl Proposals {
    /// Spawns the proposal task for `raft`; a batch not committed within
    /// `timeout` fails for all its callers with `Unavailable`.
    pub fn start(raft: MetaRaft, timeout: Duration) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(propose_batches(raft, pending, timeout));
        Proposals { queue }
    }

    /// Proposes `command` with the next batch and waits for its outcome.
    pub async fn propose(&self, command: Command) -> Result<ForwardedWrite, MetadataError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((command, reply))
            .map_err(|_| MetadataError::ShuttingDown)?;
        answer.await.map_err(|_| MetadataError::ShuttingDown)?
    }
}

async fn propose_batches(
    raft: MetaRaft,
    mut pending: mpsc::UnboundedReceiver<(Command, Reply)>,
    timeout: Duration,
) {
    while let Some(first) = pending.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_COMMANDS_PER_ENTRY {
            match pending.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (commands, replies): (Vec<Command>, Vec<Reply>) = batch.into_iter().unzip();
        let count = commands.len();
        let proposal =
            tokio::time::timeout(timeout, raft.client_write(CommandBatch(commands))).await;
        let answers: Vec<Result<ForwardedWrite, MetadataError>> = match proposal {
            Err(_) => repeat_error(count, || {
                unavailable("write was not committed before the deadline")
            }),
            Ok(Ok(response)) if response.data.0.len() == count => response
                .data
                .0
                .into_iter()
                .map(|outcome| Ok(ForwardedWrite::Applied(outcome)))
                .collect(),
            Ok(Ok(response)) => repeat_error(count, || MetadataError::Corrupt {
                key: String::new(),
                reason: format!(
                    "a batch of {count} commands applied with {} outcomes",
                    response.data.0.len()
                ),
            }),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                (0..count).map(|_| Ok(ForwardedWrite::NotLeader)).collect()
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
                repeat_error(count, || {
                    unavailable(&format!("membership change in progress: {e}"))
                })
            }
            Ok(Err(RaftError::Fatal(fatal))) => {
                tracing::warn!(%fatal, "raft stopped while writing");
                repeat_error(count, || MetadataError::ShuttingDown)
            }
        };
        for (reply, answer) in replies.into_iter().zip(answers) {
            // A caller that gave up (deadline) no longer listens.
            let _ = reply.send(answer);
        }
    }
}

fn repeat_error(
    count: usize,
    error: impl Fn() -> MetadataError,
) -> Vec<Result<ForwardedWrite, MetadataError>> {
    (0..count).map(|_| Err(error())).collect()
}

fn unavailable(reason: &str) -> MetadataError {
    MetadataError::Unavailable(reason.to_string())
}
