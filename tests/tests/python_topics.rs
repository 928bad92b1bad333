//! Partitioned topics, auto-creation, producer access modes, chunked
//! messages, schemas and terminated topics through the official Python
//! `pulsar-client` against a real `magnetar standalone`.

use std::time::Duration;

use magnetar_tests::{run_python_ok, Standalone};

fn run(script: &str, args: &[&str], timeout_secs: u64) -> serde_json::Value {
    run_python_ok(script, args, Duration::from_secs(timeout_secs))
}

#[test]
fn partitioned_topics_and_producer_access_modes() {
    let standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let admin = standalone.http_url().unwrap();
    run("partitioned_topics.py", &[&url, &admin], 180);
    run(
        "producer_access_modes.py",
        &[&url, "persistent://public/default/py-access-modes"],
        120,
    );
    run(
        "chunking.py",
        &[&url, "persistent://public/default/py-chunking"],
        180,
    );
}

#[test]
fn terminated_topics_stay_terminated_across_a_crash() {
    let mut standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let admin = standalone.http_url().unwrap();
    run("terminate.py", &["all", &url, &admin], 180);
    standalone.crash_and_restart().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let admin = standalone.http_url().unwrap();
    run("terminate.py", &["check", &url, &admin], 120);
}

#[test]
fn schemas_evolve_and_survive_a_crash() {
    let mut standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let admin = standalone.http_url().unwrap();
    run("schemas.py", &["all", &url, &admin], 180);
    standalone.crash_and_restart().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let admin = standalone.http_url().unwrap();
    run("schemas.py", &["check", &url, &admin], 120);
}
