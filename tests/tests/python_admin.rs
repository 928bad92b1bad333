//! Topic stats, the `pulsar_*` metrics and the subscription operations of
//! the admin API, through the official Python `pulsar-client` and the
//! Python `prometheus_client` parser against a real `magnetar standalone`.

use std::time::Duration;

use magnetar_tests::{run_python_ok, Standalone};

#[test]
fn stats_metrics_and_subscription_operations() {
    let standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let admin = standalone.http_url().unwrap();
    run_python_ok(
        "admin_operations.py",
        &["all", &url, &admin],
        Duration::from_secs(180),
    );
}

#[test]
fn metrics_summed_per_namespace_when_topic_level_is_off() {
    let standalone =
        Standalone::start_with(&["--expose-topic-level-metrics-in-prometheus", "false"]).unwrap();
    let url = standalone.pulsar_url().unwrap();
    let admin = standalone.http_url().unwrap();
    run_python_ok(
        "admin_operations.py",
        &["namespace-metrics", &url, &admin],
        Duration::from_secs(120),
    );
}

#[test]
fn namespace_policies_take_effect() {
    let standalone = Standalone::start_with(&[
        "--policy-check-interval-ms",
        "500",
        "--managed-ledger-max-entries-per-ledger",
        "10",
        "--managed-ledger-min-ledger-rollover-time-minutes",
        "0",
    ])
    .unwrap();
    let url = standalone.pulsar_url().unwrap();
    let admin = standalone.http_url().unwrap();
    run_python_ok(
        "namespace_policies.py",
        &[&url, &admin],
        Duration::from_secs(240),
    );
}

#[test]
fn usage_policies_take_effect() {
    let standalone = Standalone::start_with(&["--policy-check-interval-ms", "300"]).unwrap();
    let url = standalone.pulsar_url().unwrap();
    let admin = standalone.http_url().unwrap();
    run_python_ok(
        "usage_policies.py",
        &[&url, &admin],
        Duration::from_secs(240),
    );
}
