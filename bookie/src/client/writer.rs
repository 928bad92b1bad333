//! [`QuorumLedgerWriter`]: the [`LedgerWriter`] handle, and the task that owns
//! the ledger's [`WriterCore`].
//!
//! `append` hands the payload to the task over an unbounded channel, so the
//! order of calls is the order of entries. The task is the only place that
//! touches the pending queue: it interleaves new appends with bookie answers
//! and runs ensemble changes inline (which pauses confirmations). While the
//! ensemble has holes, a timer makes it try to fill them, even when idle.
//!
//! Close: pending adds fail with `Closed`, then the metadata is CAS-ed to
//! `CLOSED` at the LAC. On a conflict the metadata is re-read: still `OPEN` →
//! retry; `CLOSED` at the same last entry → success (a recoverer agreed);
//! `IN_RECOVERY` or `CLOSED` elsewhere → [`LedgerError::Fenced`].

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::channel::mpsc;
use futures::future::{self, BoxFuture, FutureExt};
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::task::coop;

use crate::client::metadata::{CasStep, LedgerState};
use crate::client::write_core::{WriterCore, WriterProgress};
use crate::ledger::{ClosedLedger, EntryId, LedgerError, LedgerId, LedgerWriter, WriterHealth};

/// What the [`QuorumLedgerWriter`] handle asks of its writer task.
enum QuorumWriterCommand {
    Append {
        payload: Bytes,
        reply: oneshot::Sender<Result<EntryId, LedgerError>>,
    },
    Close {
        reply: oneshot::Sender<Result<ClosedLedger, LedgerError>>,
    },
}

/// The writer of one ledger created by [`crate::client::LedgerClient`].
pub struct QuorumLedgerWriter {
    ledger_id: LedgerId,
    max_entry_size: usize,
    commands: mpsc::UnboundedSender<QuorumWriterCommand>,
    progress: Arc<WriterProgress>,
    closed: Mutex<Option<ClosedLedger>>,
}

impl QuorumLedgerWriter {
    /// Starts the writer task around `core`.
    pub fn spawn(ledger_id: LedgerId, max_entry_size: usize, core: WriterCore) -> Self {
        // futures' channel allocates a node per command and almost nothing
        // up front; tokio's allocates a block of 32 slots (1.3 KB here) for
        // each open ledger, most of an idle topic's share (docs/memory.md).
        let (commands, receiver) = mpsc::unbounded();
        let progress = core.progress();
        tokio::spawn(run_writer(core, receiver));
        QuorumLedgerWriter {
            ledger_id,
            max_entry_size,
            commands,
            progress,
            closed: Mutex::new(None),
        }
    }
}

#[async_trait]
impl LedgerWriter for QuorumLedgerWriter {
    fn id(&self) -> LedgerId {
        self.ledger_id
    }

    fn append(&self, payload: Bytes) -> BoxFuture<'static, Result<EntryId, LedgerError>> {
        if payload.len() > self.max_entry_size {
            let error = LedgerError::EntryTooLarge {
                size: payload.len(),
                limit: self.max_entry_size,
            };
            return future::ready(Err(error)).boxed();
        }
        let (reply, answer) = oneshot::channel();
        let ledger_id = self.ledger_id;
        if self
            .commands
            .unbounded_send(QuorumWriterCommand::Append { payload, reply })
            .is_err()
        {
            return future::ready(Err(LedgerError::Closed(ledger_id))).boxed();
        }
        async move { answer.await.unwrap_or(Err(LedgerError::Closed(ledger_id))) }.boxed()
    }

    fn last_add_confirmed(&self) -> EntryId {
        self.progress.lac()
    }

    fn length(&self) -> u64 {
        self.progress.length()
    }

    fn health(&self) -> WriterHealth {
        self.progress.health()
    }

    async fn close(&self) -> Result<ClosedLedger, LedgerError> {
        if let Some(closed) = *self.closed.lock() {
            return Ok(closed);
        }
        let (reply, answer) = oneshot::channel();
        self.commands
            .unbounded_send(QuorumWriterCommand::Close { reply })
            .map_err(|_| LedgerError::Closed(self.ledger_id))?;
        let closed = answer
            .await
            .map_err(|_| LedgerError::Closed(self.ledger_id))??;
        *self.closed.lock() = Some(closed);
        Ok(closed)
    }
}

/// The writer task: runs until closed, or until the handle is dropped and
/// every pending add has its outcome.
async fn run_writer(
    mut core: WriterCore,
    mut commands: mpsc::UnboundedReceiver<QuorumWriterCommand>,
) {
    let mut handle_dropped = false;
    loop {
        if handle_dropped && !core.has_pending() {
            return;
        }
        let fill_due = core.fill_due();
        tokio::select! {
            // `cooperative`: a futures channel spends no task budget, so
            // a full queue would keep the task from yielding.
            command = coop::cooperative(commands.next()), if !handle_dropped => match command {
                Some(QuorumWriterCommand::Append { payload, reply }) => core.push_payload(payload, reply),
                Some(QuorumWriterCommand::Close { reply }) => {
                    let _ = reply.send(Box::pin(close_ledger(&mut core)).await);
                    return;
                }
                None => handle_dropped = true,
            },
            outcome = core.next_outcome() => core.handle_outcome(outcome).await,
            // Boxed: rare, and the task's future (allocated for every open
            // ledger) stays the size of its common path.
            _ = sleep_until_some(fill_due) => Box::pin(core.fill_holes()).await,
        }
    }
}

/// Sleeps until `deadline`; forever when there is none.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => future::pending().await,
    }
}

/// Fails what is pending and writes the `CLOSED` state (see the module doc).
async fn close_ledger(core: &mut WriterCore) -> Result<ClosedLedger, LedgerError> {
    let progress = core.progress();
    let (lac, length) = (progress.lac(), progress.length());
    let id = core.ledger_id();
    // Appends after the LAC will never be part of the ledger.
    core.fail(LedgerError::Closed(id));
    let store = core.context().metadata_store.clone();
    let updated = store
        .update(id, core.metadata().clone(), |current| match current.state {
            LedgerState::Open => {
                let mut next = current.clone();
                next.state = LedgerState::Closed;
                next.last_entry_id = lac;
                next.length = length;
                Ok(CasStep::Write(next))
            }
            LedgerState::Closed if current.last_entry_id == lac => Ok(CasStep::Done),
            LedgerState::Closed | LedgerState::InRecovery => Err(LedgerError::Fenced(id)),
        })
        .await?;
    tracing::info!(ledger_id = id, last_entry_id = lac, length, "ledger closed");
    Ok(ClosedLedger {
        ledger_id: id,
        last_entry_id: updated.metadata.last_entry_id,
        length: updated.metadata.length,
    })
}
