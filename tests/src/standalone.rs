//! A `magnetar standalone` process on ephemeral ports with its own data dir.

use std::time::Duration;

use anyhow::Result;
use tempfile::TempDir;

use crate::process::MagnetarProcess;

/// How long a standalone process may take to become ready (includes
/// recovering ledgers after a kill -9).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Standalone {
    pub process: MagnetarProcess,
    /// Kept for restarts; deleted on drop.
    pub data_dir: TempDir,
}

impl Standalone {
    pub fn start() -> Result<Standalone> {
        Self::start_with(&[])
    }

    /// A standalone with `extra` flags after the usual ones.
    pub fn start_with(extra: &[&str]) -> Result<Standalone> {
        let data_dir = tempfile::tempdir()?;
        let data = data_dir.path().to_string_lossy().into_owned();
        let mut args = vec![
            "standalone",
            "--data-dir",
            &data,
            "--pulsar-port",
            "0",
            "--http-port",
            "0",
        ];
        args.extend_from_slice(extra);
        let process = MagnetarProcess::start(&args, START_TIMEOUT)?;
        Ok(Standalone { process, data_dir })
    }

    pub fn pulsar_url(&self) -> Result<String> {
        self.process.pulsar_url()
    }

    pub fn http_url(&self) -> Result<String> {
        self.process.http_url()
    }

    /// kill -9, then start again on the same data dir.
    pub fn crash_and_restart(&mut self) -> Result<()> {
        self.process.restart(START_TIMEOUT)
    }
}
