//! [`WriterCore`]: the add path shared by the ledger writer and by recovery.
//!
//! Adds are sent to every bookie of their write set as soon as they are
//! pushed (pipelining); answers come back through `inflight` in any order and
//! are folded into the [`AddQueue`], which confirms adds strictly in entry
//! order once each has `Qa` acks from its own write set.
//!
//! Bookie failures (transport errors, timeouts, IO_ERROR, READ_ONLY,
//! TOO_MANY_REQUESTS) trigger an *ensemble change*, run inline: while it runs
//! no answer is processed, so no add is confirmed. The failed bookie is
//! replaced by a writable bookie outside the ensemble; in normal mode the new
//! segment (keyed `LAC + 1`) is written to the metadata by CAS *before* any
//! add is re-sent, and only while the ledger is still `OPEN`; in recovery mode
//! the change is kept locally and written together with the close. Acks of
//! the replaced bookie are discarded and every pending add of its write-set
//! positions is re-sent to the replacement. FENCED and UNAUTHORIZED fail every
//! pending add and make the core unusable.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{FuturesUnordered, StreamExt};
use magnetar_proto::bookie::{AddFlag, AddRequest, AddResponse, StatusCode};

use crate::client::config::ClientConfig;
use crate::client::metadata::{
    BookieId, CasStep, LedgerMetadataStore, LedgerState, VersionedMetadata,
};
use crate::client::pending::{AddQueue, AppendReply, QuorumAdd};
use crate::client::placement;
use crate::client::transport::{BookieConnector, TransportError};
use crate::digest;
use crate::ledger::{EntryId, LedgerError, LedgerId, RecoveryFault};

/// Whether the core writes as the ledger's writer or as a recoverer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Ordinary adds; ensemble changes are written to the metadata at once.
    Normal,
    /// `RECOVERY | HIGH_PRIORITY` re-adds; ensemble changes stay local until close.
    Recovery,
}

/// Progress visible to the writer handle without asking the task.
#[derive(Debug)]
pub struct WriterProgress {
    lac: AtomicI64,
    length: AtomicU64,
}

impl WriterProgress {
    pub fn new(lac: EntryId, length: u64) -> Self {
        WriterProgress {
            lac: AtomicI64::new(lac),
            length: AtomicU64::new(length),
        }
    }

    pub fn lac(&self) -> EntryId {
        self.lac.load(Ordering::Acquire)
    }

    pub fn length(&self) -> u64 {
        self.length.load(Ordering::Acquire)
    }
}

/// The answer of one bookie to one add.
pub struct BookieAddOutcome {
    entry_id: EntryId,
    index: usize,
    bookie: BookieId,
    result: Result<AddResponse, TransportError>,
}

/// Everything a core needs from its surroundings.
#[derive(Clone)]
pub struct CoreContext {
    pub connector: Arc<dyn BookieConnector>,
    pub metadata_store: LedgerMetadataStore,
    pub config: ClientConfig,
}

pub struct WriterCore {
    ledger_id: LedgerId,
    mode: WriteMode,
    context: CoreContext,
    master_key: Bytes,
    /// The metadata as last written (normal mode) or as it will be written at
    /// close (recovery mode).
    metadata: VersionedMetadata,
    queue: AddQueue,
    inflight: FuturesUnordered<BoxFuture<'static, BookieAddOutcome>>,
    last_pushed: EntryId,
    pushed_length: u64,
    progress: Arc<WriterProgress>,
    failure: Option<LedgerError>,
}

impl WriterCore {
    /// A core continuing after `lac` (confirmed, with `length` bytes).
    pub fn new(
        ledger_id: LedgerId,
        mode: WriteMode,
        context: CoreContext,
        master_key: Bytes,
        metadata: VersionedMetadata,
        lac: EntryId,
        length: u64,
    ) -> Self {
        let queue = AddQueue::new(metadata.metadata.quorum());
        WriterCore {
            ledger_id,
            mode,
            context,
            master_key,
            metadata,
            queue,
            inflight: FuturesUnordered::new(),
            last_pushed: lac,
            pushed_length: length,
            progress: Arc::new(WriterProgress::new(lac, length)),
            failure: None,
        }
    }

    pub fn ledger_id(&self) -> LedgerId {
        self.ledger_id
    }

    pub fn context(&self) -> &CoreContext {
        &self.context
    }

    pub fn progress(&self) -> Arc<WriterProgress> {
        self.progress.clone()
    }

    pub fn metadata(&self) -> &VersionedMetadata {
        &self.metadata
    }

    pub fn failure(&self) -> Option<&LedgerError> {
        self.failure.as_ref()
    }

    /// Adds sent whose outcome is not known yet.
    pub fn has_pending(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Frames `payload` as the next entry (carrying the current LAC and the
    /// cumulative length) and sends it to its write set.
    pub fn push_payload(&mut self, payload: Bytes, reply: AppendReply) {
        if let Some(error) = &self.failure {
            let _ = reply.send(Err(error.clone()));
            return;
        }
        let entry_id = self.last_pushed + 1;
        let length = self.pushed_length + payload.len() as u64;
        let body = digest::encode_entry(
            self.ledger_id as i64,
            entry_id,
            self.progress.lac(),
            length as i64,
            &payload,
        );
        self.push(QuorumAdd::new(entry_id, body, length, Some(reply)));
    }

    /// Re-sends an already framed entry (recovery): it must be the next one.
    pub fn push_body(
        &mut self,
        entry_id: EntryId,
        body: Bytes,
        cumulative_length: u64,
    ) -> Result<(), LedgerError> {
        if let Some(error) = &self.failure {
            return Err(error.clone());
        }
        if entry_id != self.last_pushed + 1 {
            return Err(LedgerError::RecoveryFailed {
                ledger_id: self.ledger_id,
                fault: RecoveryFault::EntryOutOfOrder {
                    entry_id,
                    last_pushed: self.last_pushed,
                },
            });
        }
        self.push(QuorumAdd::new(entry_id, body, cumulative_length, None));
        Ok(())
    }

    fn push(&mut self, add: QuorumAdd) {
        self.last_pushed = add.entry_id;
        self.pushed_length = add.cumulative_length;
        let quorum = self.metadata.metadata.quorum();
        for index in quorum.write_set(add.entry_id) {
            self.send(add.entry_id, index, add.body.clone());
        }
        self.queue.push(add);
    }

    fn send(&mut self, entry_id: EntryId, index: usize, body: Bytes) {
        let Some(bookie) = self.metadata.metadata.last_ensemble().get(index).cloned() else {
            tracing::error!(
                ledger_id = self.ledger_id,
                index,
                "write set index outside the ensemble"
            );
            return;
        };
        let flags = match self.mode {
            WriteMode::Normal => AddFlag::None as u32,
            WriteMode::Recovery => AddFlag::Recovery as u32 | AddFlag::HighPriority as u32,
        };
        let request = AddRequest {
            request_id: 0,
            ledger_id: self.ledger_id as i64,
            entry_id,
            master_key: self.master_key.clone(),
            body,
            flags,
        };
        let answer = self.context.connector.bookie(&bookie).add(request);
        let timeout = self.context.config.add_timeout;
        self.inflight.push(
            async move {
                let result = match tokio::time::timeout(timeout, answer).await {
                    Ok(result) => result,
                    Err(_) => Err(TransportError::Timeout {
                        bookie: bookie.clone(),
                    }),
                };
                BookieAddOutcome {
                    entry_id,
                    index,
                    bookie,
                    result,
                }
            }
            .boxed(),
        );
    }

    /// The next bookie answer; pending forever when nothing is in flight, so
    /// it can sit in a `select!` next to other sources.
    pub async fn next_outcome(&mut self) -> BookieAddOutcome {
        match self.inflight.next().await {
            Some(outcome) => outcome,
            None => futures::future::pending().await,
        }
    }

    /// Folds one bookie answer into the queue, changing the ensemble or
    /// failing the writer as the status requires.
    pub async fn handle_outcome(&mut self, outcome: BookieAddOutcome) {
        if self.failure.is_some() {
            return;
        }
        if self.metadata.metadata.last_ensemble().get(outcome.index) != Some(&outcome.bookie) {
            return; // an answer from a bookie that was replaced meanwhile
        }
        let status = match &outcome.result {
            Ok(response) => response.status(),
            Err(error) => {
                let reason = error.to_string();
                return self.replace_bookie(outcome.index, &reason).await;
            }
        };
        let ledger_id = self.ledger_id;
        match status {
            StatusCode::StatusOk => {
                self.queue.ack(outcome.entry_id, outcome.index);
                self.confirm_completed();
            }
            StatusCode::StatusFenced => self.fail(LedgerError::Fenced(ledger_id)),
            StatusCode::StatusUnauthorized => self.fail(LedgerError::Unauthorized(ledger_id)),
            StatusCode::StatusBadRequest | StatusCode::StatusTooLarge => {
                let message = outcome.result.map(|r| r.message).unwrap_or_default();
                self.fail(LedgerError::AddRejected {
                    ledger_id,
                    entry_id: outcome.entry_id,
                    bookie: outcome.bookie,
                    status,
                    message,
                });
            }
            other => {
                self.replace_bookie(outcome.index, &format!("{other:?}"))
                    .await
            }
        }
    }

    fn confirm_completed(&mut self) {
        let progress = &self.progress;
        // The LAC moves before each add's future resolves: a caller that saw
        // its add confirmed must not read an older `last_add_confirmed`.
        self.queue.confirm_completed_head(|confirmed| {
            progress.lac.store(confirmed.entry_id, Ordering::Release);
            progress
                .length
                .store(confirmed.cumulative_length, Ordering::Release);
        });
    }

    /// Fails every pending add with `error`; later pushes fail the same way.
    pub fn fail(&mut self, error: LedgerError) {
        if !self.queue.is_empty() {
            tracing::warn!(ledger_id = self.ledger_id, %error, pending = self.queue.len(), "failing pending adds");
        }
        self.queue.fail_all(&error);
        self.inflight = FuturesUnordered::new();
        self.failure = Some(error);
    }

    /// Replaces the bookie at `index` of the current ensemble. See the module doc.
    async fn replace_bookie(&mut self, index: usize, reason: &str) {
        let ensemble = self.metadata.metadata.last_ensemble().to_vec();
        let Some(failed) = ensemble.get(index).cloned() else {
            return;
        };
        tracing::warn!(ledger_id = self.ledger_id, bookie = %failed, reason, "bookie failed, changing ensemble");
        let replacement = match choose_replacement(&self.context, &ensemble).await {
            Ok(replacement) => replacement,
            Err(error) => return self.fail(error),
        };
        let mut new_ensemble = ensemble;
        new_ensemble[index] = replacement.clone();
        let first_entry = self.progress.lac() + 1;
        match self.mode {
            WriteMode::Recovery => self
                .metadata
                .metadata
                .set_ensemble_from(first_entry, new_ensemble, Vec::new()),
            WriteMode::Normal => {
                let ledger_id = self.ledger_id;
                let updated = self
                    .context
                    .metadata_store
                    .update(ledger_id, self.metadata.clone(), |current| {
                        match current.state {
                            LedgerState::Open => {}
                            LedgerState::InRecovery => return Err(LedgerError::Fenced(ledger_id)),
                            LedgerState::Closed => return Err(LedgerError::Closed(ledger_id)),
                        }
                        if current.last_ensemble().get(index) != Some(&failed) {
                            return Err(LedgerError::Fenced(ledger_id));
                        }
                        let mut next = current.clone();
                        next.set_ensemble_from(first_entry, new_ensemble.clone(), Vec::new());
                        Ok(CasStep::Write(next))
                    })
                    .await;
                match updated {
                    Ok(updated) => self.metadata = updated,
                    Err(error) => return self.fail(error),
                }
            }
        }
        tracing::info!(ledger_id = self.ledger_id, failed = %failed, replacement = %replacement, first_entry, "ensemble changed");
        for (entry_id, body) in self.queue.reset_index(index) {
            self.send(entry_id, index, body);
        }
        self.confirm_completed();
    }

    /// Processes answers until every pending add is confirmed or failed.
    pub async fn drain(&mut self) -> Result<(), LedgerError> {
        while self.has_pending() && self.failure.is_none() {
            let outcome = self.next_outcome().await;
            self.handle_outcome(outcome).await;
        }
        match &self.failure {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }
}

/// A writable bookie outside `ensemble`, chosen at random.
async fn choose_replacement(
    context: &CoreContext,
    ensemble: &[BookieId],
) -> Result<BookieId, LedgerError> {
    let writable = placement::writable_bookies(context.metadata_store.store()).await?;
    let mut chosen = placement::choose_bookies(&writable, 1, ensemble)?;
    chosen.pop().ok_or(LedgerError::NotEnoughBookies {
        needed: 1,
        available: 0,
    })
}
