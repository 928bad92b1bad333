//! kill -9 of `magnetar standalone` in the middle of a produce stream: every
//! message whose receipt reached the producer is consumable after restart, in
//! order; acked messages older than the ack-persistence window are not
//! redelivered.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use magnetar_tests::stream::consume_seqs;
use magnetar_tests::{python, run_python, Standalone};

fn consumed_seqs(
    url: &str,
    topic: &str,
    subscription: &str,
    ack: bool,
    max: Option<usize>,
) -> Vec<u64> {
    consume_seqs(url, topic, subscription, ack, max).expect("consumer runs")
}

fn read_receipts(path: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn receipted_messages_survive_kill_9() {
    let mut standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let topic = "persistent://public/default/crash-stream";
    // Create the subscription first: as in Pulsar (retention 0), entries no
    // durable subscription needs are trimmed, so the subscription is what
    // keeps the stream.
    assert!(consumed_seqs(&url, topic, "after-crash", false, Some(0)).is_empty());
    let receipts = tempfile::NamedTempFile::new().unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/durable_producer.py");
    let mut producer = Command::new(python().unwrap())
        .arg(script)
        .args([
            url.as_str(),
            topic,
            receipts.path().to_str().unwrap(),
            "1000000",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    // Let the stream run until a few thousand receipts arrived (bounded).
    let deadline = Instant::now() + Duration::from_secs(60);
    while read_receipts(receipts.path()).len() < 3000 {
        assert!(Instant::now() < deadline, "producer made no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    standalone.process.kill9().unwrap();
    // The producer notices the dead broker and exits; never wait forever.
    let stop = Instant::now() + Duration::from_secs(30);
    while producer.try_wait().unwrap().is_none() && Instant::now() < stop {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = producer.kill();
    let _ = producer.wait();
    let acknowledged = read_receipts(receipts.path());
    assert!(acknowledged.len() >= 3000);

    standalone.crash_and_restart().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let consumed = consumed_seqs(&url, topic, "after-crash", false, None);

    assert!(
        consumed.windows(2).all(|w| w[0] < w[1]),
        "consumed out of order or duplicated"
    );
    let consumed_set: HashSet<u64> = consumed.iter().copied().collect();
    let lost: Vec<u64> = acknowledged
        .iter()
        .copied()
        .filter(|s| !consumed_set.contains(s))
        .take(10)
        .collect();
    assert!(
        lost.is_empty(),
        "receipted messages lost after kill -9: {lost:?} (of {})",
        acknowledged.len()
    );
}

#[test]
fn persisted_acks_are_not_redelivered_after_kill_9() {
    let mut standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let topic = "persistent://public/default/crash-acks";
    let out = run_python(
        "produce_consume.py",
        &[&url, topic, "1000", "off", "none"],
        Duration::from_secs(120),
    )
    .unwrap();
    assert!(
        out.lines()
            .any(|l| l.starts_with('{') && l.contains("\"ok\": true")),
        "{out}"
    );

    // Ack the first 400 on a second subscription, then wait well past the
    // documented unpersisted-ack window (1 s) before crashing.
    let first = consumed_seqs(&url, topic, "acker", true, Some(400));
    assert_eq!(first, (0..400).collect::<Vec<u64>>());
    std::thread::sleep(Duration::from_secs(3));
    standalone.crash_and_restart().unwrap();

    let url = standalone.pulsar_url().unwrap();
    let rest = consumed_seqs(&url, topic, "acker", false, None);
    assert_eq!(
        rest.first().copied(),
        Some(400),
        "acked messages were redelivered"
    );
    assert_eq!(rest.len(), 600);
}
