//! Spawning and supervising `magnetar` child processes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

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
}

impl MagnetarProcess {
    /// Starts `magnetar <args>` and waits up to `timeout` for its ready line.
    pub fn start(args: &[&str], timeout: Duration) -> Result<MagnetarProcess> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (child, ready) = spawn_and_wait(&args, timeout)?;
        Ok(MagnetarProcess {
            child: Some(child),
            ready,
            args,
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

    /// Starts the same command line again (after `kill9`) and waits for readiness.
    pub fn restart(&mut self, timeout: Duration) -> Result<()> {
        self.kill9()?;
        let (child, ready) = spawn_and_wait(&self.args, timeout)?;
        self.child = Some(child);
        self.ready = ready;
        Ok(())
    }
}

impl Drop for MagnetarProcess {
    fn drop(&mut self) {
        let _ = self.kill9();
    }
}

fn spawn_and_wait(args: &[String], timeout: Duration) -> Result<(Child, ReadyLine)> {
    let bin = magnetar_bin();
    if !bin.exists() {
        bail!(
            "{} not found: build it first (`cargo build -p magnetar`)",
            bin.display()
        );
    }
    let mut child = Command::new(&bin)
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
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
    match rx.recv_timeout(timeout) {
        Ok(ready) => Ok((child, ready)),
        Err(_) => {
            let _ = child.kill();
            let status = child.wait().ok();
            bail!("magnetar {args:?} not ready within {timeout:?} (exit status: {status:?})")
        }
    }
}
