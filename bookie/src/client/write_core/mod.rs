//! [`WriterCore`]: the add path shared by the ledger writer and by recovery.
//!
//! Adds are sent to every live bookie of their write set as soon as they are
//! pushed (pipelining); answers come back through `inflight` in any order and
//! are folded into the [`AddQueue`], which confirms adds strictly in entry
//! order once each has `Qa` acks from its own write set.
//!
//! Bookie failures (transport errors, timeouts, IO_ERROR, READ_ONLY,
//! TOO_MANY_REQUESTS) trigger an *ensemble change*, run inline: while it runs
//! no answer is processed, so no add is confirmed, and there is never more
//! than one change in flight per ledger. The change is written to the
//! metadata by CAS (normal mode, only while the ledger is `OPEN`) or kept
//! locally and written with the close (recovery mode) *before* any add is
//! re-sent or confirmed under it. See [`change`] for the three kinds:
//! replace the bookie, leave a hole, fill a hole. FENCED and UNAUTHORIZED
//! fail every pending add and make the core unusable.
//!
//! Each ensemble index has a generation, bumped at every change of that
//! index; answers sent under an older generation are dropped, so a late ack
//! from a replaced or holed bookie never completes an add.

mod change;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{FuturesUnordered, StreamExt};
use magnetar_proto::bookie::{AddFlag, AddRequest, AddResponse, StatusCode};
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::client::config::ClientConfig;
use crate::client::directory::BookieDirectory;
use crate::client::metadata::{BookieId, LedgerMetadataStore, VersionedMetadata};
use crate::client::pending::{AddQueue, AppendReply, QuorumAdd};
use crate::client::transport::{BookieConnector, TransportError};
use crate::digest;
use crate::ledger::{EntryId, LedgerError, LedgerId, RecoveryFault, WriterHealth};

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
    health: Mutex<WriterHealth>,
}

impl WriterProgress {
    pub fn new(lac: EntryId, length: u64) -> Self {
        WriterProgress {
            lac: AtomicI64::new(lac),
            length: AtomicU64::new(length),
            health: Mutex::new(WriterHealth::default()),
        }
    }

    /// The holes of the current ensemble, as bookie ids.
    pub fn health(&self) -> WriterHealth {
        self.health.lock().clone()
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
    /// The index's generation when the add was sent.
    generation: u64,
    result: Result<AddResponse, TransportError>,
}

/// Everything a core needs from its surroundings.
#[derive(Clone)]
pub struct CoreContext {
    pub connector: Arc<dyn BookieConnector>,
    pub metadata_store: LedgerMetadataStore,
    pub directory: Arc<BookieDirectory>,
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
    /// Per ensemble index: entries sent to it and not acknowledged by it.
    /// Where a hole starts when that bookie fails.
    unanswered: Vec<BTreeSet<EntryId>>,
    /// Per ensemble index: bumped at every change of that index.
    generation: Vec<u64>,
    /// When the writer next looks for bookies to fill its holes.
    next_fill: Option<(Instant, std::time::Duration)>,
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
        let quorum = metadata.metadata.quorum();
        let queue = AddQueue::new(quorum);
        let core = WriterCore {
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
            unanswered: vec![BTreeSet::new(); quorum.ensemble],
            generation: vec![0; quorum.ensemble],
            next_fill: None,
        };
        core.publish_health();
        core
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
        let holes = self.metadata.metadata.last_holes();
        for index in quorum.live_write_set(add.entry_id, &holes) {
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
        if let Some(unanswered) = self.unanswered.get_mut(index) {
            unanswered.insert(entry_id);
        }
        let generation = self.generation.get(index).copied().unwrap_or_default();
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
                    generation,
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
        if self.generation.get(outcome.index) != Some(&outcome.generation) {
            return; // sent to a bookie that was replaced or left out meanwhile
        }
        let status = match &outcome.result {
            Ok(response) => response.status(),
            Err(error) => {
                let reason = error.to_string();
                // Boxed: rare, and kept out of the writer task's future.
                return Box::pin(self.handle_bookie_failure(outcome.index, &reason)).await;
            }
        };
        let ledger_id = self.ledger_id;
        match status {
            StatusCode::StatusOk => {
                self.unanswered[outcome.index].remove(&outcome.entry_id);
                self.queue.ack(outcome.entry_id, outcome.index);
                self.confirm_completed();
            }
            StatusCode::StatusFenced => self.fail(LedgerError::Fenced(ledger_id)),
            StatusCode::StatusUnauthorized => self.fail(LedgerError::Unauthorized(ledger_id)),
            StatusCode::StatusBadRequest | StatusCode::StatusTooLarge => {
                let message = outcome.result.map(|r| r.message).unwrap_or_default();
                let bookie = self.bookie_at(outcome.index);
                self.fail(LedgerError::AddRejected {
                    ledger_id,
                    entry_id: outcome.entry_id,
                    bookie,
                    status,
                    message,
                });
            }
            other => {
                Box::pin(self.handle_bookie_failure(outcome.index, &format!("{other:?}"))).await
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

    fn bookie_at(&self, index: usize) -> BookieId {
        self.metadata
            .metadata
            .last_ensemble()
            .get(index)
            .cloned()
            .unwrap_or_default()
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
