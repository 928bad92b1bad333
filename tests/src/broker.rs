//! A `magnetar broker` process against an external metadata store and
//! bookies, with a chosen ensemble/write/ack quorum and its stderr in a log
//! file the test can count and search. The log's last lines are printed
//! when a test panics with the broker still owned.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::http::{http_get, HttpResponse};
use crate::netns::{bind_ip, Host};
use crate::process::{MagnetarProcess, StartingProcess};
use crate::raft::free_port;

/// How long a broker may take to become ready.
pub const BROKER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// Log lines printed when a test panics.
const TAIL_ON_PANIC: usize = 150;

/// Ensemble size, write quorum and ack quorum of the ledgers a broker creates.
pub type Quorum = (u32, u32, u32);

/// A running broker.
pub struct BrokerProcess {
    pub process: MagnetarProcess,
    log: BrokerLog,
}

/// A broker spawned on fixed ports, not ready yet.
pub struct StartingBroker {
    process: StartingProcess,
    log: BrokerLog,
    pulsar_addr: String,
    http_addr: String,
}

/// The broker's stderr file (in a temporary directory).
pub struct BrokerLog {
    path: PathBuf,
    _dir: TempDir,
}

impl BrokerLog {
    fn new() -> Result<BrokerLog> {
        let dir = tempfile::Builder::new()
            .prefix("magnetar-broker-log-")
            .tempdir()
            .context("create broker log dir")?;
        Ok(BrokerLog {
            path: dir.path().join("broker.log"),
            _dir: dir,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every line written so far.
    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// How many lines were written so far.
    pub fn line_count(&self) -> usize {
        self.lines().len()
    }

    /// Lines containing every one of `needles`.
    pub fn matching(&self, needles: &[&str]) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|line| needles.iter().all(|needle| line.contains(needle)))
            .collect()
    }

    fn print_tail(&self) {
        let lines = self.lines();
        let skip = lines.len().saturating_sub(TAIL_ON_PANIC);
        println!(
            "---- last {} of {} lines of the broker log ----",
            lines.len() - skip,
            lines.len()
        );
        for line in &lines[skip..] {
            println!("{line}");
        }
    }
}

/// The `n` most frequent messages among `lines` (timestamp dropped, first
/// 120 characters), most frequent first: what filled a log.
pub fn frequent_messages(lines: &[String], n: usize) -> Vec<(usize, String)> {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for line in lines {
        let message: String = line
            .split_once(' ')
            .map_or(line.as_str(), |(_, rest)| rest)
            .chars()
            .take(120)
            .collect();
        *counts.entry(message).or_default() += 1;
    }
    let mut sorted: Vec<(usize, String)> = counts.into_iter().map(|(m, c)| (c, m)).collect();
    sorted.sort_by_key(|(count, _)| std::cmp::Reverse(*count));
    sorted.truncate(n);
    sorted
}

fn broker_args(
    metadata_url: &str,
    bind: &str,
    (ensemble, write, ack): Quorum,
    pulsar_port: u16,
    http_port: u16,
    extra_args: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "broker".into(),
        "--metadata".into(),
        metadata_url.into(),
        "--bind".into(),
        bind.into(),
        "--pulsar-port".into(),
        pulsar_port.to_string(),
        "--http-port".into(),
        http_port.to_string(),
        "--ensemble-size".into(),
        ensemble.to_string(),
        "--write-quorum".into(),
        write.to_string(),
        "--ack-quorum".into(),
        ack.to_string(),
    ];
    args.extend(extra_args.iter().map(|arg| arg.to_string()));
    args
}

impl BrokerProcess {
    /// Starts a broker on ephemeral ports and waits for its ready line.
    pub async fn start(
        metadata_url: &str,
        quorum: Quorum,
        extra_args: &[&str],
    ) -> Result<BrokerProcess> {
        let log = BrokerLog::new()?;
        // In a network namespace of its own when the test has a network.
        let host = Host::next()?;
        let bind = bind_ip(host.as_ref()).to_string();
        let args = broker_args(metadata_url, &bind, quorum, 0, 0, extra_args);
        let path = log.path.clone();
        let process = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            MagnetarProcess::spawn_on(host, &args, Some(&path))?.wait_ready(BROKER_START_TIMEOUT)
        })
        .await
        .context("broker start task")??;
        Ok(BrokerProcess { process, log })
    }

    /// Spawns a broker on fixed free ports and returns at once, before its
    /// ready line, so clients can connect while it starts.
    pub fn spawn(
        metadata_url: &str,
        quorum: Quorum,
        extra_args: &[&str],
    ) -> Result<StartingBroker> {
        let log = BrokerLog::new()?;
        let (pulsar_port, http_port) = (free_port()?, free_port()?);
        let host = Host::next()?;
        let bind = bind_ip(host.as_ref()).to_string();
        let args = broker_args(
            metadata_url,
            &bind,
            quorum,
            pulsar_port,
            http_port,
            extra_args,
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let process = MagnetarProcess::spawn_on(host, &args, Some(log.path()))?;
        Ok(StartingBroker {
            process,
            log,
            pulsar_addr: format!("{bind}:{pulsar_port}"),
            http_addr: format!("{bind}:{http_port}"),
        })
    }

    pub fn pulsar_url(&self) -> Result<String> {
        self.process.pulsar_url()
    }

    /// `host:port` of the HTTP listener.
    pub fn http_addr(&self) -> Result<String> {
        Ok(self.process.ready.addr("http")?.to_string())
    }

    /// `GET {path}` on the broker's HTTP port.
    pub fn get(&self, path: &str) -> Result<HttpResponse> {
        http_get(&self.http_addr()?, path)
    }

    pub fn log(&self) -> &BrokerLog {
        &self.log
    }

    /// SIGTERM and wait for a clean exit (shutdown closes the ledgers).
    pub fn terminate(&mut self, timeout: Duration) -> Result<()> {
        let status = self.process.terminate(timeout)?;
        anyhow::ensure!(
            status.success(),
            "broker exited with {status} after SIGTERM"
        );
        Ok(())
    }

    /// Starts the broker again with the same arguments (new ephemeral
    /// ports); the log is appended to.
    pub async fn restart(&mut self) -> Result<()> {
        let process = &mut self.process;
        tokio::task::block_in_place(|| process.restart(BROKER_START_TIMEOUT))
    }
}

impl StartingBroker {
    pub fn pulsar_url(&self) -> String {
        format!("pulsar://{}", self.pulsar_addr)
    }

    pub fn http_addr(&self) -> &str {
        &self.http_addr
    }

    pub fn log(&self) -> &BrokerLog {
        &self.log
    }

    /// Waits for the ready line.
    pub async fn wait_ready(self) -> Result<BrokerProcess> {
        let StartingBroker { process, log, .. } = self;
        let waited = tokio::task::spawn_blocking(move || process.wait_ready(BROKER_START_TIMEOUT))
            .await
            .context("broker ready task")?;
        match waited {
            Ok(process) => Ok(BrokerProcess { process, log }),
            Err(error) => {
                log.print_tail();
                Err(error)
            }
        }
    }
}

impl Drop for BrokerLog {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_tail();
        }
    }
}
