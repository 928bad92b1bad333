//! Broker metrics: process-wide counters and gauges that any module updates,
//! kept in one `prometheus-client` registry and rendered in the OpenMetrics
//! text format by `GET /metrics`.
//!
//! Every metric is declared once, in the `broker_metrics!` list below. The
//! declaration both defines the metric's static and registers it, so a
//! metric that exists is always exported. [`DEFINED`] lists them for tests.
//!
//! Names follow `magnetar_broker_<thing>_<unit>`; counters are declared
//! without `_total`, which the encoder appends to their samples. Updates are
//! one relaxed atomic add; there are no labels.
//!
//! A scrape also renders collectors made for it ([`render_with`]): the
//! process's CPU, memory, file descriptors and allocator ([`process`]) and,
//! from the admin side, the topics' `pulsar_*` series.

pub mod process;

use std::sync::LazyLock;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text;
use prometheus_client::metrics::{counter, gauge};
use prometheus_client::registry::Registry;

/// `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A monotonically increasing count.
#[derive(Debug, Clone, Default)]
pub struct Counter(counter::Counter);

impl Counter {
    pub fn inc(&self) {
        self.0.inc();
    }

    pub fn add(&self, n: u64) {
        self.0.inc_by(n);
    }

    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// A value that goes up and down.
#[derive(Debug, Clone, Default)]
pub struct Gauge(gauge::Gauge);

impl Gauge {
    pub fn inc(&self) {
        self.0.inc();
    }

    pub fn dec(&self) {
        self.0.dec();
    }

    pub fn add(&self, n: i64) {
        self.0.inc_by(n);
    }

    pub fn set(&self, n: i64) {
        self.0.set(n);
    }

    pub fn get(&self) -> i64 {
        self.0.get()
    }
}

/// The OpenMetrics type of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

impl MetricKind {
    /// The type as written on a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
        }
    }
}

/// A defined metric, as registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// Family name (a counter's samples carry it with `_total` appended).
    pub name: &'static str,
    pub kind: MetricKind,
}

/// Defines each metric's static, [`DEFINED`] and the registration of every
/// metric, all from one list.
macro_rules! broker_metrics {
    ($($kind:ident $metric:ident = $name:literal, $help:literal;)+) => {
        $(
            #[doc = concat!("`", $name, "`: ", $help, ".")]
            pub static $metric: LazyLock<$kind> = LazyLock::new(<$kind>::default);
        )+

        /// Every metric this module defines, in registration order.
        pub static DEFINED: &[MetricDef] = &[
            $(MetricDef { name: $name, kind: MetricKind::$kind },)+
        ];

        fn register_all(registry: &mut Registry) {
            $(registry.register($name, $help, $metric.0.clone());)+
        }
    };
}

// Help texts end without a period: the registry appends one.
broker_metrics! {
    Counter MESSAGES_IN = "magnetar_broker_messages_in", "Messages published to this broker";
    Counter BYTES_IN = "magnetar_broker_bytes_in", "Payload bytes published to this broker";
    Counter MESSAGES_OUT = "magnetar_broker_messages_out", "Messages dispatched to consumers";
    Counter BYTES_OUT = "magnetar_broker_bytes_out", "Payload bytes dispatched to consumers";
    Counter MANAGED_LEDGER_ENTRIES_ADDED = "magnetar_broker_ml_entries_added",
        "Entries durably added to managed ledgers";
    Counter MANAGED_LEDGER_BYTES_ADDED = "magnetar_broker_ml_bytes_added",
        "Payload bytes durably added to managed ledgers";
    Counter MANAGED_LEDGER_ADD_FAILURES = "magnetar_broker_ml_add_failures",
        "Adds that failed: on the bookies, or held past their deadline while no ledger was writable";
    Counter MANAGED_LEDGER_CREATE_FAILURES = "magnetar_broker_ml_ledger_create_failures",
        "Failed attempts to create a ledger for a managed ledger";
    Counter ENTRY_CACHE_HITS = "magnetar_broker_entry_cache_hits", "Entry reads served from memory";
    Counter ENTRY_CACHE_MISSES = "magnetar_broker_entry_cache_misses",
        "Entry reads that went to the ledger store";
    Gauge ENTRY_CACHE_BYTES = "magnetar_broker_entry_cache_bytes",
        "Payload bytes held by the entry cache of recently added entries";
    Gauge TOPICS_LOADED = "magnetar_broker_topics_loaded", "Topics currently loaded";
    Gauge PRODUCERS = "magnetar_broker_producers", "Connected producers";
    Gauge CONSUMERS = "magnetar_broker_consumers", "Connected consumers";
    Gauge CONNECTIONS = "magnetar_broker_connections", "Open client connections";
    Gauge MANAGED_LEDGERS_OPEN = "magnetar_broker_ml_open", "Managed ledgers open on this broker";
    Gauge MANAGED_LEDGERS_NOT_WRITABLE = "magnetar_broker_ml_not_writable",
        "Managed ledgers open here that cannot write (adds are held, then fail)";
    Gauge MANAGED_LEDGERS_UNDER_REPLICATED = "magnetar_broker_ml_under_replicated",
        "Managed ledgers open here whose new entries skip a bookie of the ensemble";
    Gauge MANAGED_LEDGER_ADDS_HELD = "magnetar_broker_ml_adds_held",
        "Adds waiting for a writable ledger";
    Gauge BOOKIES_WRITABLE = "magnetar_broker_bookies_writable",
        "Bookies a new ledger could use now (-1 when the ledger store does not count them or did not answer)";
    Gauge BUNDLES_OWNED = "magnetar_broker_bundles_owned", "Namespace bundles owned by this broker";
    Gauge LB_LEADER = "magnetar_broker_lb_leader", "1 while this broker leads the load manager";
    Counter LB_SHED_DECISIONS = "magnetar_broker_lb_shed_decisions",
        "Bundle moves the load manager decided while this broker led";
    Counter LB_SPLIT_DECISIONS = "magnetar_broker_lb_split_decisions",
        "Bundle splits the load manager decided while this broker led";
    Counter LB_UNLOADS = "magnetar_broker_lb_unloads", "Bundles this broker unloaded for the load manager";
    Counter LB_SPLITS = "magnetar_broker_lb_splits", "Bundles this broker split for the load manager";
    Counter PEERS_EVICTED = "magnetar_broker_peers_evicted",
        "Sessions of dead brokers this broker ended (their bundles moved before the session timeout)";
}

/// Renders every metric in the OpenMetrics text format ([`CONTENT_TYPE`]).
pub fn render() -> Result<String, std::fmt::Error> {
    render_with(Vec::new())
}

/// Renders every metric, the process's and those of `collectors`, in the
/// OpenMetrics text format ([`CONTENT_TYPE`]).
pub fn render_with(collectors: Vec<Box<dyn Collector>>) -> Result<String, std::fmt::Error> {
    // A registry per scrape: registering clones the metrics' handles, so
    // it is cheap, and the collectors hold this scrape's data.
    let mut registry = Registry::default();
    register_all(&mut registry);
    registry.register_collector(Box::new(process::ProcessMetrics));
    registry.register_collector(Box::new(process::AllocatorMetrics));
    for collector in collectors {
        registry.register_collector(collector);
    }
    let mut out = String::new();
    text::encode(&mut out, &registry)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_lists_every_defined_metric() {
        let text = render().unwrap();
        for metric in DEFINED {
            let type_line = format!("# TYPE {} {}\n", metric.name, metric.kind.as_str());
            assert!(
                text.contains(&type_line),
                "{type_line:?} missing from:\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn counters_export_samples_with_total_and_updates_show() {
        MANAGED_LEDGERS_OPEN.set(7);
        ENTRY_CACHE_HITS.add(2);
        let text = render().unwrap();
        assert!(text.contains("\nmagnetar_broker_ml_open 7\n"), "{text}");
        let hits = text
            .lines()
            .find_map(|line| line.strip_prefix("magnetar_broker_entry_cache_hits_total "))
            .and_then(|value| value.parse::<u64>().ok());
        assert!(hits.is_some_and(|hits| hits >= 2), "{text}");
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = DEFINED.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DEFINED.len());
    }
}
