//! The writer task: the single place that appends to the current ledger,
//! rolls over to new ledgers and closes the managed ledger.
//!
//! Commands ([`MlCommand`]) arrive over an unbounded channel in call order,
//! so positions follow call order; appends are pipelined (the ledger writer
//! assigns ids at call time) and completions are handled in order.
//! Backpressure is the caller's job (the protocol layer bounds pending
//! publishes per connection; held adds keep their permits).
//!
//! The task owns what only it changes: the current ledger writer, the
//! in-flight and held adds, the [`WriterState`], and, through its
//! [`LogPublisher`], the growth of the ledger layout, the tail buffer and
//! the last confirmed position. A confirmed add goes to the entry cache and
//! then to the confirmed log.
//!
//! In-flight adds wait in a plain FIFO and only the oldest one is awaited:
//! the ledger contract (`magnetar_bookie::LedgerWriter::append`) starts the
//! write when `append` is called and resolves the returned futures in entry
//! order, so awaiting the head never holds back a later add that is already
//! confirmed, and completions come out in call order.
//!
//! Add failures: a fenced ledger fences the managed ledger (every later add
//! fails with `Fenced`). Any other write error fails that add with
//! `WriteFailed` (it was never acknowledged, so the client may retry) and
//! the task enters `NoWriter`: later adds are held in call order, the failed
//! writer is closed once its in-flight adds settled, and a new ledger is
//! created on a backoff timer (never per add). Held adds go to the new
//! ledger first, in order; one held past `unwritable_add_timeout` fails with
//! `NotWritable`. Failed adds are not resubmitted: resubmission could
//! duplicate entries that recovery later finds on the bookies, and the
//! client retry path already exists. Rollover is in `rollover`;
//! termination (no add lands after the terminated position) in `terminate`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::StreamExt;
use magnetar_bookie::{EntryId, LedgerError, LedgerStore, LedgerWriter};
use rand::Rng;
use tokio::task::coop;
use tokio::time::Instant;

use super::config::ManagedLedgerConfig;
use super::confirmed::LogPublisher;
use super::entry_cache::EntryCache;
use super::error::ManagedLedgerError;
use super::list::LedgerList;
use super::monitor::WriteMonitor;
use super::position::{Entry, Position};
use super::status::{MlStatus, Status};
use super::write_state::{HeldAdds, Reply, RetryBackoff, WriterState, RETRY_INITIAL, RETRY_MAX};
use crate::metrics;

pub(crate) use super::rollover::ledger_options;

/// A request to a managed ledger's writer task.
pub(crate) enum MlCommand {
    Add { data: Bytes, reply: Reply<Position> },
    Close { reply: Reply<()> },
    Terminate { reply: Reply<Position> },
}

/// An add handed to the current ledger writer and not yet settled.
struct MlInflightAdd {
    confirmed: BoxFuture<'static, Result<EntryId, LedgerError>>,
    ledger_id: u64,
    data: Bytes,
    reply: Reply<Position>,
}

pub(crate) struct MlWriterTask {
    pub(super) status: Arc<MlStatus>,
    pub(super) config: ManagedLedgerConfig,
    pub(super) store: Arc<dyn LedgerStore>,
    cache: Arc<EntryCache>,
    pub(super) list: Arc<LedgerList>,
    pub(super) log: LogPublisher,
    /// `None` exactly in `NoWriter`.
    pub(super) writer: Option<Arc<dyn LedgerWriter>>,
    /// A writer whose add failed; closed once its in-flight adds settled.
    pub(super) failed_writer: Option<Arc<dyn LedgerWriter>>,
    pub(super) state: WriterState,
    pub(super) held: HeldAdds,
    /// Reset only once an add is confirmed, so a ledger that fails at once
    /// does not restart the schedule (bounds the ledger ids used).
    pub(super) create_backoff: RetryBackoff,
    /// In `NoWriter`, when the task next asks the store whether enough
    /// bookies are writable again (cheap: no ledger id is used).
    pub(super) next_probe: Instant,
    /// Whether the last failure was a shortage of bookies (which uses no
    /// ledger id), so that the probe may trigger an early attempt.
    pub(super) probe_armed: bool,
    pub(super) rollover_backoff: RetryBackoff,
    pub(super) monitor: WriteMonitor,
    pub(super) ledger_opened_at: Instant,
    /// Max-age jitter factor in [1.0, 1.05), drawn per managed ledger.
    rollover_jitter: f64,
    pub(super) submitted_entries: u64,
    pub(super) submitted_bytes: u64,
    /// Oldest first; see the module doc for why a FIFO suffices.
    inflight: VecDeque<MlInflightAdd>,
}

/// Waits for the oldest in-flight add to settle and takes it off the queue;
/// `None` when nothing is in flight. Cancel-safe: an add leaves the queue
/// only in the poll that returns it.
async fn next_settled(
    inflight: &mut VecDeque<MlInflightAdd>,
) -> Option<(Result<EntryId, LedgerError>, MlInflightAdd)> {
    let head = inflight.front_mut()?;
    let result = (&mut head.confirmed).await;
    inflight.pop_front().map(|add| (result, add))
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl MlWriterTask {
    /// The writer task of an opened managed ledger: `writer` is its new
    /// current ledger, `None` for a terminated managed ledger (which writes
    /// nothing more), or why none could be created (then it starts in `NoWriter`).
    pub fn new(
        status: Arc<MlStatus>,
        config: ManagedLedgerConfig,
        store: Arc<dyn LedgerStore>,
        cache: Arc<EntryCache>,
        list: Arc<LedgerList>,
        log: LogPublisher,
        writer: Result<Option<Arc<dyn LedgerWriter>>, LedgerError>,
    ) -> Self {
        let mut task = MlWriterTask {
            monitor: WriteMonitor::new(status.clone()),
            status,
            config,
            store,
            cache,
            list,
            log,
            writer: None,
            failed_writer: None,
            state: WriterState::Writing,
            held: HeldAdds::default(),
            create_backoff: RetryBackoff::new(RETRY_INITIAL, RETRY_MAX),
            next_probe: Instant::now(),
            probe_armed: false,
            rollover_backoff: RetryBackoff::new(RETRY_INITIAL, RETRY_MAX),
            ledger_opened_at: Instant::now(),
            rollover_jitter: 1.0 + rand::thread_rng().gen_range(0.0..0.05),
            submitted_entries: 0,
            submitted_bytes: 0,
            inflight: VecDeque::new(),
        };
        match writer {
            Ok(writer) => task.writer = writer,
            Err(source) => {
                task.monitor.create_failed();
                task.probe_armed = matches!(source, LedgerError::NotEnoughBookies { .. });
                task.enter_no_writer(source.to_string(), 1);
            }
        }
        task
    }

    pub(super) fn name(&self) -> &str {
        self.status.name()
    }

    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<MlCommand>) {
        loop {
            let wake = self.next_wake();
            tokio::select! {
                Some((result, add)) = next_settled(&mut self.inflight), if !self.inflight.is_empty() => {
                    self.complete(result, add)
                }
                // Spends task budget as a tokio channel would (a futures
                // channel does not), so a long queue cannot hog the worker.
                command = coop::cooperative(commands.next()) => match command {
                    Some(MlCommand::Add { data, reply }) => self.add(data, reply).await,
                    Some(MlCommand::Close { reply }) => {
                        let _ = reply.send(Box::pin(self.close()).await);
                        break;
                    }
                    Some(MlCommand::Terminate { reply }) => {
                        let _ = reply.send(Box::pin(self.terminate()).await);
                    }
                    None => {
                        Box::pin(self.drain()).await;
                        break;
                    }
                },
                () = sleep_until(wake) => {}
            }
            self.advance().await;
        }
        // Adds still queued or held fail with `Closed`/`Fenced` when their reply is dropped.
    }

    /// When the task must act without a command or completion: a held add's
    /// deadline, the next creation attempt, a health sample while degraded.
    fn next_wake(&self) -> Option<Instant> {
        let mut wake = self.monitor.next_health_check();
        if let WriterState::NoWriter { next_try, .. } = &self.state {
            wake = earliest(wake, self.held.next_deadline());
            if self.inflight.is_empty() {
                let probe = self.probe_armed.then_some(self.next_probe);
                wake = earliest(wake, earliest(Some(*next_try), probe));
            }
        }
        wake
    }

    /// Work that is due after any event: fail held adds of a stopped or
    /// expired wait, close a failed writer, retry creation, sample health.
    async fn advance(&mut self) {
        if !self.held.is_empty() {
            if let Some(error) = self.status.error() {
                let held = self.held.take_all();
                self.monitor.set_held(0);
                for add in held {
                    let _ = add.reply.send(Err(error.clone()));
                }
                return;
            }
        }
        let now = Instant::now();
        if let WriterState::NoWriter { next_try, .. } = self.state {
            self.expire_held(now);
            if self.inflight.is_empty() {
                // Rare paths are boxed: the task's future (allocated for
                // every open topic) stays the size of its common path.
                Box::pin(self.close_failed_writer()).await;
                if self.status.get() == Status::Open
                    && (now >= next_try || Box::pin(self.bookies_back(now)).await)
                {
                    Box::pin(self.retry_create()).await;
                }
            }
        }
        if self.monitor.health_due(now) {
            let id = self.writer.as_ref().map_or(0, |w| w.id());
            let health = self.writer.as_ref().map(|w| w.health());
            self.monitor.observe_health(now, id, health);
        }
    }

    async fn add(&mut self, data: Bytes, reply: Reply<Position>) {
        if let Some(error) = self.status.error() {
            let _ = reply.send(Err(error));
            return;
        }
        if self.status.terminated().is_some() {
            let _ = reply.send(Err(self.status.terminated_error()));
            return;
        }
        if self.writer.is_some() && self.current_ledger_is_full() {
            Box::pin(self.roll_over_if_possible()).await;
            if let Some(error) = self.status.error() {
                let _ = reply.send(Err(error));
                return;
            }
        }
        match self.writer.clone() {
            Some(writer) if self.state.is_writable() => self.append(&writer, data, reply),
            _ => self.hold(data, reply),
        }
    }

    pub(super) fn append(
        &mut self,
        writer: &Arc<dyn LedgerWriter>,
        data: Bytes,
        reply: Reply<Position>,
    ) {
        self.submitted_entries += 1;
        self.submitted_bytes += data.len() as u64;
        let confirmed = writer.append(data.clone());
        self.inflight.push_back(MlInflightAdd {
            confirmed,
            ledger_id: writer.id(),
            data,
            reply,
        });
    }

    /// Pulsar's rollover rule: a size or age limit is reached, and the
    /// ledger is older than the minimum rollover time (if set). Empty ledgers
    /// never roll over.
    fn current_ledger_is_full(&self) -> bool {
        let config = &self.config;
        let age = self.ledger_opened_at.elapsed();
        let max_age = config.max_rollover_time.mul_f64(self.rollover_jitter);
        let limit_reached = self.submitted_entries >= config.max_entries_per_ledger
            || self.submitted_bytes >= config.max_ledger_size_bytes
            || (config.max_rollover_time > Duration::ZERO && age >= max_age);
        let old_enough = config.min_rollover_time.is_zero() || age >= config.min_rollover_time;
        self.submitted_entries > 0 && limit_reached && old_enough
    }

    fn complete(&mut self, result: Result<EntryId, LedgerError>, add: MlInflightAdd) {
        let MlInflightAdd {
            ledger_id,
            data,
            reply,
            ..
        } = add;
        match result {
            Ok(entry_id) => {
                let position = Position::new(ledger_id, entry_id);
                let bytes = data.len() as u64;
                self.cache.insert(position, data.clone());
                self.log.confirm(Entry { position, data });
                metrics::MANAGED_LEDGER_ENTRIES_ADDED.inc();
                metrics::MANAGED_LEDGER_BYTES_ADDED.add(bytes);
                self.create_backoff.reset();
                let _ = reply.send(Ok(position));
            }
            Err(LedgerError::Fenced(_)) => {
                self.status.set_fenced();
                let _ = reply.send(Err(self.status.fenced()));
            }
            Err(source) => {
                self.monitor.adds_failed(1);
                let writer_broke = !matches!(source, LedgerError::EntryTooLarge { .. })
                    && self.writer.as_ref().is_some_and(|w| w.id() == ledger_id);
                if writer_broke {
                    tracing::debug!(managed_ledger = %self.name(), ledger_id, error = %source, "add failed, replacing the ledger");
                    self.failed_writer = self.writer.take();
                    self.probe_armed = matches!(source, LedgerError::NotEnoughBookies { .. });
                    self.enter_no_writer(format!("ledger {ledger_id} failed an add: {source}"), 0);
                }
                let _ = reply.send(Err(ManagedLedgerError::WriteFailed {
                    name: self.name().to_string(),
                    source,
                }));
            }
        }
    }

    pub(super) async fn drain(&mut self) {
        while let Some((result, add)) = next_settled(&mut self.inflight).await {
            self.complete(result, add);
        }
    }

    /// Settles in-flight adds, fails held ones, closes the current ledger
    /// and records its final length in the list.
    async fn close(&mut self) -> Result<(), ManagedLedgerError> {
        self.drain().await;
        for add in self.held.take_all() {
            let _ = add.reply.send(Err(ManagedLedgerError::Closed {
                name: self.name().to_string(),
            }));
        }
        if self.status.get() == Status::Fenced {
            return Ok(());
        }
        self.close_failed_writer().await;
        self.close_writer().await?;
        let mut list_guard = self.list.lock().await;
        let mut list = list_guard.current().clone();
        self.record_final_lengths(&mut list.ledgers);
        if list != *list_guard.current() {
            list_guard.cas(list).await?;
        }
        Ok(())
    }
}
