//! The writer task: the single place that appends to the current ledger,
//! rolls over to new ledgers and closes the managed ledger.
//!
//! Commands ([`MlCommand`]) arrive over an unbounded channel in call order,
//! so positions follow call order; appends are pipelined (the ledger writer
//! assigns ids at call time) and completions are handled in order.
//! Backpressure is the caller's job (the protocol layer bounds pending
//! publishes per connection).
//!
//! The task owns what only it changes: the current ledger writer, the
//! in-flight adds, and, through its [`LogPublisher`], the growth of the
//! ledger layout, the tail buffer and the last confirmed position. A
//! confirmed add goes to the entry cache and then to the confirmed log.
//!
//! In-flight adds wait in a plain FIFO and only the oldest one is awaited:
//! the ledger contract (`magnetar_bookie::LedgerWriter::append`) starts the
//! write when `append` is called and resolves the returned futures in entry
//! order, so awaiting the head never holds back a later add that is already
//! confirmed, and completions come out in call order.
//!
//! Rollover durability order: settle every in-flight add of the old ledger,
//! close it (fixing its final length on the bookies), create the new ledger,
//! CAS the ledger list, and only then append to the new ledger. Adds that
//! arrive meanwhile wait in the channel.
//!
//! Add failures: a fenced ledger fences the managed ledger (every later add
//! fails with `Fenced`). Any other write error fails that add with
//! `WriteFailed` (it was never acknowledged, so the client may retry) and the
//! next add rolls over to a fresh ledger. Failed adds are not resubmitted:
//! resubmission could duplicate entries that recovery later finds on the
//! bookies, and the client retry path already exists.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use magnetar_bookie::{EntryId, LedgerError, LedgerOptions, LedgerStore, LedgerWriter};
use rand::Rng;
use tokio::sync::{mpsc, oneshot};

use super::config::ManagedLedgerConfig;
use super::confirmed::LogPublisher;
use super::entry_cache::EntryCache;
use super::error::ManagedLedgerError;
use super::list::LedgerList;
use super::position::{Entry, Position};
use super::status::{MlStatus, Status};
use super::stored::{now_millis, StoredLedger};
use crate::metrics;

type Reply<T> = oneshot::Sender<Result<T, ManagedLedgerError>>;

/// A request to a managed ledger's writer task.
pub(crate) enum MlCommand {
    Add { data: Bytes, reply: Reply<Position> },
    Close { reply: Reply<()> },
}

/// An add handed to the current ledger writer and not yet settled.
struct MlInflightAdd {
    confirmed: BoxFuture<'static, Result<EntryId, LedgerError>>,
    ledger_id: u64,
    data: Bytes,
    reply: Reply<Position>,
}

pub(crate) struct MlWriterTask {
    status: Arc<MlStatus>,
    config: ManagedLedgerConfig,
    store: Arc<dyn LedgerStore>,
    cache: Arc<EntryCache>,
    list: Arc<LedgerList>,
    log: LogPublisher,
    writer: Option<Arc<dyn LedgerWriter>>,
    ledger_opened_at: Instant,
    /// Max-age jitter factor in [1.0, 1.05), drawn per managed ledger.
    rollover_jitter: f64,
    submitted_entries: u64,
    submitted_bytes: u64,
    needs_rollover: bool,
    /// Oldest first; see the module doc for why a FIFO suffices.
    inflight: VecDeque<MlInflightAdd>,
}

pub(crate) fn ledger_options(name: &str, config: &ManagedLedgerConfig) -> LedgerOptions {
    LedgerOptions {
        ensemble_size: config.ensemble_size,
        write_quorum: config.write_quorum,
        ack_quorum: config.ack_quorum,
        password: config.password.clone(),
        custom: [("managed-ledger".to_string(), name.to_string())]
            .into_iter()
            .collect(),
    }
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

impl MlWriterTask {
    /// The writer task of an opened managed ledger whose current ledger is `writer`.
    pub fn new(
        status: Arc<MlStatus>,
        config: ManagedLedgerConfig,
        store: Arc<dyn LedgerStore>,
        cache: Arc<EntryCache>,
        list: Arc<LedgerList>,
        log: LogPublisher,
        writer: Arc<dyn LedgerWriter>,
    ) -> Self {
        MlWriterTask {
            status,
            config,
            store,
            cache,
            list,
            log,
            writer: Some(writer),
            ledger_opened_at: Instant::now(),
            rollover_jitter: 1.0 + rand::thread_rng().gen_range(0.0..0.05),
            submitted_entries: 0,
            submitted_bytes: 0,
            needs_rollover: false,
            inflight: VecDeque::new(),
        }
    }

    fn name(&self) -> &str {
        self.status.name()
    }

    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<MlCommand>) {
        loop {
            tokio::select! {
                Some((result, add)) = next_settled(&mut self.inflight), if !self.inflight.is_empty() => {
                    self.complete(result, add)
                }
                command = commands.recv() => match command {
                    Some(MlCommand::Add { data, reply }) => self.add(data, reply).await,
                    Some(MlCommand::Close { reply }) => {
                        let _ = reply.send(self.close().await);
                        break;
                    }
                    None => {
                        self.drain().await;
                        break;
                    }
                },
            }
        }
        // Adds still queued fail with `Closed`/`Fenced` when their reply is dropped.
    }

    async fn add(&mut self, data: Bytes, reply: Reply<Position>) {
        if let Some(error) = self.status.error() {
            let _ = reply.send(Err(error));
            return;
        }
        if self.writer.is_none() || self.needs_rollover || self.current_ledger_is_full() {
            self.drain().await;
            if let Err(error) = self.rollover().await {
                let _ = reply.send(Err(error));
                return;
            }
        }
        let Some(writer) = self.writer.clone() else {
            let _ = reply.send(Err(self.status.fenced()));
            return;
        };
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
                let _ = reply.send(Ok(position));
            }
            Err(LedgerError::Fenced(_)) => {
                self.status.set_fenced();
                let _ = reply.send(Err(self.status.fenced()));
            }
            Err(source) => {
                tracing::warn!(managed_ledger = %self.name(), ledger_id, error = %source, "add failed, rolling over");
                self.needs_rollover = true;
                let _ = reply.send(Err(ManagedLedgerError::WriteFailed {
                    name: self.name().to_string(),
                    source,
                }));
            }
        }
    }

    async fn drain(&mut self) {
        while let Some((result, add)) = next_settled(&mut self.inflight).await {
            self.complete(result, add);
        }
    }

    /// Closes the current ledger (if any), creates a new one and CASes the list.
    async fn rollover(&mut self) -> Result<(), ManagedLedgerError> {
        let old_id = self.writer.as_ref().map(|w| w.id());
        self.close_writer().await?;
        let options = ledger_options(self.name(), &self.config);
        let writer = match self.store.create(options).await {
            Ok(writer) => writer,
            Err(source) => {
                self.needs_rollover = true;
                return Err(ManagedLedgerError::WriteFailed {
                    name: self.name().to_string(),
                    source,
                });
            }
        };
        let new_id = writer.id();
        let mut list_guard = self.list.lock().await;
        let mut list = list_guard.current().clone();
        self.record_final_lengths(&mut list.ledgers);
        let empty_old: Vec<u64> = list
            .ledgers
            .iter()
            .filter(|l| Some(l.ledger_id) == old_id && l.entries == 0)
            .map(|l| l.ledger_id)
            .collect();
        list.ledgers.retain(|l| !empty_old.contains(&l.ledger_id));
        list.ledgers.push(StoredLedger {
            ledger_id: new_id,
            entries: 0,
            size: 0,
            timestamp: now_millis(),
        });
        if let Err(error) = list_guard.cas(list).await {
            drop(list_guard);
            if let Err(e) = self.store.delete(new_id).await {
                tracing::warn!(managed_ledger = %self.name(), ledger_id = new_id, error = %e, "could not delete orphan ledger");
            }
            return Err(error);
        }
        self.log.start_ledger(new_id, &empty_old);
        drop(list_guard);
        for id in empty_old {
            if let Err(e) = self.store.delete(id).await {
                tracing::warn!(managed_ledger = %self.name(), ledger_id = id, error = %e, "could not delete empty ledger");
            }
        }
        tracing::info!(managed_ledger = %self.name(), ledger_id = new_id, "rolled over to a new ledger");
        self.writer = Some(writer);
        self.ledger_opened_at = Instant::now();
        self.submitted_entries = 0;
        self.submitted_bytes = 0;
        self.needs_rollover = false;
        Ok(())
    }

    /// Copies the confirmed entry counts of the layout into the stored list.
    fn record_final_lengths(&self, ledgers: &mut [StoredLedger]) {
        let layout = self.log.log().layout();
        for slot in layout.slots() {
            if let Some(stored) = ledgers.iter_mut().find(|l| l.ledger_id == slot.ledger_id) {
                if stored.entries != slot.entries as u64 || stored.size != slot.size {
                    stored.entries = slot.entries as u64;
                    stored.size = slot.size;
                    stored.timestamp = now_millis();
                }
            }
        }
    }

    /// Closes the current ledger writer, keeping the layout's confirmed
    /// counts (the writer closes at its LAC, which is what was confirmed).
    async fn close_writer(&mut self) -> Result<(), ManagedLedgerError> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        match writer.close().await {
            Ok(closed) => {
                tracing::debug!(managed_ledger = %self.name(), ledger_id = closed.ledger_id, last_entry_id = closed.last_entry_id, "closed ledger");
                Ok(())
            }
            Err(LedgerError::Fenced(_)) => {
                self.status.set_fenced();
                Err(self.status.fenced())
            }
            Err(e) => {
                // The ledger stays open on the bookies; its confirmed prefix is
                // what the list records, and nothing beyond it was acknowledged.
                tracing::warn!(managed_ledger = %self.name(), ledger_id = writer.id(), error = %e, "closing ledger failed");
                Ok(())
            }
        }
    }

    /// Settles in-flight adds, closes the current ledger and records its
    /// final length in the list.
    async fn close(&mut self) -> Result<(), ManagedLedgerError> {
        self.drain().await;
        if self.status.get() == Status::Fenced {
            return Ok(());
        }
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
