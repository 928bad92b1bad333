//! Kill -9 loop: a real bookie process is SIGKILLed while a client streams
//! adds; after every restart each entry that was acknowledged must read back
//! byte-identical.
//!
//! Drives the `bookie_crash_target` example (built by `cargo test`/nextest).

mod server_common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use magnetar_bookie::digest::decode_entry;
use magnetar_proto::bookie::StatusCode;
use parking_lot::Mutex;
use server_common::*;

/// Kills the child when dropped, so a failing test leaves no process behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = target_dir.join("examples").join("bookie_crash_target");
    assert!(
        path.exists(),
        "{} missing: build with `cargo test -p magnetar-bookie`",
        path.display()
    );
    path
}

async fn spawn_bookie(data_dir: &Path) -> (KillOnDrop, SocketAddr) {
    let mut child = Command::new(example_binary())
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = KillOnDrop(child);
    let line = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        }),
    )
    .await
    .expect("bookie printed its address in time")
    .unwrap()
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .expect("address line")
        .parse()
        .unwrap();
    (guard, addr)
}

/// Reads every acked entry back (32 reads in flight) and checks its bytes.
async fn assert_all_readable(client: &Client, acked: &[(i64, i64)]) {
    futures::stream::iter(acked.iter().copied())
        .map(|(ledger_id, entry_id)| {
            let mut client = client.clone();
            async move {
                let response = read(&mut client, ledger_id, entry_id).await;
                assert_eq!(
                    status(response.status),
                    StatusCode::StatusOk,
                    "acked ledger {ledger_id} entry {entry_id} lost"
                );
                let entry = decode_entry(&response.body).unwrap();
                assert_eq!(
                    entry.payload.as_ref(),
                    payload(ledger_id, entry_id, 512).as_slice()
                );
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
}

/// Adds streamed per round (the kill usually lands before they are all acked).
const ENTRIES_PER_ROUND: i64 = 2000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "hangs in the first round before the first kill; cause not yet found"]
async fn every_acked_entry_survives_repeated_sigkill() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let k = key("pw");
    let mut acked_total: Vec<(i64, i64)> = Vec::new();
    for iteration in 0..10i64 {
        let (mut child, addr) = spawn_bookie(dir.path()).await;
        let mut client = connect(addr).await;
        assert_all_readable(&client, &acked_total).await;

        let ledger_id = 100 + iteration;
        let requests = futures::stream::iter(0..ENTRIES_PER_ROUND).map({
            let k = k.clone();
            move |entry_id| {
                add_request(
                    ledger_id,
                    entry_id,
                    &k,
                    0,
                    &payload(ledger_id, entry_id, 512),
                )
            }
        });
        let mut responses = client.add_entries(requests).await.unwrap().into_inner();
        let acked = Arc::new(Mutex::new(Vec::new()));
        let collector = tokio::spawn({
            let acked = acked.clone();
            async move {
                while let Ok(Some(response)) = responses.message().await {
                    if response.status == StatusCode::StatusOk as i32 {
                        acked.lock().push((response.ledger_id, response.entry_id));
                    }
                }
            }
        });
        // Let some adds complete, then kill at a different moment each time.
        let ok = wait_for(Duration::from_secs(10), async || acked.lock().len() >= 20).await;
        assert!(ok, "adds were acknowledged before the kill");
        tokio::time::sleep(Duration::from_millis(20 + 37 * iteration as u64)).await;
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        // Acks received before the kill are in `acked`; the stream ends now.
        let _ = tokio::time::timeout(Duration::from_secs(10), collector).await;
        let acked_now = acked.lock().clone();
        tracing::info!(iteration, acked = acked_now.len(), "killed bookie");
        acked_total.extend(acked_now);
    }
    let (_child, addr) = spawn_bookie(dir.path()).await;
    let client = connect(addr).await;
    assert_all_readable(&client, &acked_total).await;
}
