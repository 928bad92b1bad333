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
