//! Runs `magnetar verify` as a child process against a cluster and reads
//! back its exit status, its printed verdict and its JSON report.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tempfile::TempDir;

use crate::process::magnetar_bin;

/// A `magnetar verify` run in progress. Killed on drop.
pub struct VerifyCommand {
    child: Option<Child>,
    report: PathBuf,
    _dir: TempDir,
}

/// How a run ended.
#[derive(Debug)]
pub struct VerifyOutcome {
    pub status: ExitStatus,
    /// The printed verdict and counts.
    pub stdout: String,
    /// The JSON report (`Value::Null` when none was written).
    pub report: Value,
}

impl VerifyOutcome {
    pub fn passed(&self) -> bool {
        self.status.success() && self.report["passed"] == Value::Bool(true)
    }

    /// A summed count from the report (`lost`, `reordered`, …).
    pub fn total(&self, count: &str) -> u64 {
        self.report["totals"][count].as_u64().unwrap_or(u64::MAX)
    }

    /// A top-level number from the report (`acked`, `longest_unavailability_ms`, …).
    pub fn number(&self, key: &str) -> u64 {
        self.report[key].as_u64().unwrap_or(0)
    }
}

impl VerifyCommand {
    /// Starts `magnetar verify --url URL --admin-url ADMIN --quiet --report …`
    /// with `extra` flags.
    pub fn spawn(url: &str, admin_url: &str, extra: &[&str]) -> Result<VerifyCommand> {
        let dir = tempfile::tempdir()?;
        let report = dir.path().join("report.json");
        let child = Command::new(magnetar_bin())
            .args(["verify", "--url", url, "--admin-url", admin_url, "--quiet"])
            .arg("--report")
            .arg(&report)
            .args(extra)
            .env("RUST_LOG", "warn,magnetar=info,pulsar=error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("spawn magnetar verify")?;
        Ok(VerifyCommand {
            child: Some(child),
            report,
            _dir: dir,
        })
    }

    /// Waits up to `timeout` for the run to end (blocking).
    pub fn wait(mut self, timeout: Duration) -> Result<VerifyOutcome> {
        let mut child = self.child.take().context("already waited for")?;
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("magnetar verify still running after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut stdout = String::new();
        if let Some(mut out) = child.stdout.take() {
            use std::io::Read;
            out.read_to_string(&mut stdout)?;
        }
        let report = match std::fs::read(&self.report) {
            Ok(bytes) => serde_json::from_slice(&bytes).context("parse the verify report")?,
            Err(_) => Value::Null,
        };
        Ok(VerifyOutcome {
            status,
            stdout,
            report,
        })
    }
}

impl Drop for VerifyCommand {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
