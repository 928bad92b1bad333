//! Kill -9 loop: a real bookie process is SIGKILLed while a client streams
//! adds; after every restart each entry that was acknowledged must read back
//! byte-identical.
//!
//! The kill is triggered by the number of acks received, not by a timer: a
//! bookie on a fast disk acks a short stream before any fixed delay ends, and
//! the kill would then never hit an add in flight. Every wait is bounded, so
//! a stall fails with the name of its step instead of hanging.
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
use magnetar_proto::bookie::{AddBatch, StatusCode};
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

/// Rounds of the kill loop (each one a new bookie process on the same data dir).
const ROUNDS: i64 = 10;
/// Adds offered per round. The kill comes long before they are all acked;
/// the stream is lazy, so only what flow control lets through is built.
const MAX_ADDS_PER_ROUND: i64 = 20_000;
/// Bound on every wait of the loop, so a stall fails with its step's name.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Acks after which round `round` kills the bookie: a different point of
/// the write path each round.
fn kill_after_acks(round: i64) -> usize {
    100 + 300 * round as usize
}

async fn within<T>(what: &str, step: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP_TIMEOUT, step)
        .await
        .unwrap_or_else(|_| panic!("{what}: no progress within {STEP_TIMEOUT:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acked_entry_survives_repeated_sigkill() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let k = key("pw");
    let mut acked_total: Vec<(i64, i64)> = Vec::new();
    let mut kills_mid_stream = 0;
    for round in 0..ROUNDS {
        let (mut child, addr) = spawn_bookie(dir.path()).await;
        let mut client = within("connect", connect(addr)).await;
        within(
            "read back every entry acked so far",
            assert_all_readable(&client, &acked_total),
        )
        .await;

        let ledger_id = 100 + round;
        let requests = futures::stream::iter(0..MAX_ADDS_PER_ROUND).map({
            let k = k.clone();
            move |entry_id| AddBatch {
                adds: vec![add_request(
                    ledger_id,
                    entry_id,
                    &k,
                    0,
                    &payload(ledger_id, entry_id, 512),
                )],
            }
        });
        let mut responses = within("open the add stream", client.add_entries(requests))
            .await
            .unwrap()
            .into_inner();
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (threshold_reached, kill_now) = tokio::sync::oneshot::channel();
        let threshold = kill_after_acks(round);
        let collector = tokio::spawn({
            let acked = acked.clone();
            async move {
                let mut threshold_reached = Some(threshold_reached);
                // Ends when the kill breaks the stream (or it completes).
                while let Ok(Some(batch)) = responses.message().await {
                    for response in batch.responses {
                        assert_eq!(
                            status(response.status),
                            StatusCode::StatusOk,
                            "add of ledger {} entry {} refused: {}",
                            response.ledger_id,
                            response.entry_id,
                            response.message
                        );
                        let mut acked = acked.lock();
                        acked.push((response.ledger_id, response.entry_id));
                        if acked.len() >= threshold {
                            if let Some(reached) = threshold_reached.take() {
                                let _ = reached.send(());
                            }
                        }
                    }
                }
            }
        });
        within("acks before the kill", kill_now)
            .await
            .expect("the add stream acked the threshold before it ended");
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        // Acks received before the kill are in `acked`; the stream breaks now.
        within("the add stream ends after the kill", collector)
            .await
            .expect("collector saw only OK acks");
        let acked_now = acked.lock().clone();
        if (acked_now.len() as i64) < MAX_ADDS_PER_ROUND {
            kills_mid_stream += 1;
        }
        tracing::info!(round, acked = acked_now.len(), "killed bookie");
        acked_total.extend(acked_now);
    }
    assert!(
        kills_mid_stream >= ROUNDS / 2,
        "only {kills_mid_stream} of {ROUNDS} kills landed while adds were in flight"
    );
    let (_child, addr) = spawn_bookie(dir.path()).await;
    let client = within("connect", connect(addr)).await;
    within(
        "final read back",
        assert_all_readable(&client, &acked_total),
    )
    .await;
}
