//! Deduplication across a kill -9: a `magnetar standalone` with
//! deduplication on is killed in the middle of a stream from a producer
//! that keeps retrying (no send timeout, every message with its own
//! sequence id) and restarted on the same ports. Then a second run of the
//! producer sends the whole range again. Each sequence id is stored exactly
//! once, in order.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use magnetar_tests::raft::free_port;
use magnetar_tests::{python, run_python_json, MagnetarProcess};

const COUNT: usize = 20_000;

fn progress(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_retrying_producer_stores_each_message_once_across_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let pulsar_port = free_port().unwrap().to_string();
    let http_port = free_port().unwrap().to_string();
    let mut broker = MagnetarProcess::start(
        &[
            "standalone",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--pulsar-port",
            &pulsar_port,
            "--http-port",
            &http_port,
            "--broker-deduplication-enabled",
            "true",
        ],
        Duration::from_secs(60),
    )
    .unwrap();
    let url = broker.pulsar_url().unwrap();
    let topic = "persistent://public/default/dedup-crash";
    let count = COUNT.to_string();
    let progress_file = tempfile::NamedTempFile::new().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/dedup_producer.py");
    let producer = Command::new(python().unwrap())
        .arg(&script)
        .args([
            "produce",
            url.as_str(),
            topic,
            &count,
            progress_file.path().to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    while progress(progress_file.path()) < COUNT / 4 {
        assert!(Instant::now() < deadline, "producer made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let at_crash = progress(progress_file.path());
    broker.restart(Duration::from_secs(60)).unwrap();
    assert!(at_crash < COUNT, "the crash came after the stream ended");

    // The client reconnects and resends what had no receipt; the script
    // ends once every message has one (it gives up after 120 s).
    let output = producer.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let first: serde_json::Value = stdout
        .lines()
        .rfind(|line| line.starts_with('{'))
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("producer printed no result: {stdout}"));
    assert_eq!(first["ok"], true, "first run: {first}");
    assert_eq!(first["last_after"], COUNT as i64, "{first}");

    // A second process with the same producer name sends everything again:
    // it resumes after the last stored sequence id, and nothing is stored.
    let again = run_python_json(
        "dedup_producer.py",
        &[
            "produce",
            &url,
            topic,
            &count,
            progress_file.path().to_str().unwrap(),
        ],
        Duration::from_secs(150),
    )
    .unwrap();
    assert_eq!(again["ok"], true, "second run: {again}");
    assert_eq!(again["last_before"], COUNT as i64, "{again}");
    assert_eq!(again["duplicate_receipts"], COUNT, "{again}");

    let consumed = run_python_json(
        "dedup_producer.py",
        &["consume", &url, topic],
        Duration::from_secs(120),
    )
    .unwrap();
    let payloads: Vec<u64> = consumed["payloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (0..COUNT as u64).collect();
    if payloads != expected {
        let mut seen = std::collections::HashMap::new();
        for p in &payloads {
            *seen.entry(*p).or_insert(0) += 1;
        }
        let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(10).collect();
        let missing: Vec<_> = expected
            .iter()
            .filter(|p| !seen.contains_key(p))
            .take(10)
            .collect();
        panic!(
            "stored {} messages for {COUNT}: duplicated {duplicated:?}, missing {missing:?}",
            payloads.len()
        );
    }
}
