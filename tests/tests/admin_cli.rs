//! `magnetar admin` against a real `magnetar standalone`: nouns and verbs
//! reach the admin API, answers print as tables or as JSON, and a refused
//! request exits non-zero with the broker's reason. Also shell completions.

use std::process::{Command, Output};

use magnetar_tests::process::magnetar_bin;
use magnetar_tests::Standalone;

fn magnetar(args: &[&str]) -> Output {
    Command::new(magnetar_bin())
        .args(args)
        .output()
        .expect("run magnetar")
}

/// Runs `magnetar admin --url URL args...`, requires success, returns stdout.
fn admin(url: &str, args: &[&str]) -> String {
    let mut all = vec!["admin", "--url", url];
    all.extend_from_slice(args);
    let output = magnetar(&all);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "magnetar {all:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn admin_json(url: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let stdout = admin(url, &all);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn admin_commands_drive_the_api() {
    let standalone = Standalone::start().unwrap();
    let http = standalone.http_url().unwrap();
    let pulsar = standalone.pulsar_url().unwrap();

    assert_eq!(admin(&http, &["clusters", "list"]).trim(), "standalone");
    admin(
        &http,
        &[
            "tenants",
            "create",
            "acme",
            "--allowed-clusters",
            "standalone",
        ],
    );
    assert!(admin(&http, &["tenants", "list"])
        .lines()
        .any(|l| l == "acme"));
    admin(
        &http,
        &["namespaces", "create", "acme/orders", "--bundles", "2"],
    );
    admin(
        &http,
        &[
            "namespaces",
            "set-retention",
            "acme/orders",
            "--time",
            "60",
            "--size",
            "-1",
        ],
    );
    let retention = admin_json(&http, &["namespaces", "get-retention", "acme/orders"]);
    assert_eq!(
        retention,
        serde_json::json!({"retentionTimeInMinutes": 60, "retentionSizeInMB": -1})
    );
    admin(
        &http,
        &[
            "namespaces",
            "set-message-ttl",
            "acme/orders",
            "--ttl",
            "120",
        ],
    );
    let table = admin(&http, &["namespaces", "policies", "acme/orders"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("message_ttl_in_seconds") && l.ends_with(" 120")),
        "{table}"
    );

    admin(&http, &["topics", "create", "acme/orders/eu"]);
    admin(
        &http,
        &[
            "topics",
            "create-subscription",
            "acme/orders/eu",
            "-s",
            "billing",
            "--message-id",
            "earliest",
        ],
    );
    let produce = magnetar(&[
        "produce",
        "--url",
        &pulsar,
        "persistent://acme/orders/eu",
        "-m",
        "one",
        "-n",
        "3",
    ]);
    assert!(
        produce.status.success(),
        "{}",
        String::from_utf8_lossy(&produce.stderr)
    );
    let stats = admin_json(&http, &["topics", "stats", "persistent://acme/orders/eu"]);
    assert_eq!(stats["msgInCounter"], 3, "{stats}");
    assert_eq!(
        stats["subscriptions"]["billing"]["msgBacklog"], 3,
        "{stats}"
    );
    let table = admin(&http, &["topics", "stats", "acme/orders/eu"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("subscriptions.billing.msgBacklog") && l.ends_with(" 3")),
        "{table}"
    );
    admin(
        &http,
        &[
            "topics",
            "skip",
            "acme/orders/eu",
            "-s",
            "billing",
            "-n",
            "2",
        ],
    );
    let stats = admin_json(&http, &["topics", "stats", "acme/orders/eu"]);
    assert_eq!(
        stats["subscriptions"]["billing"]["msgBacklog"], 1,
        "{stats}"
    );
    admin(
        &http,
        &[
            "topics",
            "reset-cursor",
            "acme/orders/eu",
            "-s",
            "billing",
            "--message-id",
            "earliest",
        ],
    );
    let stats = admin_json(&http, &["topics", "stats", "acme/orders/eu"]);
    assert_eq!(
        stats["subscriptions"]["billing"]["msgBacklog"], 3,
        "{stats}"
    );
    assert_eq!(
        admin(&http, &["topics", "subscriptions", "acme/orders/eu"]).trim(),
        "billing"
    );
    let last = admin_json(&http, &["topics", "last-message-id", "acme/orders/eu"]);
    assert!(last["entryId"].as_i64().is_some_and(|e| e >= 2), "{last}");
    let terminated = admin_json(&http, &["topics", "terminate", "acme/orders/eu"]);
    assert_eq!(terminated, last, "terminate answers the last message id");

    admin(
        &http,
        &[
            "topics",
            "create-partitioned-topic",
            "acme/orders/parts",
            "-p",
            "3",
        ],
    );
    let meta = admin_json(
        &http,
        &[
            "topics",
            "get-partitioned-topic-metadata",
            "acme/orders/parts",
        ],
    );
    assert_eq!(meta["partitions"], 3);

    let health = admin(&http, &["brokers", "health"]);
    assert_eq!(health.trim(), "ok");
    let bookies = admin_json(&http, &["bookies", "list"]);
    assert_eq!(bookies["bookies"][0]["state"], "writable", "{bookies}");
    assert!(
        bookies["bookies"][0]["freeBytes"]
            .as_u64()
            .is_some_and(|b| b > 0),
        "{bookies}"
    );

    // Refused: non-zero exit, the broker's reason on stderr.
    let missing = magnetar(&[
        "admin",
        "--url",
        &http,
        "topics",
        "stats",
        "acme/orders/none",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("404") && stderr.contains("not found"),
        "{stderr}"
    );
    let conflict = magnetar(&[
        "admin",
        "--url",
        &http,
        "topics",
        "create",
        "acme/orders/eu",
    ]);
    assert_eq!(conflict.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&conflict.stderr).contains("409"));
    let bad_name = magnetar(&["admin", "--url", &http, "topics", "stats", "acme/x"]);
    assert!(!bad_name.status.success());
}

#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let output = magnetar(&["completions", shell]);
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(
            script.contains("admin") && script.contains("standalone"),
            "{shell}"
        );
    }
}
