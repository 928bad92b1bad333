//! Running the official Python `pulsar-client` from tests.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

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
/// after `timeout`. Returns stdout (scripts print one JSON object).
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
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            bail!(
                "{script} timed out after {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "{script} failed ({})\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}
