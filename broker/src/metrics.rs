//! Broker metrics: named process-wide counters and gauges that any module
//! increments, rendered in the Prometheus text format by `GET /metrics`.
//!
//! Names follow `magnetar_broker_<thing>_<unit>`. Plain atomics keep the hot
//! path to one relaxed add; there are no labels, so no free-form label
//! strings at call sites.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A monotonically increasing count.
#[derive(Debug)]
pub struct Counter {
    pub name: &'static str,
    pub help: &'static str,
    value: AtomicU64,
}

impl Counter {
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Counter {
            name,
            help,
            value: AtomicU64::new(0),
        }
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug)]
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    value: AtomicI64,
}

impl Gauge {
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Gauge {
            name,
            help,
            value: AtomicI64::new(0),
        }
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn dec(&self) {
        self.add(-1);
    }

    pub fn add(&self, n: i64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set(&self, n: i64) {
        self.value.store(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }
}

pub static MESSAGES_IN: Counter = Counter::new(
    "magnetar_broker_messages_in_total",
    "Messages published to this broker.",
);
pub static BYTES_IN: Counter = Counter::new(
    "magnetar_broker_bytes_in_total",
    "Payload bytes published to this broker.",
);
pub static MESSAGES_OUT: Counter = Counter::new(
    "magnetar_broker_messages_out_total",
    "Messages dispatched to consumers.",
);
pub static BYTES_OUT: Counter = Counter::new(
    "magnetar_broker_bytes_out_total",
    "Payload bytes dispatched to consumers.",
);
pub static TOPICS_LOADED: Gauge =
    Gauge::new("magnetar_broker_topics_loaded", "Topics currently loaded.");
pub static PRODUCERS: Gauge = Gauge::new("magnetar_broker_producers", "Connected producers.");
pub static CONSUMERS: Gauge = Gauge::new("magnetar_broker_consumers", "Connected consumers.");
pub static CONNECTIONS: Gauge =
    Gauge::new("magnetar_broker_connections", "Open client connections.");
pub static MANAGED_LEDGER_ENTRIES_ADDED: Counter = Counter::new(
    "magnetar_broker_ml_entries_added_total",
    "Entries durably added to managed ledgers.",
);
pub static MANAGED_LEDGER_BYTES_ADDED: Counter = Counter::new(
    "magnetar_broker_ml_bytes_added_total",
    "Payload bytes durably added to managed ledgers.",
);
pub static ENTRY_CACHE_HITS: Counter = Counter::new(
    "magnetar_broker_entry_cache_hits_total",
    "Entry reads served from memory.",
);
pub static ENTRY_CACHE_MISSES: Counter = Counter::new(
    "magnetar_broker_entry_cache_misses_total",
    "Entry reads that went to the ledger store.",
);
pub static MANAGED_LEDGERS_OPEN: Gauge =
    Gauge::new("magnetar_broker_ml_open", "Managed ledgers open on this broker.");
pub static BUNDLES_OWNED: Gauge = Gauge::new(
    "magnetar_broker_bundles_owned",
    "Namespace bundles owned by this broker.",
);

pub static COUNTERS: &[&Counter] = &[
    &MESSAGES_IN,
    &BYTES_IN,
    &MESSAGES_OUT,
    &BYTES_OUT,
    &MANAGED_LEDGER_ENTRIES_ADDED,
    &MANAGED_LEDGER_BYTES_ADDED,
    &ENTRY_CACHE_HITS,
    &ENTRY_CACHE_MISSES,
];

pub static GAUGES: &[&Gauge] = &[
    &TOPICS_LOADED,
    &PRODUCERS,
    &CONSUMERS,
    &CONNECTIONS,
    &BUNDLES_OWNED,
];

/// Renders every metric in the Prometheus text exposition format (0.0.4).
pub fn render_prometheus() -> String {
    let mut out = String::new();
    for counter in COUNTERS {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} counter\n{} {}",
            counter.name,
            counter.help,
            counter.name,
            counter.name,
            counter.get()
        );
    }
    for gauge in GAUGES {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} gauge\n{} {}",
            gauge.name,
            gauge.help,
            gauge.name,
            gauge.name,
            gauge.get()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_lists_every_metric_with_its_value() {
        static LOCAL: Counter = Counter::new("local_total", "x");
        LOCAL.add(3);
        assert_eq!(LOCAL.get(), 3);
        let text = render_prometheus();
        for counter in COUNTERS {
            assert!(text.contains(&format!("# TYPE {} counter", counter.name)));
        }
        assert!(text.contains("# TYPE magnetar_broker_topics_loaded gauge"));
    }
}
