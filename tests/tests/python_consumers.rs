//! Subscription types, readers, seek, negative acks, dead letters and
//! delayed delivery through the official Python `pulsar-client` against a
//! real `magnetar standalone`.

use std::time::Duration;

use magnetar_tests::{run_python_ok, Standalone};

fn run(script: &str, args: &[&str], timeout_secs: u64) -> serde_json::Value {
    run_python_ok(script, args, Duration::from_secs(timeout_secs))
}

#[test]
fn failover_hands_over_in_order() {
    let standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    run("failover_consumers.py", &[&url, "py-failover"], 120);
}

#[test]
fn key_shared_keeps_each_key_in_order_while_consumers_change() {
    let standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let result = run(
        "key_shared_consumers.py",
        &[&url, "py-key-shared", "3000"],
        180,
    );
    assert_eq!(result["missing"], 0, "{result}");
}

#[test]
fn readers_and_seek() {
    let standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let admin = standalone.http_url().unwrap();
    run(
        "readers_seek.py",
        &[&url, &admin, "persistent://public/default/py-readers"],
        120,
    );
}

#[test]
fn negative_acks_dead_letters_and_delayed_delivery() {
    let standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    run(
        "redelivery.py",
        &[&url, "persistent://public/default/py-redelivery"],
        120,
    );
}

#[test]
fn pattern_subscriptions_take_the_matching_topics() {
    let standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    run("pattern_subscribe.py", &[&url, "t1"], 120);
}
