//! The journal: the bookie's write-ahead log and the only thing an add waits
//! for before it is acknowledged.
//!
//! Design: one dedicated thread owns the journal file (see [`group_commit`]).
//! Callers enqueue records on a bounded channel (the backpressure bound) and
//! get a oneshot that resolves only after the fsync covering their record
//! (with `journal_sync = false`, after the write). Records are written in
//! channel order, so a ledger's master-key record always precedes its first
//! entry when both are enqueued by the same caller.
//!
//! IO is behind [`JournalStorage`] so the group-commit logic can be tested
//! with a fake whose sync step is controlled by the test.

pub mod files;
pub mod group_commit;
pub mod mark;
pub mod preallocate;
pub mod replay;

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

pub use group_commit::GroupCommitSettings;

use super::error::JournalError;
use super::record::Record;

/// A point in the journal: a file and a byte offset inside it. Ordered by
/// file, then offset.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct JournalPosition {
    pub file_id: u64,
    pub offset: u64,
}

/// Byte-level access to the journal's current file. Contract:
/// - `append` writes all of `buf` at the end (one write call) or fails;
///   nothing it wrote is durable until `sync` returns `Ok`.
/// - `truncate_to` undoes a failed or partial `append`.
/// - `roll_if_full` is only called right after a successful `sync`.
pub trait JournalStorage: Send + 'static {
    fn append(&mut self, buf: &[u8]) -> io::Result<JournalPosition>;
    fn sync(&mut self) -> io::Result<()>;
    fn truncate_to(&mut self, position: JournalPosition) -> io::Result<()>;
    fn position(&self) -> JournalPosition;
    fn roll_if_full(&mut self) -> io::Result<()>;
}

/// Result delivered to a waiter: the position after its record, durable.
pub type DurableResult = Result<JournalPosition, JournalError>;

/// A queued request to the journal thread.
pub(crate) enum JournalRequest {
    /// Write this record; answer once it is durable.
    Append {
        record: Record,
        done: oneshot::Sender<DurableResult>,
    },
    /// Write these records, in order; answer once all are durable.
    AppendAll {
        records: Vec<Record>,
        done: oneshot::Sender<DurableResult>,
    },
    /// Answer once everything queued before it is durable.
    Barrier {
        done: oneshot::Sender<DurableResult>,
    },
}

/// Handle to the journal thread. Dropping every handle stops the thread
/// after it has answered what was already queued.
pub struct Journal {
    requests: mpsc::Sender<JournalRequest>,
    written: Arc<Mutex<JournalPosition>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Waits for one record (or barrier) to become durable.
pub struct DurableAck(oneshot::Receiver<DurableResult>);

impl DurableAck {
    pub async fn wait(self) -> DurableResult {
        self.0.await.unwrap_or(Err(JournalError::ShutDown))
    }
}

impl Journal {
    /// Starts the journal thread over `storage`.
    pub fn start<S: JournalStorage>(
        storage: S,
        settings: GroupCommitSettings,
    ) -> io::Result<Journal> {
        let (requests, queue) = mpsc::channel(settings.queue_size.max(1));
        let written = Arc::new(Mutex::new(storage.position()));
        let thread_written = written.clone();
        let thread = std::thread::Builder::new()
            .name("bookie-journal".into())
            .spawn(move || group_commit::run(storage, settings, queue, thread_written))?;
        Ok(Journal {
            requests,
            written,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `record`. The returned ack resolves once it is durable.
    /// Records are written in the order `submit` calls complete.
    pub async fn submit(&self, record: Record) -> Result<DurableAck, JournalError> {
        self.queue(|done| JournalRequest::Append { record, done })
            .await
    }

    /// Queues `records` as one request: they are written in order, in the
    /// same group, and the returned ack resolves once all are durable.
    pub async fn submit_all(&self, records: Vec<Record>) -> Result<DurableAck, JournalError> {
        self.queue(|done| JournalRequest::AppendAll { records, done })
            .await
    }

    /// Queues `record` and waits until it is durable.
    pub async fn append(&self, record: Record) -> DurableResult {
        self.submit(record).await?.wait().await
    }

    /// Waits until everything queued so far is durable.
    pub async fn sync_barrier(&self) -> DurableResult {
        self.queue(|done| JournalRequest::Barrier { done })
            .await?
            .wait()
            .await
    }

    /// Sends the request built around a fresh answer channel.
    async fn queue(
        &self,
        request: impl FnOnce(oneshot::Sender<DurableResult>) -> JournalRequest,
    ) -> Result<DurableAck, JournalError> {
        let (done, ack) = oneshot::channel();
        self.requests
            .send(request(done))
            .await
            .map_err(|_| JournalError::ShutDown)?;
        Ok(DurableAck(ack))
    }

    /// Position after the last record written (not necessarily synced). A
    /// checkpoint captures it *before* swapping the write cache: every record
    /// before it was applied to the cache before it was queued.
    pub fn written_position(&self) -> JournalPosition {
        *self.written.lock()
    }

    /// Stops accepting requests and waits for the thread to answer the queue.
    pub fn close(self) {
        let Journal {
            requests, thread, ..
        } = self;
        drop(requests);
        if let Some(handle) = thread.into_inner() {
            if handle.join().is_err() {
                tracing::error!("journal thread panicked");
            }
        }
    }
}
