//! The official Python `pulsar-client` against a real `magnetar standalone`.

use std::time::Duration;

use magnetar_tests::{run_python, Standalone};
use serde_json::Value;

fn run_json(script: &str, args: &[&str], timeout_secs: u64) -> Value {
    let out = run_python(script, args, Duration::from_secs(timeout_secs))
        .expect("python script succeeds");
    let line = out
        .lines()
        .rfind(|l| l.starts_with('{'))
        .expect("script printed a JSON result");
    serde_json::from_str(line).expect("result is JSON")
}

#[test]
fn ten_thousand_batched_messages_are_consumed_in_order() {
    let standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let result = run_json(
        "produce_consume.py",
        &[
            &url,
            "persistent://public/default/py-batched",
            "10000",
            "on",
            "none",
        ],
        180,
    );
    assert_eq!(result["consumed"], 10000, "{result}");
    // Batching must have packed many messages into each stored entry.
    assert!(
        result["distinct_entries"].as_u64().unwrap() < 10000,
        "{result}"
    );
}

#[test]
fn unbatched_messages_on_a_short_topic_name() {
    let standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let result = run_json(
        "produce_consume.py",
        &[&url, "py-unbatched", "2000", "off", "none"],
        120,
    );
    assert_eq!(result["consumed"], 2000, "{result}");
    assert_eq!(result["distinct_entries"], 2000, "{result}");
}

#[test]
fn compressed_batches_pass_through_untouched() {
    let standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    for codec in ["lz4", "zlib", "zstd", "snappy"] {
        let topic = format!("py-compressed-{codec}");
        let result = run_json(
            "produce_consume.py",
            &[&url, &topic, "1000", "on", codec],
            120,
        );
        assert_eq!(result["consumed"], 1000, "{codec}: {result}");
    }
}

#[test]
fn exclusive_then_shared_across_three_consumers() {
    let standalone = Standalone::start().unwrap();
    let url = standalone.pulsar_url().unwrap();
    let result = run_json("shared_consumers.py", &[&url, "py-shared", "3000"], 180);
    assert_eq!(result["second_refused"], true, "{result}");
    assert_eq!(result["shared_total"], 3000, "{result}");
    assert_eq!(result["shared_distinct"], 3000, "{result}");
}
