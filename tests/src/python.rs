//! Running the official Python `pulsar-client` from tests.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

/// The Python interpreter with `pulsar-client`: `$MAGNETAR_PYTHON`, else
/// `.venv/bin/python` at the repository root (created by `.ci/run`).
pub fn python() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("MAGNETAR_PYTHON") {
        return Ok(PathBuf::from(path));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        return Ok(venv);
    }
    bail!("no Python with pulsar-client: set MAGNETAR_PYTHON or run .ci/run to create .venv")
}

/// Runs `tests/python/<script>` with `args`, failing on a non-zero exit or
/// after `timeout`. Returns stdout (scripts print one JSON object). Both
/// pipes are drained while the script runs: the client library logs to
/// stdout, and a full pipe would block it.
pub fn run_python(script: &str, args: &[&str], timeout: Duration) -> Result<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let mut child = Command::new(python()?)
        .arg(&path)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn python {}", path.display()))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    match status {
        None => bail!("{script} timed out after {timeout:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"),
        Some(status) if !status.success() => {
            bail!("{script} failed ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}")
        }
        Some(_) => Ok(stdout),
    }
}

/// Reads a child's pipe to its end on a thread.
fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs a script like [`run_python`] and parses the last line of its
/// stdout that starts with `{` (the script's JSON result).
pub fn run_python_json(script: &str, args: &[&str], timeout: Duration) -> Result<Value> {
    let out = run_python(script, args, timeout)?;
    let line = out
        .lines()
        .rfind(|line| line.starts_with('{'))
        .with_context(|| format!("{script} printed no JSON: {out}"))?;
    serde_json::from_str(line).with_context(|| format!("parse the output of {script}: {line}"))
}

/// Runs a script that reports `{"ok": …}` and panics, with its output,
/// unless it ran and said `"ok": true` (for tests).
pub fn run_python_ok(script: &str, args: &[&str], timeout: Duration) -> Value {
    let result = run_python_json(script, args, timeout)
        .unwrap_or_else(|error| panic!("{script}: {error:#}"));
    assert_eq!(result["ok"], true, "{script}: {result}");
    result
}

/// Produces `count` messages to `topic` through `url` (batching on, no
/// compression) with `produce_consume.py`, consumes them on a new
/// subscription, and fails unless all came back in order.
pub fn produce_consume(url: &str, topic: &str, count: usize) -> Result<Value> {
    let count_arg = count.to_string();
    let args = [url, topic, count_arg.as_str(), "on", "none"];
    let out = run_python_json("produce_consume.py", &args, Duration::from_secs(180))
        .with_context(|| format!("produce and consume {topic} through {url}"))?;
    ensure!(
        out["consumed"].as_u64() == Some(count as u64),
        "produce and consume {topic} through {url}: {out}"
    );
    Ok(out)
}

/// A script that runs in the background until told to stop: it gets a
/// working directory after `url` and `topic` (`script URL TOPIC DIR ARGS...`),
/// writes what it observes there as it goes, stops once `DIR/stop` exists and
/// prints one JSON summary. Its stdout goes to `DIR/stdout`, so the client
/// library's logging can never fill a pipe and block it. Killed on drop.
pub struct BackgroundScript {
    child: Option<std::process::Child>,
    dir: tempfile::TempDir,
    script: String,
}

impl BackgroundScript {
    pub fn start(
        script: &str,
        url: &str,
        topic: &str,
        args: &[String],
    ) -> Result<BackgroundScript> {
        let dir = tempfile::Builder::new()
            .prefix("magnetar-script-")
            .tempdir()
            .context("create script dir")?;
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("python")
            .join(script);
        let stdout =
            std::fs::File::create(dir.path().join("stdout")).context("create stdout file")?;
        let child = Command::new(python()?)
            .arg(path)
            .args([url, topic, &dir.path().to_string_lossy()])
            .args(args)
            .stdout(stdout)
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .with_context(|| format!("spawn {script}"))?;
        Ok(BackgroundScript {
            child: Some(child),
            dir,
            script: script.to_string(),
        })
    }

    /// The text of `DIR/name` so far (empty when absent).
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Asks the script to stop, waits up to `limit` for it to exit, and
    /// returns its JSON summary.
    pub fn stop(&mut self, limit: Duration) -> Result<Value> {
        std::fs::write(self.dir.path().join("stop"), b"").context("create stop file")?;
        let mut child = self.child.take().context("script already stopped")?;
        let deadline = std::time::Instant::now() + limit;
        while child.try_wait()?.is_none() {
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{} did not stop within {limit:?}", self.script);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let stdout = self.read("stdout");
        let line = stdout
            .lines()
            .rfind(|line| line.starts_with('{'))
            .with_context(|| format!("no JSON summary from {}: {stdout}", self.script))?;
        serde_json::from_str(line).with_context(|| format!("parse the summary of {}", self.script))
    }
}

impl Drop for BackgroundScript {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
