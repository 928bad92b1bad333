//! Benchmark, not a test (ignored; `scripts/bench compose` runs it): the
//! produce throughput of the compose stack beside the same workload on bare
//! processes, in one run, so that the cost of containers shows.
//!
//! Both clusters are etcd, 3 bookies and 2 brokers with E=3, Qw=3, Qa=2.
//! The workload is `magnetar perf produce` (the raw client, 1 KiB,
//! batching on, unlimited rate, `BENCH_SECONDS`, default 10) to a fresh
//! topic, `BENCH_TRIALS` (3) times for each of:
//! 1. bare processes, the client on the host, straight to the brokers;
//! 2. compose, the client on the host, through the proxy;
//! 3. compose, the client in a container on the compose network, straight
//!    to the brokers.
//!
//! Prints the median msg/s of each and its ratio to the bare run.

use std::process::Command;

use magnetar_tests::compose::{build_images, docker, ComposeStack, TEST_IMAGE};
use magnetar_tests::wait::{blocking, run_scenario};
use magnetar_tests::{magnetar_bin, BrokerCluster};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// msg/s of a `perf produce` summary line.
fn throughput(stdout: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("produce summary:"))
        .unwrap_or_else(|| panic!("no summary in:\n{stdout}"));
    let before = line.split(" msg/s").next().unwrap_or_default();
    before
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no msg/s in {line}"))
}

fn perf_args(url: &str, topic: &str, seconds: u64) -> Vec<String> {
    [
        "perf",
        "produce",
        "--url",
        url,
        "--duration",
        &seconds.to_string(),
        topic,
    ]
    .map(str::to_string)
    .to_vec()
}

fn on_host(url: &str, topic: &str, seconds: u64) -> f64 {
    let out = Command::new(magnetar_bin())
        .args(perf_args(url, topic, seconds))
        .output()
        .expect("run perf produce");
    assert!(
        out.status.success(),
        "perf produce: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    throughput(&String::from_utf8_lossy(&out.stdout))
}

fn in_container(network: &str, url: &str, topic: &str, seconds: u64) -> f64 {
    let mut args = vec![
        "run".to_string(),
        "--rm".into(),
        "--network".into(),
        network.into(),
        TEST_IMAGE.into(),
    ];
    args.extend(perf_args(url, topic, seconds));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    throughput(&docker(&args).expect("perf produce in a container"))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[test]
#[ignore = "benchmark: scripts/bench compose"]
fn compose_against_bare_processes() {
    let trials = env_or("BENCH_TRIALS", 3);
    let seconds = env_or("BENCH_SECONDS", 10);

    let mut bare = Vec::new();
    run_scenario(async {
        let cluster = BrokerCluster::start(2, &[]).await.expect("bare cluster");
        let url = cluster.service_url().expect("service url");
        let url = url.split(',').next().unwrap_or(&url).to_string();
        for trial in 0..trials {
            bare.push(blocking(|| {
                on_host(&url, &format!("bench-bare-{trial}"), seconds)
            }));
        }
    });

    build_images().expect("images");
    let mut stack = ComposeStack::new("bench").expect("compose project");
    for (name, value) in [
        ("MAGNETAR_ENSEMBLE_SIZE", "3"),
        ("MAGNETAR_WRITE_QUORUM", "3"),
        ("MAGNETAR_ACK_QUORUM", "2"),
    ] {
        stack.set_env(name, value);
    }
    stack
        .up(2, std::time::Duration::from_secs(240))
        .expect("compose up");
    let (mut proxied, mut inside) = (Vec::new(), Vec::new());
    for trial in 0..trials {
        proxied.push(on_host(
            &stack.pulsar_url(),
            &format!("bench-proxy-{trial}"),
            seconds,
        ));
        inside.push(in_container(
            &stack.network(),
            "pulsar://broker:6650",
            &format!("bench-inside-{trial}"),
            seconds,
        ));
    }
    let (bare, proxied, inside) = (median(&mut bare), median(&mut proxied), median(&mut inside));
    println!("BENCH compose: produce 1 KiB batched, unlimited, {seconds} s x {trials}, medians");
    println!("BENCH   bare processes, host client:    {bare:.0} msg/s");
    println!(
        "BENCH   compose, host through proxy:    {proxied:.0} msg/s ({:.2}x bare)",
        proxied / bare
    );
    println!(
        "BENCH   compose, client in the network: {inside:.0} msg/s ({:.2}x bare)",
        inside / bare
    );
}
