//! [`WriteMonitor`]: how the writer task tells the world about its write
//! path. It keeps the three lasting conditions (not writable, rollover
//! postponed, under-replicated) as rate-limited [`ConditionLog`]s, counts
//! failed adds and ledger-creation failures in the metrics, and publishes
//! a [`Writability`] snapshot to the managed ledger's status whenever it
//! changes.

use std::sync::Arc;
use std::time::Duration;

use magnetar_bookie::WriterHealth;
use tokio::time::Instant;

use super::condition_log::ConditionLog;
use super::status::MlStatus;
use super::stored::now_millis;
use super::writability::{Writability, WritabilityState};
use crate::metrics;

/// How often the current writer's replication health is sampled (on an add
/// completion, or on a timer while degraded).
pub(crate) const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) struct WriteMonitor {
    status: Arc<MlStatus>,
    not_writable: ConditionLog,
    rollover_postponed: ConditionLog,
    under_replicated: ConditionLog,
    /// What was last published, plus the not-writable reason and start.
    view: Writability,
    not_writable_reason: Option<(String, u64)>,
    degraded_since_ms: Option<u64>,
    next_health_check: Instant,
}

impl WriteMonitor {
    pub fn new(status: Arc<MlStatus>) -> Self {
        let name = status.name().to_string();
        WriteMonitor {
            not_writable: ConditionLog::new(&name, "not writable", "adds failed"),
            rollover_postponed: ConditionLog::new(&name, "rollover postponed", "checks"),
            under_replicated: ConditionLog::new(&name, "under-replicated", "checks"),
            status,
            view: Writability::default(),
            not_writable_reason: None,
            degraded_since_ms: None,
            next_health_check: Instant::now(),
        }
    }

    /// No ledger is writable: logs (rate-limited) and publishes `reason`.
    pub fn not_writable(&mut self, now: Instant, reason: &str, detail: impl FnOnce() -> String) {
        self.not_writable.holds(now, detail);
        match &mut self.not_writable_reason {
            Some((current, _)) => *current = reason.to_string(),
            None => self.not_writable_reason = Some((reason.to_string(), now_millis())),
        }
        self.publish();
    }

    /// A ledger takes adds again.
    pub fn writable_again(&mut self, now: Instant) {
        self.not_writable.cleared(now);
        self.not_writable_reason = None;
        self.publish();
    }

    /// `n` adds failed (on the bookies or held past their deadline).
    pub fn adds_failed(&mut self, n: u64) {
        metrics::MANAGED_LEDGER_ADD_FAILURES.add(n);
        self.not_writable.count(n);
        self.view.failed_adds += n;
        self.publish();
    }

    pub fn create_failed(&self) {
        metrics::MANAGED_LEDGER_CREATE_FAILURES.inc();
    }

    pub fn set_held(&mut self, held: usize) {
        if self.view.held_adds != held {
            self.view.held_adds = held;
            self.publish();
        }
    }

    /// The current ledger is full but is kept: too few bookies for a new one.
    pub fn rollover_postponed(&mut self, now: Instant, detail: impl FnOnce() -> String) {
        self.rollover_postponed.count(1);
        self.rollover_postponed.holds(now, detail);
    }

    pub fn rollover_done(&mut self, now: Instant) {
        self.rollover_postponed.cleared(now);
    }

    /// Whether the writer's health should be sampled now.
    pub fn health_due(&self, now: Instant) -> bool {
        now >= self.next_health_check
    }

    /// When the next health sample is needed without any add: while degraded
    /// (to notice the end of it on an idle ledger).
    pub fn next_health_check(&self) -> Option<Instant> {
        self.degraded_since_ms.map(|_| self.next_health_check)
    }

    /// Records the current writer's health (`None`: no writer).
    pub fn observe_health(&mut self, now: Instant, ledger_id: u64, health: Option<WriterHealth>) {
        self.next_health_check = now + HEALTH_CHECK_INTERVAL;
        let missing = health.map(|h| h.missing_bookies).unwrap_or_default();
        if missing.is_empty() {
            self.under_replicated.cleared(now);
            self.degraded_since_ms = None;
        } else {
            self.under_replicated.count(1);
            self.under_replicated.holds(now, || {
                format!(
                    "ledger {ledger_id} is written without {}; each entry has fewer copies than the write quorum",
                    missing.join(", ")
                )
            });
            self.degraded_since_ms.get_or_insert_with(now_millis);
        }
        if self.view.missing_bookies != missing {
            self.view.missing_bookies = missing;
            self.publish();
        }
    }

    fn publish(&mut self) {
        let (state, reason, since) = match (&self.not_writable_reason, self.degraded_since_ms) {
            (Some((reason, since)), _) => (
                WritabilityState::NotWritable,
                Some(reason.clone()),
                Some(*since),
            ),
            (None, Some(since)) if !self.view.missing_bookies.is_empty() => (
                WritabilityState::Degraded,
                Some(format!(
                    "writing without {}",
                    self.view.missing_bookies.join(", ")
                )),
                Some(since),
            ),
            _ => (WritabilityState::Writable, None, None),
        };
        self.view.state = state;
        self.view.reason = reason;
        self.view.since_ms = since;
        self.status.set_writability(self.view.clone());
    }
}
