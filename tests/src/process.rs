//! Spawning and supervising `magnetar` child processes: waiting for the
//! ready line (now or later), stderr to the terminal or to a log file,
//! SIGTERM with a deadline and SIGKILL. A child given a [`Host`] runs in
//! that network namespace ([`crate::netns`]), restarts included.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::netns::Host;

/// Path of the `magnetar` binary: `$MAGNETAR_BIN`, else the one cargo built
/// next to this test executable (`target/<profile>/magnetar`).
pub fn magnetar_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("MAGNETAR_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path is known");
    // target/<profile>/deps/<test-binary> → target/<profile>/magnetar
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    profile_dir.join("magnetar")
}

/// Runs `magnetar ARGS` to its end (a one-shot command such as `tokens`)
/// and returns its stdout, trimmed; fails with its stderr otherwise.
pub fn run_magnetar(args: &[&str]) -> Result<String> {
    let output = Command::new(magnetar_bin())
        .args(args)
        .output()
        .with_context(|| format!("run magnetar {args:?}"))?;
    if !output.status.success() {
        bail!(
            "magnetar {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_string())
}

/// Sends `signal` (`-STOP`, `-CONT`, …) to process `pid` with kill(1).
pub fn signal_pid(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .context("run kill")?;
    if !status.success() {
        bail!("kill {signal} {pid} failed: {status}");
    }
    Ok(())
}

/// The parsed readiness line of a process.
#[derive(Debug, Clone)]
pub struct ReadyLine {
    pub role: String,
    pub addresses: HashMap<String, String>,
}

impl ReadyLine {
    fn parse(line: &str) -> Option<ReadyLine> {
        let rest = line.strip_prefix("magnetar ready ")?;
        let mut parts = rest.split_whitespace();
        let role = parts.next()?.to_string();
        let addresses = parts
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        Some(ReadyLine { role, addresses })
    }

    pub fn addr(&self, key: &str) -> Result<&str> {
        self.addresses
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("ready line of {} has no {key}", self.role))
    }
}

/// A running `magnetar` process. Killed (SIGKILL) on drop.
pub struct MagnetarProcess {
    child: Option<Child>,
    pub ready: ReadyLine,
    args: Vec<String>,
    stderr_log: Option<PathBuf>,
    host: Option<Arc<Host>>,
}

/// A `magnetar` process spawned without waiting for its ready line yet.
/// Killed (SIGKILL) on drop unless [`StartingProcess::wait_ready`] took it.
pub struct StartingProcess {
    child: Option<Child>,
    ready: mpsc::Receiver<ReadyLine>,
    args: Vec<String>,
    stderr_log: Option<PathBuf>,
    host: Option<Arc<Host>>,
}

impl StartingProcess {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits up to `timeout` for the ready line.
    pub fn wait_ready(mut self, timeout: Duration) -> Result<MagnetarProcess> {
        let mut child = self.child.take().context("process already taken")?;
        match self.ready.recv_timeout(timeout) {
            Ok(ready) => Ok(MagnetarProcess {
                child: Some(child),
                ready,
                args: std::mem::take(&mut self.args),
                stderr_log: self.stderr_log.take(),
                host: self.host.take(),
            }),
            Err(_) => {
                let _ = child.kill();
                let status = reap(&mut child);
                bail!(
                    "magnetar {:?} not ready within {timeout:?} (exit status: {status:?})",
                    self.args
                )
            }
        }
    }
}

impl Drop for StartingProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            reap(&mut child);
        }
    }
}

/// Waits for a child that was killed or has exited.
fn reap(child: &mut Child) -> Option<ExitStatus> {
    child.wait().ok()
}

impl MagnetarProcess {
    /// Starts `magnetar <args>` and waits up to `timeout` for its ready line.
    /// Its stderr goes to the test's stderr.
    pub fn start(args: &[&str], timeout: Duration) -> Result<MagnetarProcess> {
        MagnetarProcess::spawn(args, None)?.wait_ready(timeout)
    }

    /// Like [`MagnetarProcess::start`], with stderr appended to `log`
    /// (ANSI colours off), so a test can count and search its log lines.
    pub fn start_with_stderr(
        args: &[&str],
        timeout: Duration,
        log: &Path,
    ) -> Result<MagnetarProcess> {
        MagnetarProcess::spawn(args, Some(log))?.wait_ready(timeout)
    }

    /// Starts `magnetar <args>` without waiting for its ready line; stderr
    /// goes to `stderr_log` (appended) when given.
    pub fn spawn(args: &[&str], stderr_log: Option<&Path>) -> Result<StartingProcess> {
        MagnetarProcess::spawn_on(None, args, stderr_log)
    }

    /// As [`MagnetarProcess::spawn`], inside `host`'s network namespace
    /// when one is given (for this start and every restart).
    pub fn spawn_on(
        host: Option<Arc<Host>>,
        args: &[&str],
        stderr_log: Option<&Path>,
    ) -> Result<StartingProcess> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (child, ready) = spawn_child(&args, stderr_log, host.as_deref())?;
        Ok(StartingProcess {
            child: Some(child),
            ready,
            args,
            stderr_log: stderr_log.map(Path::to_path_buf),
            host,
        })
    }

    /// `pulsar://host:port` of a broker or standalone process.
    pub fn pulsar_url(&self) -> Result<String> {
        Ok(format!("pulsar://{}", self.ready.addr("pulsar")?))
    }

    /// `http://host:port` of a broker or standalone process.
    pub fn http_url(&self) -> Result<String> {
        Ok(format!("http://{}", self.ready.addr("http")?))
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `signal` (`-STOP`, `-CONT`, …) to the process with kill(1).
    pub fn signal(&self, signal: &str) -> Result<()> {
        signal_pid(self.pid().context("the process is not running")?, signal)
    }

    /// The file stderr is appended to, if the process was started with one.
    pub fn stderr_log(&self) -> Option<&Path> {
        self.stderr_log.as_deref()
    }

    /// True while the process runs (it has not exited or been killed).
    pub fn is_alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL, no chance to flush anything.
    pub fn kill9(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("kill -9")?;
            child.wait().context("reap killed process")?;
        }
        Ok(())
    }

    /// SIGTERM, then waits up to `timeout` for the process to exit. A
    /// process still running after that is SIGKILLed and an error returned.
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let mut child = self.child.take().context("process is not running")?;
        let pid = child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("run kill -TERM")?;
        if !sent.success() {
            let _ = child.kill();
            reap(&mut child);
            bail!("kill -TERM {pid} failed: {sent}");
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().context("wait for the process")? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                reap(&mut child);
                bail!(
                    "magnetar {:?} still running {timeout:?} after SIGTERM",
                    self.args
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the same command line again (after `kill9` or `terminate`)
    /// and waits for readiness. A stderr log is appended to.
    pub fn restart(&mut self, timeout: Duration) -> Result<()> {
        self.kill9()?;
        let (child, ready) =
            spawn_child(&self.args, self.stderr_log.as_deref(), self.host.as_deref())?;
        let starting = StartingProcess {
            child: Some(child),
            ready,
            args: self.args.clone(),
            stderr_log: self.stderr_log.clone(),
            host: self.host.clone(),
        };
        *self = starting.wait_ready(timeout)?;
        Ok(())
    }
}

impl Drop for MagnetarProcess {
    fn drop(&mut self) {
        let _ = self.kill9();
    }
}

fn spawn_child(
    args: &[String],
    stderr_log: Option<&Path>,
    host: Option<&Host>,
) -> Result<(Child, mpsc::Receiver<ReadyLine>)> {
    let bin = magnetar_bin();
    if !bin.exists() {
        bail!(
            "{} not found: build it first (`cargo build -p magnetar`)",
            bin.display()
        );
    }
    let mut command = match host {
        Some(host) => host.command(&bin),
        None => Command::new(&bin),
    };
    command
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    match stderr_log {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("open log file {}", path.display()))?;
            command.stderr(Stdio::from(file)).env("NO_COLOR", "1");
        }
        None => {
            command.stderr(Stdio::inherit());
        }
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("spawn {} {args:?}", bin.display()))?;
    let stdout = child.stdout.take().context("child stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Some(ready) = ReadyLine::parse(&line) {
                    let _ = tx.send(ready);
                    sent = true;
                    continue;
                }
            }
            println!("[magnetar stdout] {line}");
        }
    });
    Ok((child, rx))
}
