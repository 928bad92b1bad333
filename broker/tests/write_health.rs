//! The admin surfaces of an unwritable topic: `/health` answers 503 with
//! the topic and its reason (and during the startup wait), topic stats say
//! `writable: false` with the reason, the not-writable gauge counts it, and
//! all of it clears once bookies are back, on the same managed ledger.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetar_bookie::testing::MemoryLedgerStore;
use magnetar_broker::admin::{self, AdminState};
use magnetar_broker::managed_ledger::{ManagedLedgerConfig, ManagedLedgerFactory};
use magnetar_metadata::{MemoryStore, MetadataStore};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const ML_NAME: &str = "public/default/persistent/h1";
const TOPIC: &str = "persistent://public/default/h1";

/// `GET path`: (status code, body).
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (head, body) = common::http_get(addr, path).await;
    (common::status_code(&head), body)
}

fn gauge(metrics: &str, name: &str) -> Option<i64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test]
async fn health_and_stats_report_an_unwritable_topic_until_bookies_return() {
    let metadata: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let ledgers = MemoryLedgerStore::new();
    ledgers.set_bookies_available(false);
    let config = ManagedLedgerConfig {
        ensemble_size: 1,
        write_quorum: 1,
        ack_quorum: 1,
        ..ManagedLedgerConfig::default()
    };
    let factory = Arc::new(ManagedLedgerFactory::new(
        metadata.clone(),
        Arc::new(ledgers.clone()),
        config,
    ));
    // Opens without bookies: the topic loads, its writes wait.
    let ml = factory.open(ML_NAME).await.unwrap();
    assert!(!ml.writability().is_writable());

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AdminState::new(metadata, factory.clone(), "standalone");
    let startup = state.startup.clone();
    let stop = CancellationToken::new();
    let server = tokio::spawn(admin::serve(
        listener,
        state,
        stop.clone().cancelled_owned(),
    ));

    let (code, body) = http_get(addr, "/health").await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains(&format!("not writable: {TOPIC}: not enough bookies")),
        "{body}"
    );

    let (code, body) = http_get(addr, "/admin/v2/persistent/public/default/h1/stats").await;
    assert_eq!(code, 200, "{body}");
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["writable"], Value::Bool(false), "{body}");
    assert!(stats["notWritableReason"]
        .as_str()
        .is_some_and(|r| r.contains("not enough bookies")));
    assert!(stats["notWritableSince"].as_u64().is_some());
    assert_eq!(stats["underReplicated"], Value::Bool(false));
    assert_eq!(stats["heldAdds"], Value::from(0));

    let (code, metrics) = http_get(addr, "/metrics").await;
    assert_eq!(code, 200);
    assert_eq!(
        gauge(&metrics, "magnetar_broker_ml_not_writable"),
        Some(1),
        "{metrics}"
    );
    assert_eq!(gauge(&metrics, "magnetar_broker_bookies_writable"), Some(0));

    // Bookies return: the writer task creates a ledger on its retry timer.
    ledgers.set_bookies_available(true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ml.writability().is_writable() {
        assert!(Instant::now() < deadline, "writable again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ml.add_entry(bytes::Bytes::from_static(b"x")).await.unwrap();
    let (code, body) = http_get(addr, "/health").await;
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    let (_, body) = http_get(addr, "/admin/v2/persistent/public/default/h1/stats").await;
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["writable"], Value::Bool(true), "{body}");
    assert_eq!(stats["notWritableReason"], Value::Null);
    let (_, metrics) = http_get(addr, "/metrics").await;
    assert_eq!(gauge(&metrics, "magnetar_broker_ml_not_writable"), Some(0));
    assert_eq!(
        gauge(&metrics, "magnetar_broker_bookies_writable"),
        Some(-1)
    );

    // During the startup wait the broker is not ready either.
    startup.set(Some("waiting for bookies: 1 of 3 writable".into()));
    let (code, body) = http_get(addr, "/health").await;
    assert_eq!(code, 503);
    assert!(
        body.contains("waiting for bookies: 1 of 3 writable"),
        "{body}"
    );
    startup.set(None);
    assert_eq!(http_get(addr, "/health").await.0, 200);

    stop.cancel();
    server.await.unwrap().unwrap();
}
