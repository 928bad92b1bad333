//! The journal thread's loop: group commit with flush-when-idle.
//!
//! Each round blocks for the first request, then drains the queue without
//! blocking into one buffer until the queue is empty, the buffer reaches
//! `buffered_bytes_threshold`, or the oldest request has waited
//! `max_group_wait`. The buffer is written with one call and fsynced, and
//! only then are the group's waiters answered. Syncing as soon as the queue
//! runs empty is what keeps latency low at low load; under load the queue
//! rarely empties and the size/wait bounds form large groups.
//!
//! Failure handling:
//! - a failed write is undone with `truncate_to` (so no torn record sits
//!   before later acknowledged records) and the group gets the error
//!   (ENOSPC maps to [`JournalError::NoSpace`]); if undoing fails the journal
//!   is marked failed.
//! - a failed fsync marks the journal failed for good: after a failed fsync
//!   the page cache state is unknown, so nothing more may be acknowledged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use super::{DurableResult, JournalPosition, JournalRequest, JournalStorage};
use crate::server::error::JournalError;

/// A journal fsync taking longer than this is logged: it delays every add
/// of its group by as much, and the log lines tell disk stalls apart from
/// other sources of add latency.
const SLOW_SYNC: Duration = Duration::from_millis(10);

/// Group-commit tuning.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommitSettings {
    pub max_group_wait: Duration,
    pub buffered_bytes_threshold: usize,
    pub queue_size: usize,
    /// fsync before answering. `false` answers after the write (unsafe).
    pub sync: bool,
}

/// Runs until every sender is dropped and the queue is answered.
pub(crate) fn run<S: JournalStorage>(
    mut storage: S,
    settings: GroupCommitSettings,
    mut queue: mpsc::Receiver<JournalRequest>,
    written: Arc<Mutex<JournalPosition>>,
) {
    let mut failed = false;
    let mut buf = BytesMut::with_capacity(settings.buffered_bytes_threshold.max(4096));
    let mut waiters: Vec<oneshot::Sender<DurableResult>> = Vec::new();
    while let Some(first) = queue.blocking_recv() {
        let group_started = Instant::now();
        add_to_group(first, &mut buf, &mut waiters);
        while buf.len() < settings.buffered_bytes_threshold
            && group_started.elapsed() < settings.max_group_wait
        {
            match queue.try_recv() {
                Ok(request) => add_to_group(request, &mut buf, &mut waiters),
                Err(_) => break,
            }
        }
        let outcome = if failed {
            Err(JournalError::Failed)
        } else {
            commit_group(&mut storage, &buf, settings.sync, &written, &mut failed)
        };
        for waiter in waiters.drain(..) {
            // A dropped receiver only means the caller stopped waiting.
            let _ = waiter.send(outcome.clone());
        }
        buf.clear();
    }
    if !failed && settings.sync {
        if let Err(err) = storage.sync() {
            tracing::error!(error = %err, "final journal sync failed");
        }
    }
}

fn add_to_group(
    request: JournalRequest,
    buf: &mut BytesMut,
    waiters: &mut Vec<oneshot::Sender<DurableResult>>,
) {
    match request {
        JournalRequest::Append { record, done } => {
            record.encode_into(buf);
            waiters.push(done);
        }
        JournalRequest::AppendAll { records, done } => {
            for record in records {
                record.encode_into(buf);
            }
            waiters.push(done);
        }
        JournalRequest::Barrier { done } => waiters.push(done),
    }
}

/// Writes and syncs one group. Durability order: the group's bytes are
/// written, then fsynced, and only the caller's answer to the waiters
/// (after this returns `Ok`) acknowledges them.
fn commit_group<S: JournalStorage>(
    storage: &mut S,
    buf: &[u8],
    sync: bool,
    written: &Mutex<JournalPosition>,
    failed: &mut bool,
) -> DurableResult {
    let before = storage.position();
    let position = if buf.is_empty() {
        before
    } else {
        match storage.append(buf) {
            Ok(position) => position,
            Err(err) => {
                tracing::error!(error = %err, file_id = before.file_id, offset = before.offset, "journal write failed");
                let error = JournalError::from_io(err);
                if let Err(undo) = storage.truncate_to(before) {
                    tracing::error!(error = %undo, "cannot undo failed journal write; journal is failed");
                    *failed = true;
                }
                return Err(error);
            }
        }
    };
    *written.lock() = position;
    if !buf.is_empty() {
        crate::metrics::JOURNAL_GROUP_BYTES.observe(buf.len() as f64);
    }
    if sync {
        let sync_started = Instant::now();
        let synced = storage.sync();
        let sync_time = sync_started.elapsed();
        crate::metrics::JOURNAL_SYNC_SECONDS.observe(sync_time.as_secs_f64());
        if sync_time >= SLOW_SYNC {
            tracing::info!(
                sync_ms = sync_time.as_secs_f64() * 1e3,
                group_bytes = buf.len(),
                "slow journal fsync"
            );
        }
        if let Err(err) = synced {
            tracing::error!(error = %err, "journal fsync failed; journal is failed");
            *failed = true;
            return Err(JournalError::from_io(err));
        }
    }
    if let Err(err) = storage.roll_if_full() {
        // The group is durable; only the roll failed. Keep writing to the
        // current file and try again after the next group.
        tracing::warn!(error = %err, "journal roll-over failed");
    }
    Ok(position)
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::mpsc as std_mpsc;

    use bytes::Bytes;

    use super::*;
    use crate::server::journal::Journal;
    use crate::server::record::Record;

    /// A journal storage whose `sync` blocks until the test releases it and
    /// which records the order of events.
    struct GatedStorage {
        position: JournalPosition,
        events: Arc<Mutex<Vec<&'static str>>>,
        sync_started: std_mpsc::Sender<()>,
        release_sync: std_mpsc::Receiver<()>,
        fail_writes_with: Option<i32>,
    }

    impl JournalStorage for GatedStorage {
        fn append(&mut self, buf: &[u8]) -> io::Result<JournalPosition> {
            if let Some(code) = self.fail_writes_with {
                return Err(io::Error::from_raw_os_error(code));
            }
            self.events.lock().push("write");
            self.position.offset += buf.len() as u64;
            Ok(self.position)
        }
        fn sync(&mut self) -> io::Result<()> {
            let _ = self.sync_started.send(());
            let _ = self.release_sync.recv();
            self.events.lock().push("sync");
            Ok(())
        }
        fn truncate_to(&mut self, position: JournalPosition) -> io::Result<()> {
            self.position = position;
            Ok(())
        }
        fn position(&self) -> JournalPosition {
            self.position
        }
        fn roll_if_full(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn settings() -> GroupCommitSettings {
        GroupCommitSettings {
            max_group_wait: Duration::from_millis(2),
            buffered_bytes_threshold: 512 * 1024,
            queue_size: 16,
            sync: true,
        }
    }

    /// A [`GatedStorage`], its event log, "a sync started", and the switch
    /// that lets the sync finish.
    type Gated = (
        GatedStorage,
        Arc<Mutex<Vec<&'static str>>>,
        std_mpsc::Receiver<()>,
        std_mpsc::Sender<()>,
    );

    fn gated(fail_writes_with: Option<i32>) -> Gated {
        let events = Arc::new(Mutex::new(Vec::new()));
        let (sync_started, started_rx) = std_mpsc::channel();
        let (release_tx, release_sync) = std_mpsc::channel();
        let storage = GatedStorage {
            position: JournalPosition::default(),
            events: events.clone(),
            sync_started,
            release_sync,
            fail_writes_with,
        };
        (storage, events, started_rx, release_tx)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ack_never_fires_before_the_sync_that_covers_it() {
        let (storage, events, sync_started, release) = gated(None);
        let journal = Journal::start(storage, settings()).unwrap();
        let mut ack = journal
            .submit(Record::entry(1, 0, Bytes::from_static(b"x")))
            .await
            .unwrap();
        // The journal thread is now inside sync, blocked by the test.
        tokio::task::spawn_blocking(move || sync_started.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(*events.lock(), vec!["write"]);
        let early = tokio::time::timeout(Duration::from_millis(50), &mut ack.0).await;
        assert!(early.is_err(), "ack fired before the sync completed");
        release.send(()).unwrap();
        let position = ack.wait().await.unwrap();
        assert_eq!(*events.lock(), vec!["write", "sync"]);
        assert!(position.offset > 0);
        assert_eq!(journal.written_position(), position);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enospc_fails_the_group_with_no_space_and_writes_nothing() {
        let (storage, events, _sync_started, _release) = gated(Some(28));
        let journal = Journal::start(storage, settings()).unwrap();
        let result = journal
            .append(Record::entry(1, 0, Bytes::from_static(b"x")))
            .await;
        assert!(matches!(result, Err(JournalError::NoSpace)), "{result:?}");
        assert!(events.lock().is_empty());
        assert_eq!(journal.written_position(), JournalPosition::default());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_submitted_together_are_written_at_once_and_acked_once() {
        let (storage, events, sync_started, release) = gated(None);
        let journal = Journal::start(storage, settings()).unwrap();
        let records: Vec<Record> = (0..3)
            .map(|entry| Record::entry(4, entry, Bytes::from_static(b"abc")))
            .collect();
        let expected_len: usize = records.iter().map(Record::framed_len).sum();
        let ack = journal.submit_all(records).await.unwrap();
        tokio::task::spawn_blocking(move || sync_started.recv())
            .await
            .unwrap()
            .unwrap();
        release.send(()).unwrap();
        let position = ack.wait().await.unwrap();
        assert_eq!(position.offset, expected_len as u64);
        assert_eq!(*events.lock(), vec!["write", "sync"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_records_share_one_sync() {
        let (storage, events, sync_started, release) = gated(None);
        let journal = Journal::start(storage, settings()).unwrap();
        let first = journal
            .submit(Record::entry(1, 0, Bytes::from_static(b"a")))
            .await
            .unwrap();
        let sync_started = tokio::task::spawn_blocking(move || {
            sync_started.recv().unwrap();
            sync_started
        })
        .await
        .unwrap();
        // While the first group syncs, queue three more: they form one group.
        let mut later = Vec::new();
        for entry in 1..4 {
            later.push(
                journal
                    .submit(Record::entry(1, entry, Bytes::from_static(b"b")))
                    .await
                    .unwrap(),
            );
        }
        release.send(()).unwrap();
        first.wait().await.unwrap();
        tokio::task::spawn_blocking(move || sync_started.recv())
            .await
            .unwrap()
            .unwrap();
        release.send(()).unwrap();
        for ack in later {
            ack.wait().await.unwrap();
        }
        assert_eq!(*events.lock(), vec!["write", "sync", "write", "sync"]);
    }
}
