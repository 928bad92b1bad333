//! The benchmark tools run end to end: `magnetar perf disk` in both of its
//! modes, and `magnetar perf produce` keeping its pace against a real
//! standalone broker. Their numbers are not judged here, only that they
//! measure what they claim to, and that the raw producer, like the
//! official clients, survives its topic being unloaded under it.

use std::process::{Command, Stdio};
use std::time::Duration;

use magnetar_tests::http::http_put;
use magnetar_tests::process::magnetar_bin;
use magnetar_tests::Standalone;

/// Runs `magnetar args...`, requires success, and returns its stdout.
fn run_magnetar(args: &[&str]) -> String {
    let output = Command::new(magnetar_bin())
        .args(args)
        .output()
        .expect("run magnetar");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "magnetar {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The number before `marker` on the summary line starting with `prefix`.
fn summary_count(stdout: &str, prefix: &str, marker: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' line in:\n{stdout}"));
    let before = line
        .split(marker)
        .next()
        .unwrap_or_else(|| panic!("no '{marker}' in '{line}'"));
    before
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count before '{marker}' in '{line}'"))
}

/// `magnetar perf produce` at 2,000 msg/s for `seconds` to `topic`.
fn paced_produce<'a>(url: &'a str, seconds: &'a str, topic: &'a str) -> [&'a str; 9] {
    [
        "perf",
        "produce",
        "--url",
        url,
        "--rate",
        "2000",
        "--duration",
        seconds,
        topic,
    ]
}

#[test]
fn perf_disk_appends_or_overwrites_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    for extra in [&[][..], &["--preallocated-mib", "1"][..]] {
        let mut args = vec![
            "perf",
            "disk",
            "--dir",
            path,
            "--size",
            "4096",
            "--duration",
            "1",
        ];
        args.extend_from_slice(extra);
        let stdout = run_magnetar(&args);
        let writes = summary_count(&stdout, "disk summary:", "writes of 4096 B");
        assert!(writes > 0, "no write was timed with {extra:?}:\n{stdout}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "perf disk left files behind: {left:?}");
}

#[test]
fn perf_produce_keeps_its_pace_with_batching() {
    let standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let stdout = run_magnetar(&paced_produce(&url, "2", "perf-pace"));
    let sent = summary_count(&stdout, "produce summary:", "msgs in");
    // 2,000/s for 2 s, paced by deadlines rather than by counting: a timer
    // that woke late or never would show here.
    assert!(
        (3_960..=4_040).contains(&sent),
        "expected about 4,000 receipts, got {sent}:\n{stdout}"
    );
}

#[test]
fn perf_produce_survives_its_topic_being_unloaded() {
    let standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let admin = standalone.http_url().unwrap();
    let admin = admin.trim_start_matches("http://");
    let producer = Command::new(magnetar_bin())
        .args(paced_produce(&url, "4", "perf-unload"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start magnetar perf produce");
    // Twice while it produces, the broker closes the topic and with it the
    // producer (CLOSE_PRODUCER); the producer must look the topic up again
    // and resend what had no receipt.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(1_200));
        let unloaded = http_put(
            admin,
            "/admin/v2/persistent/public/default/perf-unload/unload",
            "",
        )
        .unwrap();
        assert_eq!(unloaded.status, 204, "unload: {}", unloaded.body);
    }
    let output = producer.wait_with_output().expect("wait for perf produce");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "perf produce failed across the unloads: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sent = summary_count(&stdout, "produce summary:", "msgs in");
    assert!(
        (7_900..=8_100).contains(&sent),
        "expected about 8,000 receipts across two unloads, got {sent}:\n{stdout}"
    );
}
