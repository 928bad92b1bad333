//! The `NoWriter` part of the writer task: entering it, holding adds in
//! call order until their deadline, closing the failed writer once, and
//! retrying ledger creation on the backoff timer (see [`super::write_state`]).
//! When the last failure was a shortage of bookies (which uses no ledger
//! id), the task also asks the store every [`PROBE_INTERVAL`] how many
//! bookies are writable between attempts, and tries at once when there are
//! enough, so
//! writes resume within about a second of the bookies' return however long
//! the backoff has grown. On success the held adds go to the new ledger
//! first, in call order.

use std::time::Duration;

use bytes::Bytes;
use magnetar_bookie::LedgerError;
use tokio::time::Instant;

use super::condition_log::format_duration;
use super::error::ManagedLedgerError;
use super::position::Position;
use super::rollover::ledger_options;
use super::stored::now_millis;
use super::write_state::{HeldAdd, Reply, WriterState};
use super::writer::MlWriterTask;

/// How often a task without a writer asks whether bookies are back.
pub(super) const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// `HH:MM:SS` (UTC) of a Unix time in milliseconds.
fn clock_time(millis: u64) -> String {
    let secs = (millis / 1000) % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

impl MlWriterTask {
    pub(super) fn hold(&mut self, data: Bytes, reply: Reply<Position>) {
        if !matches!(self.state, WriterState::NoWriter { .. }) {
            self.enter_no_writer("no current ledger".to_string(), 0);
        }
        let deadline = Instant::now() + self.config.unwritable_add_timeout;
        self.held.push(HeldAdd {
            data,
            reply,
            deadline,
        });
        self.monitor.set_held(self.held.len());
        self.expire_held(Instant::now());
    }

    /// Fails the held adds whose deadline passed with `NotWritable`.
    pub(super) fn expire_held(&mut self, now: Instant) {
        let expired = self.held.take_expired(now);
        if expired.is_empty() {
            return;
        }
        let error = self.not_writable_error();
        self.monitor.adds_failed(expired.len() as u64);
        self.monitor.set_held(self.held.len());
        for add in expired {
            let _ = add.reply.send(Err(error.clone()));
        }
    }

    fn not_writable_error(&self) -> ManagedLedgerError {
        let since = self
            .status
            .writability()
            .since_ms
            .unwrap_or_else(now_millis);
        let reason = match &self.state {
            WriterState::NoWriter { reason, .. } => reason.as_str(),
            _ => "no current ledger",
        };
        ManagedLedgerError::NotWritable {
            name: self.name().to_string(),
            reason: format!(
                "since {} UTC: {reason}; adds wait up to {} for a new ledger, then fail",
                clock_time(since),
                format_duration(self.config.unwritable_add_timeout)
            ),
        }
    }

    /// No writer from now on (the caller took it); creation is retried on the backoff timer.
    pub(super) fn enter_no_writer(&mut self, reason: String, attempts: u32) {
        let now = Instant::now();
        let delay = self.create_backoff.next_delay();
        self.monitor.rollover_done(now);
        self.monitor.observe_health(now, 0, None);
        let timeout = format_duration(self.config.unwritable_add_timeout);
        self.monitor.not_writable(now, &reason, || {
            format!(
                "{reason}; holding adds up to {timeout} each, creating a new ledger in {}",
                format_duration(delay)
            )
        });
        self.state = WriterState::NoWriter {
            since: now,
            reason,
            attempts,
            next_try: now + delay,
        };
    }

    /// One creation attempt in `NoWriter`; on success held adds are
    /// appended first, in call order.
    pub(super) async fn retry_create(&mut self) {
        self.probe_armed = false;
        let options = ledger_options(self.name(), &self.config);
        let error = match self.store.create(options).await {
            Ok(writer) => match self.switch_to(writer).await {
                Ok(()) => {
                    self.state = WriterState::Writing;
                    self.monitor.writable_again(Instant::now());
                    self.expire_held(Instant::now());
                    if let Some(writer) = self.writer.clone() {
                        for add in self.held.take_all() {
                            self.append(&writer, add.data, add.reply);
                        }
                    }
                    self.monitor.set_held(self.held.len());
                    return;
                }
                Err(error) => error.to_string(),
            },
            Err(source) => {
                self.monitor.create_failed();
                self.probe_armed = matches!(source, LedgerError::NotEnoughBookies { .. });
                source.to_string()
            }
        };
        let now = Instant::now();
        let delay = self.create_backoff.next_delay();
        let held = self.held.len();
        if let WriterState::NoWriter {
            since,
            reason,
            attempts,
            next_try,
        } = &mut self.state
        {
            *attempts += 1;
            *reason = error;
            *next_try = now + delay;
            let (attempts, elapsed, reason) =
                (*attempts, now.duration_since(*since), reason.clone());
            self.monitor.not_writable(now, &reason, || {
                format!(
                    "{reason}; {attempts} attempts in {}, {held} adds held, next attempt in {}",
                    format_duration(elapsed),
                    format_duration(delay)
                )
            });
        }
    }

    /// Whether the probe is armed (the last failure was a shortage of
    /// bookies), due, and finds at least `E` writable bookies.
    pub(super) async fn bookies_back(&mut self, now: Instant) -> bool {
        if !self.probe_armed || now < self.next_probe {
            return false;
        }
        self.next_probe = now + PROBE_INTERVAL;
        let needed = self.config.ensemble_size as usize;
        matches!(
            tokio::time::timeout(PROBE_INTERVAL, self.store.writable_bookies()).await,
            Ok(Ok(writable)) if writable >= needed
        )
    }

    pub(super) async fn close_failed_writer(&mut self) {
        let Some(writer) = self.failed_writer.take() else {
            return;
        };
        match writer.close().await {
            Ok(closed) => {
                tracing::debug!(managed_ledger = %self.name(), ledger_id = closed.ledger_id, last_entry_id = closed.last_entry_id, "closed the failed ledger")
            }
            Err(LedgerError::Fenced(_)) => self.status.set_fenced(),
            Err(error) => {
                tracing::debug!(managed_ledger = %self.name(), ledger_id = writer.id(), %error, "closing the failed ledger failed; recovery will close it")
            }
        }
    }
}
