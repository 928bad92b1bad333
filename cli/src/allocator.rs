//! The process's memory allocator: jemalloc, with background threads that
//! return freed pages to the system after `dirty_decay_ms` (10 s by
//! default), so that memory freed after a burst of load does not stay
//! resident. glibc's allocator kept about 1.5 GB of freed memory after a
//! 30 s load where jemalloc keeps tens of MB (docs/benchmarks.md, run 20).
//!
//! [`configure`] starts the background threads and hands `/metrics` a
//! reader of jemalloc's own figures.

use magnetar_broker::metrics::process::{install_allocator_stats, AllocatorSample};
use tikv_jemalloc_ctl::{background_thread, epoch, stats};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Turns on jemalloc's background purging threads and installs the stats
/// reader. A failure only costs that memory is returned later (on the
/// allocating threads), so it is logged, not fatal.
pub fn configure() {
    if let Err(err) = background_thread::write(true) {
        tracing::warn!(error = %err, "jemalloc background threads not started");
    }
    install_allocator_stats(read_stats);
}

/// jemalloc's figures, refreshed (they are cached until the epoch moves).
fn read_stats() -> Option<AllocatorSample> {
    epoch::advance().ok()?;
    Some(AllocatorSample {
        allocated: stats::allocated::read().ok()? as u64,
        active: stats::active::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
        retained: stats::retained::read().ok()? as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figures_follow_what_the_program_holds() {
        configure();
        let before = read_stats().expect("jemalloc answers");
        let held = std::hint::black_box(vec![7u8; 64 << 20]);
        let during = read_stats().expect("jemalloc answers");
        assert!(
            during.allocated >= before.allocated + (60 << 20),
            "{before:?} then {during:?}"
        );
        assert!(during.resident >= during.active && during.active >= during.allocated);
        drop(held);
        let after = read_stats().expect("jemalloc answers");
        assert!(
            after.allocated + (60 << 20) <= during.allocated,
            "{after:?}"
        );
    }
}
