//! Process-wide series rendered at each scrape: CPU, resident memory and
//! open file descriptors from `/proc/self` ([`ProcessMetrics`], the usual
//! `process_*` names), and what the memory allocator holds
//! ([`AllocatorMetrics`]) when the binary installed a reader for it
//! ([`install_allocator_stats`]).

use std::sync::OnceLock;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

/// `process_cpu_seconds_total`, `process_resident_memory_bytes` and
/// `process_open_fds`, read from `/proc/self` at each scrape (absent where
/// there is no `/proc`).
#[derive(Debug)]
pub struct ProcessMetrics;

/// What `/proc/self` says about this process.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ProcessSample {
    cpu_seconds: f64,
    resident_bytes: u64,
    open_fds: u64,
}

/// CPU time (user plus system) from the text of `/proc/self/stat`.
fn cpu_seconds(stat: &str, ticks_per_second: u64) -> Option<f64> {
    // The command name may hold spaces; the fields after it do not.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, so 12 and 13
    // after the name (which is field 2).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / ticks_per_second.max(1) as f64)
}

fn process_sample() -> Option<ProcessSample> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let cpu_seconds = cpu_seconds(&stat, rustix::param::clock_ticks_per_second())?;
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some(ProcessSample {
        cpu_seconds,
        resident_bytes: resident_pages * rustix::param::page_size() as u64,
        open_fds,
    })
}

impl Collector for ProcessMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(sample) = process_sample() else {
            return Ok(());
        };
        encoder
            .encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                MetricType::Counter,
            )?
            .encode_counter::<NoLabelSet, _, f64>(&sample.cpu_seconds, None)?;
        encoder
            .encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&sample.resident_bytes)?;
        encoder
            .encode_descriptor(
                "process_open_fds",
                "Number of open file descriptors.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&sample.open_fds)?;
        Ok(())
    }
}

/// What the process's allocator holds, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocatorSample {
    /// Bytes the program has allocated and not freed.
    pub allocated: u64,
    /// Bytes in pages the allocator has in use for them (allocated plus
    /// fragmentation inside those pages).
    pub active: u64,
    /// Bytes of the allocator's pages that are resident: active pages,
    /// its metadata, and freed pages not yet returned to the system.
    pub resident: u64,
    /// Bytes of address space kept for reuse, returned to the system but
    /// still mapped (not resident).
    pub retained: u64,
}

static ALLOCATOR_STATS: OnceLock<fn() -> Option<AllocatorSample>> = OnceLock::new();

/// Makes every later scrape report the allocator's figures as read by
/// `read`. The binary that picks the global allocator calls it once; the
/// first call wins.
pub fn install_allocator_stats(read: fn() -> Option<AllocatorSample>) {
    let _ = ALLOCATOR_STATS.set(read);
}

/// `magnetar_allocator_{allocated,active,resident,retained}_bytes`, when
/// a reader is installed and answers.
#[derive(Debug)]
pub struct AllocatorMetrics;

impl Collector for AllocatorMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(sample) = ALLOCATOR_STATS.get().and_then(|read| read()) else {
            return Ok(());
        };
        let gauges = [
            (
                "magnetar_allocator_allocated_bytes",
                "Bytes allocated by the program and not freed.",
                sample.allocated,
            ),
            (
                "magnetar_allocator_active_bytes",
                "Bytes in the allocator's pages in use.",
                sample.active,
            ),
            (
                "magnetar_allocator_resident_bytes",
                "Bytes of the allocator's pages that are resident, free ones not yet returned included.",
                sample.resident,
            ),
            (
                "magnetar_allocator_retained_bytes",
                "Bytes of address space the allocator keeps mapped but returned to the system.",
                sample.retained,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::render;

    #[test]
    fn process_metrics_are_rendered_from_proc() {
        let text = render().unwrap();
        let rss = text
            .lines()
            .find_map(|line| line.strip_prefix("process_resident_memory_bytes "))
            .and_then(|value| value.parse::<u64>().ok());
        assert!(rss.is_some_and(|rss| rss > 1 << 20), "{text}");
        assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
        assert!(text.contains("\nprocess_open_fds "), "{text}");
    }

    #[test]
    fn cpu_time_is_read_after_a_command_name_with_spaces() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1 0 0";
        assert_eq!(cpu_seconds(stat, 100), Some(3.0));
        assert_eq!(cpu_seconds("42 (x) S 1", 100), None);
    }

    #[test]
    fn allocator_figures_appear_once_a_reader_is_installed() {
        install_allocator_stats(|| {
            Some(AllocatorSample {
                allocated: 11,
                active: 12,
                resident: 13,
                retained: 14,
            })
        });
        let text = render().unwrap();
        for line in [
            "\nmagnetar_allocator_allocated_bytes 11\n",
            "\nmagnetar_allocator_resident_bytes 13\n",
            "\nmagnetar_allocator_retained_bytes 14\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
    }
}
