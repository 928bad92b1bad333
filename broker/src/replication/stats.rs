//! What one replicator reports: messages shipped, whether it is connected,
//! when the remote last confirmed something, how far behind it is, and
//! whether it is stalled.
//!
//! Stalled: messages wait to be replicated and nothing was confirmed by
//! the remote (or the replicator was last caught up) longer ago than the
//! threshold. A stall is logged once as an error when it begins, shown in
//! topic stats and counted in `/metrics`, so it never goes unnoticed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::managed_ledger::now_millis;
use crate::traffic::Flow;

/// Live counters of one replicator, shared with its task.
#[derive(Debug, Default)]
pub struct ReplicatorStats {
    out: Flow,
    connected: AtomicBool,
    /// Epoch millis of the last receipt from the remote (0: none yet).
    last_confirmed_ms: AtomicU64,
    /// Epoch millis when the replicator last made progress or was caught up.
    progress_ms: AtomicU64,
    /// Publish time (epoch millis) of the oldest message not yet
    /// confirmed by the remote; 0 when caught up.
    oldest_pending_publish_ms: AtomicU64,
    /// Whether the current stall was reported already.
    stall_reported: AtomicBool,
    last_error: parking_lot::Mutex<Option<String>>,
}

/// Pulsar's `ReplicatorStats`, plus Magnetar's stall flag.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicatorSnapshot {
    pub msg_rate_out: f64,
    pub msg_throughput_out: f64,
    pub msg_out_count: u64,
    pub bytes_out_count: u64,
    /// Entries the remote has not confirmed.
    pub replication_backlog: u64,
    pub connected: bool,
    /// Age of the oldest message not yet confirmed by the remote.
    pub replication_delay_in_seconds: u64,
    /// Epoch millis of the remote's last receipt (0: none since load).
    pub last_confirmed_timestamp: u64,
    pub stalled: bool,
    pub last_error: Option<String>,
}

impl ReplicatorStats {
    pub fn new() -> Self {
        let stats = ReplicatorStats::default();
        stats.progress_ms.store(now_millis(), Ordering::Relaxed);
        stats
    }

    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
    }

    /// The remote confirmed `messages` messages of `bytes` bytes.
    pub fn confirmed(&self, messages: u64, bytes: u64) {
        let now = now_millis();
        self.out.record(messages, bytes);
        self.last_confirmed_ms.store(now, Ordering::Relaxed);
        self.progress_ms.store(now, Ordering::Relaxed);
        *self.last_error.lock() = None;
    }

    /// Nothing waits to be replicated.
    pub fn caught_up(&self) {
        self.progress_ms.store(now_millis(), Ordering::Relaxed);
        self.oldest_pending_publish_ms.store(0, Ordering::Relaxed);
    }

    pub fn set_oldest_pending(&self, publish_time_ms: u64) {
        self.oldest_pending_publish_ms
            .store(publish_time_ms, Ordering::Relaxed);
    }

    pub fn failed(&self, error: String) {
        self.set_connected(false);
        *self.last_error.lock() = Some(error);
    }

    pub fn sample(&self, now: Instant) {
        self.out.sample(now);
    }

    /// Whether the replicator is stalled now, given its backlog.
    pub fn is_stalled(&self, backlog: u64, threshold: Duration) -> bool {
        let idle = now_millis().saturating_sub(self.progress_ms.load(Ordering::Relaxed));
        backlog > 0 && idle > threshold.as_millis() as u64
    }

    /// True once per stall: when the stall should be reported.
    pub fn report_stall(&self, stalled: bool) -> bool {
        if stalled {
            !self.stall_reported.swap(true, Ordering::Relaxed)
        } else {
            self.stall_reported.store(false, Ordering::Relaxed);
            false
        }
    }

    pub fn snapshot(&self, backlog: u64, threshold: Duration) -> ReplicatorSnapshot {
        let rate = self.out.rate();
        let oldest = self.oldest_pending_publish_ms.load(Ordering::Relaxed);
        let delay = if backlog == 0 || oldest == 0 {
            0
        } else {
            now_millis().saturating_sub(oldest) / 1000
        };
        ReplicatorSnapshot {
            msg_rate_out: rate.msgs,
            msg_throughput_out: rate.bytes,
            msg_out_count: self.out.msgs(),
            bytes_out_count: self.out.bytes(),
            replication_backlog: backlog,
            connected: self.connected.load(Ordering::Relaxed),
            replication_delay_in_seconds: delay,
            last_confirmed_timestamp: self.last_confirmed_ms.load(Ordering::Relaxed),
            stalled: self.is_stalled(backlog, threshold),
            last_error: self.last_error.lock().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlog_without_progress_past_the_threshold_is_a_stall() {
        let stats = ReplicatorStats::new();
        assert!(!stats.is_stalled(10, Duration::from_secs(60)));
        assert!(!stats.is_stalled(0, Duration::ZERO));
        stats
            .progress_ms
            .store(now_millis() - 5_000, Ordering::Relaxed);
        assert!(stats.is_stalled(10, Duration::from_secs(1)));
        assert!(!stats.is_stalled(0, Duration::from_secs(1)));
        stats.confirmed(1, 100);
        assert!(!stats.is_stalled(10, Duration::from_secs(1)));
    }

    #[test]
    fn a_stall_is_reported_once_until_it_ends() {
        let stats = ReplicatorStats::new();
        assert!(stats.report_stall(true));
        assert!(!stats.report_stall(true));
        assert!(!stats.report_stall(false));
        assert!(stats.report_stall(true));
    }
}
