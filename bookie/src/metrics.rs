//! A bookie's metrics: journal fsync latency and group sizes, add and read
//! counts and latency, time adds waited for write cache room (histograms),
//! and at each scrape the bookie's ledgers, disk use, read-only state,
//! write cache bytes and index memory. Rendered in the OpenMetrics text
//! format by [`render`], which a bookie serves on its HTTP port
//! (`node::http`) and a standalone adds to the broker's `/metrics`.
//!
//! The histograms are process-wide (one bookie per process, or the
//! bookies of a standalone together); the scrape-time gauges come from
//! the bookies running in this process, which register a [`StatusSource`]
//! when they start.

use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{text, DescriptorEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Bounds of the latency histograms, in seconds: 50 µs to 5 s.
const LATENCY_BOUNDS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
    5.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BOUNDS)
}

/// Journal fsync time.
pub static JOURNAL_SYNC_SECONDS: LazyLock<Histogram> = LazyLock::new(latency_histogram);
/// Bytes written per journal group commit.
pub static JOURNAL_GROUP_BYTES: LazyLock<Histogram> = LazyLock::new(|| {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        512.0, 4.0, 10,
    ))
});
/// From an add's arrival to the fsync that covers it.
pub static ADD_SECONDS: LazyLock<Histogram> = LazyLock::new(latency_histogram);
/// Entry reads served.
pub static READ_SECONDS: LazyLock<Histogram> = LazyLock::new(latency_histogram);
/// Time adds (or add batches) waited for room in a full write cache.
pub static WRITE_CACHE_THROTTLE_SECONDS: LazyLock<Histogram> = LazyLock::new(latency_histogram);
/// Adds made durable.
pub static ADDS: LazyLock<Counter> = LazyLock::new(Counter::default);
/// Entry reads answered (found or not).
pub static READS: LazyLock<Counter> = LazyLock::new(Counter::default);

/// Records `adds` adds that became durable after `elapsed`.
pub fn record_adds(elapsed: Duration, adds: u64) {
    ADDS.inc_by(adds);
    for _ in 0..adds {
        ADD_SECONDS.observe(elapsed.as_secs_f64());
    }
}

/// Records that an add (or an add batch) waited `elapsed` for write cache
/// room.
pub fn record_write_cache_throttle(elapsed: Duration) {
    WRITE_CACHE_THROTTLE_SECONDS.observe(elapsed.as_secs_f64());
}

/// Records one entry read that took `elapsed`.
pub fn record_read(elapsed: Duration) {
    READS.inc();
    READ_SECONDS.observe(elapsed.as_secs_f64());
}

/// A running bookie's state at a scrape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BookieStatus {
    pub ledgers: u64,
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
    pub read_only: bool,
    /// Bytes of entries in the write cache, both halves.
    pub write_cache_bytes: u64,
    /// Bytes the RocksDB index holds in memory (memtables, block cache).
    pub index_memory_bytes: u64,
}

/// Tells a scrape a running bookie's state.
pub trait StatusSource: Send + Sync + 'static {
    fn status(&self) -> BookieStatus;
}

static SOURCES: LazyLock<Mutex<Vec<Weak<dyn StatusSource>>>> =
    LazyLock::new(|| Mutex::new(Vec::new()));

/// Makes a running bookie's state part of every scrape in this process,
/// while `source` lives.
pub fn register_status(source: &Arc<dyn StatusSource>) {
    let mut sources = SOURCES.lock();
    sources.retain(|s| s.strong_count() > 0);
    sources.push(Arc::downgrade(source));
}

/// Whether a bookie runs in this process.
pub fn has_bookie() -> bool {
    SOURCES.lock().iter().any(|s| s.strong_count() > 0)
}

/// The scrape-time gauges of the bookies of this process, summed.
#[derive(Debug)]
struct StatusGauges;

impl Collector for StatusGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let statuses: Vec<BookieStatus> = SOURCES
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .map(|s| s.status())
            .collect();
        if statuses.is_empty() {
            return Ok(());
        }
        let gauges: [(&str, &str, u64); 6] = [
            (
                "magnetar_bookie_ledgers",
                "Ledgers stored on the bookie.",
                statuses.iter().map(|s| s.ledgers).sum(),
            ),
            (
                "magnetar_bookie_disk_used_bytes",
                "Bytes used on the filesystem of the bookie's data directory.",
                statuses.iter().map(|s| s.disk_used_bytes).sum(),
            ),
            (
                "magnetar_bookie_disk_total_bytes",
                "Size of the filesystem of the bookie's data directory.",
                statuses.iter().map(|s| s.disk_total_bytes).sum(),
            ),
            (
                "magnetar_bookie_read_only",
                "1 while a bookie takes no new ledgers or adds (disk full), 0 while writable.",
                statuses.iter().filter(|s| s.read_only).count() as u64,
            ),
            (
                "magnetar_bookie_write_cache_bytes",
                "Bytes of entries in the write cache, awaiting or in a checkpoint.",
                statuses.iter().map(|s| s.write_cache_bytes).sum(),
            ),
            (
                "magnetar_bookie_index_memory_bytes",
                "Bytes the RocksDB index holds in memory: memtables and block cache.",
                statuses.iter().map(|s| s.index_memory_bytes).sum(),
            ),
        ];
        for (name, help, value) in gauges {
            encoder
                .encode_descriptor(name, help, None, MetricType::Gauge)?
                .encode_gauge(&value)?;
        }
        Ok(())
    }
}

/// The bookie's metrics as a collector, for another registry (a
/// standalone's broker).
#[derive(Debug)]
pub struct BookieCollector;

impl Collector for BookieCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        let histograms: [(&str, &str, &Histogram); 5] = [
            (
                "magnetar_bookie_journal_sync_seconds",
                "Time of each journal fsync.",
                &JOURNAL_SYNC_SECONDS,
            ),
            (
                "magnetar_bookie_journal_group_bytes",
                "Bytes written per journal group commit.",
                &JOURNAL_GROUP_BYTES,
            ),
            (
                "magnetar_bookie_add_seconds",
                "From an add's arrival to the fsync that makes it durable.",
                &ADD_SECONDS,
            ),
            (
                "magnetar_bookie_read_seconds",
                "Time to serve an entry read.",
                &READ_SECONDS,
            ),
            (
                "magnetar_bookie_write_cache_throttle_seconds",
                "Time an add waited for room in a full write cache.",
                &WRITE_CACHE_THROTTLE_SECONDS,
            ),
        ];
        for (name, help, histogram) in histograms {
            let metric = encoder.encode_descriptor(name, help, None, histogram.metric_type())?;
            histogram.encode(metric)?;
        }
        let counters: [(&str, &str, &Counter); 2] = [
            ("magnetar_bookie_adds", "Adds made durable.", &ADDS),
            ("magnetar_bookie_reads", "Entry reads served.", &READS),
        ];
        for (name, help, counter) in counters {
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        StatusGauges.encode(encoder)
    }
}

/// Every bookie metric in the OpenMetrics text format ([`CONTENT_TYPE`]).
pub fn render() -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(BookieCollector));
    let mut out = String::new();
    text::encode(&mut out, &registry)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(BookieStatus);

    impl StatusSource for Fixed {
        fn status(&self) -> BookieStatus {
            self.0
        }
    }

    #[test]
    fn render_has_histograms_counters_and_the_running_bookies_state() {
        record_adds(Duration::from_millis(2), 3);
        record_read(Duration::from_micros(300));
        JOURNAL_SYNC_SECONDS.observe(0.001);
        let source: Arc<dyn StatusSource> = Arc::new(Fixed(BookieStatus {
            ledgers: 7,
            disk_used_bytes: 10,
            disk_total_bytes: 100,
            read_only: true,
            write_cache_bytes: 4096,
            index_memory_bytes: 2048,
        }));
        register_status(&source);
        let text = render().unwrap();
        for needle in [
            "# TYPE magnetar_bookie_journal_sync_seconds histogram\n",
            "magnetar_bookie_add_seconds_bucket{le=\"0.0025\"}",
            "# TYPE magnetar_bookie_adds counter\n",
            "\nmagnetar_bookie_ledgers 7\n",
            "\nmagnetar_bookie_read_only 1\n",
            "\nmagnetar_bookie_write_cache_bytes 4096\n",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
        assert!(has_bookie());
        drop(source);
        assert!(!render().unwrap().contains("magnetar_bookie_ledgers"));
    }
}
