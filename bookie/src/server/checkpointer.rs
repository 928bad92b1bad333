//! The checkpoint loop: moves journaled entries into entry logs and the
//! index every `flush_interval`, or sooner when an add finds the write
//! cache's active half full.
//! Each run is [`Bookie::checkpoint`]; `docs/bookie.md` describes the steps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::bookie::Bookie;
use super::config::BookieConfig;

/// Checkpoints every `flush_interval`, or sooner when the write cache's
/// active half grows past `write_cache_max_bytes`, until cancelled.
pub async fn run_checkpoints(bookie: Arc<Bookie>, config: BookieConfig, cancel: CancellationToken) {
    let poll = config.flush_interval.min(Duration::from_millis(100));
    let mut last = Instant::now();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(poll) => {}
            _ = bookie.checkpoint_wanted() => {}
        }
        if last.elapsed() < config.flush_interval
            && bookie.write_cache_bytes() < config.write_cache_max_bytes
        {
            continue;
        }
        last = Instant::now();
        if let Err(err) = bookie.checkpoint().await {
            tracing::error!(error = %err, "checkpoint failed; will retry");
        }
    }
}
