//! Bounded waiting for scenario tests: the runtime a scenario runs on,
//! polling an async probe until it holds, and blocking harness calls from
//! inside the async runtime.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Result;

/// Interval between probes.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Runs `scenario` to its end on a 2-worker runtime (blocking harness
/// calls need the multi-thread runtime), with logs at `RUST_LOG` (default
/// `info`) captured by the test.
pub fn run_scenario(scenario: impl Future<Output = ()>) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .with_test_writer()
        .try_init();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(scenario);
}

/// Runs blocking harness code (Python scripts, file polling, process
/// waits) on the current worker without stalling the runtime's other
/// tasks. Needs the multi-thread runtime.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Calls `probe` every 200 ms until it returns `Some`, for at most
/// `limit`; panics with `what` and the last probe's outcome after that.
pub async fn poll<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + limit;
    loop {
        let last = match probe().await {
            Ok(Some(value)) => return value,
            Ok(None) => "not yet".to_string(),
            Err(error) => format!("{error:#}"),
        };
        assert!(
            Instant::now() < deadline,
            "{what}: not within {limit:?} (last probe: {last})"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
