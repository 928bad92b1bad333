//! A `magnetar bookie` process's HTTP port against a real etcd: `/health`
//! answers, and `/metrics` parses as OpenMetrics whose add, read, journal
//! and ledger figures follow the adds and reads a ledger client made.

use std::collections::BTreeMap;

use bytes::Bytes;
use magnetar_bookie::client::{ClientConfig, LedgerClient};
use magnetar_bookie::{LedgerOptions, LedgerStore, OpenMode};
use magnetar_tests::http::http_get;
use magnetar_tests::BookieCluster;

const ADDS: usize = 25;

/// The value of the sample line that starts with `name ` (no labels).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookie_serves_health_and_metrics_that_follow_its_traffic() {
    let cluster = BookieCluster::start(1).await.unwrap();
    let http = cluster.bookies()[0].http_addr().unwrap();
    let health = http_get(&http, "/health").unwrap();
    assert_eq!((health.status, health.body.trim()), (200, "ok"));

    let metadata = cluster.metadata().await.unwrap();
    let client = LedgerClient::new(metadata, ClientConfig::default());
    let options = LedgerOptions {
        ensemble_size: 1,
        write_quorum: 1,
        ack_quorum: 1,
        password: Bytes::from_static(b"bookie-http"),
        custom: BTreeMap::new(),
    };
    let writer = client.create(options).await.unwrap();
    for i in 0..ADDS {
        writer
            .append(Bytes::from(format!("entry {i}")))
            .await
            .unwrap();
    }
    let ledger_id = writer.id();
    writer.close().await.unwrap();
    let reader = client
        .open(
            ledger_id,
            Bytes::from_static(b"bookie-http"),
            OpenMode::NoRecovery,
        )
        .await
        .unwrap();
    reader.read(0, 4).await.unwrap();

    let metrics = http_get(&http, "/metrics").unwrap();
    assert_eq!(metrics.status, 200);
    let text = metrics.body;
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        sample(&text, "magnetar_bookie_adds_total").is_some_and(|n| n >= ADDS as f64),
        "{text}"
    );
    assert!(
        sample(&text, "magnetar_bookie_add_seconds_count").is_some_and(|n| n >= ADDS as f64),
        "{text}"
    );
    assert!(
        sample(&text, "magnetar_bookie_reads_total").is_some_and(|n| n >= 5.0),
        "{text}"
    );
    assert!(
        sample(&text, "magnetar_bookie_journal_sync_seconds_count").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(&text, "magnetar_bookie_journal_group_bytes_sum").is_some_and(|n| n > 0.0),
        "{text}"
    );
    assert!(
        sample(&text, "magnetar_bookie_ledgers").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "magnetar_bookie_read_only"),
        Some(0.0),
        "{text}"
    );
    assert!(
        sample(&text, "magnetar_bookie_disk_total_bytes").is_some_and(|n| n > 0.0),
        "{text}"
    );
}
