//! Benchmarks, not tests (ignored; `scripts/bench cluster` runs them), on
//! brokers over 3 bookies (E=3, Qw=3, Qa=2) and etcd.
//!
//! 1. How long a topic cannot take messages when its owner is unloaded by
//!    hand or killed, on 3 brokers. Each trial streams unbatched messages
//!    at 200 msg/s through the official Python client (all brokers in its
//!    service URL) to a fresh topic, injects the fault, and takes the
//!    longest gap between receipts from the fault on. Prints p50, p99 (with 20 trials, the largest) and the maximum of each.
//!    `BENCH_TRIALS` (20) and `BENCH_SESSION_MS` (the brokers' session
//!    timeout, 3000) change the defaults.
//! 2. Aggregate produce throughput over 100 topics (1 KiB, batching on, one
//!    Python client process) on 1 broker, then on 3 brokers, each on a fresh
//!    cluster. `BENCH_SECONDS` (20) and `BENCH_TOPICS` (100).

use std::time::Duration;

use magnetar_tests::probe::{now_secs, AvailabilityProbe};
use magnetar_tests::wait::{blocking, run_scenario};
use magnetar_tests::{run_python_json, BrokerCluster};

const NAMESPACE: &str = "public/availability";
const RATE: u32 = 200;
const STOP_LIMIT: Duration = Duration::from_secs(60);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Nearest-rank percentile of `values` (sorted here).
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, windows: &[f64]) {
    println!(
        "BENCH {name}: trials={} p50={:.0}ms p99={:.0}ms max={:.0}ms all={:?}",
        windows.len(),
        percentile(windows, 50.0) * 1000.0,
        percentile(windows, 99.0) * 1000.0,
        percentile(windows, 100.0) * 1000.0,
        windows
            .iter()
            .map(|w| (w * 1000.0).round() as u64)
            .collect::<Vec<_>>()
    );
}

/// Starts a probe on a fresh topic and waits until receipts flow.
fn probe(cluster: &BrokerCluster, topic: &str) -> AvailabilityProbe {
    let url = cluster.service_url().expect("service url");
    let probe = AvailabilityProbe::start(&url, topic, RATE).expect("start the probe");
    probe
        .wait_for_receipt_after(now_secs() + 1.0, Duration::from_secs(60))
        .expect("receipts flow");
    probe
}

/// The window of one fault injected by `fault` at `t0`.
fn window(mut probe: AvailabilityProbe, t0: f64, limit: Duration) -> f64 {
    probe
        .wait_for_receipt_after(t0 + 1.0, limit)
        .expect("the topic takes messages again");
    std::thread::sleep(Duration::from_millis(500));
    let gap = probe
        .longest_gap_from(t0)
        .expect("receipts after the fault");
    let summary = probe.stop(STOP_LIMIT).expect("stop the probe");
    assert_eq!(
        summary["errors"].as_u64(),
        Some(0),
        "no send failed: {summary}"
    );
    gap
}

#[test]
#[ignore = "benchmark: run by scripts/bench cluster"]
fn unavailability_windows_of_unload_and_crash() {
    let trials = env_or("BENCH_TRIALS", 20);
    let session_ms = env_or("BENCH_SESSION_MS", 3000).to_string();
    run_scenario(async move {
        let flags = [
            "--session-timeout-ms",
            session_ms.as_str(),
            "--load-report-interval-ms",
            "1000",
            "--shedding-enabled",
            "false",
        ];
        let mut cluster = BrokerCluster::start(3, &flags)
            .await
            .expect("etcd, 3 bookies and 3 brokers");
        cluster
            .create_namespace(NAMESPACE, 16)
            .expect("create the namespace");

        let mut unloads = Vec::new();
        for trial in 0..trials {
            let topic = format!("persistent://{NAMESPACE}/unload-{trial}");
            let gap = blocking(|| {
                let probe = probe(&cluster, &topic);
                let bundle = cluster.bundle_of(&topic).expect("bundle");
                let t0 = now_secs();
                cluster
                    .unload_bundle(0, NAMESPACE, &bundle)
                    .expect("unload the bundle");
                window(probe, t0, Duration::from_secs(30))
            });
            unloads.push(gap);
        }
        summary("planned unload", &unloads);

        let mut crashes = Vec::new();
        for trial in 0..trials {
            let topic = format!("persistent://{NAMESPACE}/crash-{trial}");
            let (gap, owner) = blocking(|| {
                let probe = probe(&cluster, &topic);
                let owner = cluster.owner_index(&topic).expect("owner");
                let t0 = now_secs();
                cluster.kill9(owner).expect("kill -9 of the owner");
                (window(probe, t0, Duration::from_secs(60)), owner)
            });
            crashes.push(gap);
            cluster.restart(owner).await.expect("restart the broker");
        }
        summary(
            &format!("crash failover (session {session_ms} ms)"),
            &crashes,
        );
    });
}

#[test]
#[ignore = "benchmark: run by scripts/bench cluster"]
fn aggregate_throughput_one_broker_against_three() {
    let seconds = env_or("BENCH_SECONDS", 20).to_string();
    let topics = env_or("BENCH_TOPICS", 100).to_string();
    run_scenario(async move {
        for brokers in [1, 3] {
            let cluster = BrokerCluster::start(brokers, &["--shedding-enabled", "false"])
                .await
                .expect("etcd, 3 bookies and the brokers");
            cluster
                .create_namespace("public/load", 16)
                .expect("create the namespace");
            let url = cluster.service_url().expect("service url");
            let args = [
                url.as_str(),
                "public/load",
                topics.as_str(),
                seconds.as_str(),
            ];
            let out = blocking(|| {
                run_python_json("multi_topic_produce.py", &args, Duration::from_secs(600))
            })
            .expect("multi_topic_produce.py");
            let owners = cluster.ownership("public/load").expect("ownership");
            println!(
                "BENCH throughput brokers={brokers} topics={topics} msg_per_sec={} bundles_per_broker={:?}",
                out["msg_per_sec"],
                (0..brokers)
                    .map(|i| owners.values().filter(|&&o| o == i).count())
                    .collect::<Vec<_>>()
            );
        }
    });
}
