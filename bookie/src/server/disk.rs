//! Disk usage checks and the read-only transitions they drive.
//!
//! Every `disk_check_interval` the [`DiskUsageProbe`] measures the data
//! directory's filesystem. Above `disk_usage_threshold` the bookie goes
//! read-only (normal adds get STATUS_READ_ONLY, reads and high-priority or
//! recovery adds still work); below `disk_usage_low_water_mark` it becomes
//! writable again. The gap between the two is the hysteresis that keeps a
//! bookie hovering at the threshold from flapping. While read-only, the
//! disk is checked every second, so that freed room is noticed at once.
//! Tests inject usage with [`ManualDiskProbe`] instead of filling a disk.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::bookie::Bookie;

/// Capacity of a filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiskUsage {
    pub free_bytes: u64,
    pub total_bytes: u64,
}

impl DiskUsage {
    /// Used fraction in `[0, 1]`; 0 for an unknown (zero-sized) filesystem.
    pub fn used_fraction(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        1.0 - self.free_bytes as f64 / self.total_bytes as f64
    }
}

/// Measures the filesystem holding a path.
pub trait DiskUsageProbe: Send + Sync + 'static {
    fn usage(&self, path: &Path) -> io::Result<DiskUsage>;
}

/// The real probe: `statvfs(2)`, counting space available to unprivileged users.
pub struct StatvfsProbe;

impl DiskUsageProbe for StatvfsProbe {
    fn usage(&self, path: &Path) -> io::Result<DiskUsage> {
        let stat = rustix::fs::statvfs(path)?;
        let block = stat.f_frsize;
        Ok(DiskUsage {
            free_bytes: stat.f_bavail * block,
            total_bytes: stat.f_blocks * block,
        })
    }
}

/// A probe whose answer the test sets.
#[derive(Clone, Default)]
pub struct ManualDiskProbe {
    usage: Arc<Mutex<DiskUsage>>,
}

impl ManualDiskProbe {
    /// Reports `used_fraction` of a 1 GiB disk from now on.
    pub fn set_used_fraction(&self, used_fraction: f64) {
        let total = 1u64 << 30;
        let free = ((1.0 - used_fraction.clamp(0.0, 1.0)) * total as f64) as u64;
        *self.usage.lock() = DiskUsage {
            free_bytes: free,
            total_bytes: total,
        };
    }
}

impl DiskUsageProbe for ManualDiskProbe {
    fn usage(&self, _path: &Path) -> io::Result<DiskUsage> {
        Ok(*self.usage.lock())
    }
}

/// The last measured usage, shared with `Info` and the registration.
#[derive(Default)]
pub struct DiskStatus {
    last: Mutex<DiskUsage>,
}

impl DiskStatus {
    pub fn usage(&self) -> DiskUsage {
        *self.last.lock()
    }
}

/// Thresholds of the disk checker.
#[derive(Debug, Clone, Copy)]
pub struct DiskThresholds {
    pub interval: Duration,
    pub read_only_above: f64,
    pub writable_below: f64,
}

/// Measures once and applies the read-only rules.
pub fn check_disk(
    bookie: &Bookie,
    probe: &dyn DiskUsageProbe,
    dir: &Path,
    thresholds: &DiskThresholds,
    status: &DiskStatus,
) {
    let usage = match probe.usage(dir) {
        Ok(usage) => usage,
        Err(err) => {
            tracing::warn!(error = %err, dir = %dir.display(), "disk usage check failed");
            return;
        }
    };
    *status.last.lock() = usage;
    let used = usage.used_fraction();
    if used > thresholds.read_only_above && !bookie.is_read_only() {
        tracing::warn!(
            used_fraction = used,
            threshold = thresholds.read_only_above,
            "disk full, going read-only"
        );
        bookie.set_read_only(true);
    } else if used < thresholds.writable_below && bookie.is_read_only() {
        tracing::info!(
            used_fraction = used,
            low_water_mark = thresholds.writable_below,
            "disk has room again, going writable"
        );
        bookie.set_read_only(false);
    }
}

/// How often a read-only bookie checks its disk (when that is sooner than
/// the interval): a bookie whose disk filled up, or whose journal write
/// failed with ENOSPC, is writable again within a second of room being made.
pub const READ_ONLY_RECHECK: Duration = Duration::from_secs(1);

/// Runs [`check_disk`] every interval, or every [`READ_ONLY_RECHECK`] while
/// the bookie is read-only, until cancelled. Going read-only for any reason
/// (an ENOSPC on a journal write among them) restarts the wait.
pub async fn run_disk_checker(
    bookie: Arc<Bookie>,
    probe: Arc<dyn DiskUsageProbe>,
    dir: PathBuf,
    thresholds: DiskThresholds,
    status: Arc<DiskStatus>,
    cancel: CancellationToken,
) {
    let mut mode = bookie.watch_read_only();
    loop {
        let wait = if bookie.is_read_only() {
            thresholds.interval.min(READ_ONLY_RECHECK)
        } else {
            thresholds.interval
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep(wait) => check_disk(&bookie, probe.as_ref(), &dir, &thresholds, &status),
        }
    }
}
