//! `GET /metrics` exports every metric the broker defines: the body is
//! parsed with the Python `prometheus_client` parsers (OpenMetrics and the
//! classic text format) and each name in `metrics::DEFINED` must be there
//! with its type and a sample.
//!
//! Needs a Python with `prometheus-client`: `$MAGNETAR_PYTHON`, else
//! `.venv/bin/python` at the repository root (both set up by `.ci/run`).

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use magnetar_broker::admin::{self, AdminState};
use magnetar_broker::metrics::{self, MetricKind};
use magnetar_metadata::MemoryStore;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("MAGNETAR_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with prometheus-client: set MAGNETAR_PYTHON or run .ci/run to create .venv"
    );
    venv
}

/// Parses `text` with `tests/python/parse_metrics.py`.
fn parse_with_python(text: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/parse_metrics.py");
    let mut child = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("write metrics to python");
    let out = child.wait_with_output().expect("python runs");
    assert!(
        out.status.success(),
        "parse_metrics.py failed ({}):\n{}\nbody:\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("parse_metrics.py prints JSON")
}

/// `GET path` over HTTP/1.0: (status line and headers, body).
fn sample_names(families: &Value) -> Vec<&str> {
    families
        .as_object()
        .expect("families by name")
        .values()
        .flat_map(|family| family["samples"].as_array().expect("samples").iter())
        .map(|name| name.as_str().expect("sample name"))
        .collect()
}

#[tokio::test]
async fn metrics_endpoint_exports_every_defined_metric() {
    let broker = common::start_broker().await;
    // A managed ledger is open, so the open-ledger gauge has something to say.
    broker
        .factory()
        .open("public/default/persistent/metrics")
        .await
        .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AdminState::new(
        Arc::new(MemoryStore::new()),
        Arc::clone(broker.factory()),
        "standalone",
    );
    let stop = CancellationToken::new();
    let server = tokio::spawn(admin::serve(
        listener,
        state,
        stop.clone().cancelled_owned(),
    ));

    let (head, body) = common::http_get(addr, "/metrics").await;
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-type: {}", metrics::CONTENT_TYPE)),
        "{head}"
    );

    let parsed = parse_with_python(&body);
    let openmetrics = &parsed["openmetrics"];
    let prometheus = &parsed["prometheus"];
    let prometheus_samples = sample_names(prometheus);
    assert!(!metrics::DEFINED.is_empty());
    for metric in metrics::DEFINED {
        let kind = metric.kind.as_str();
        let sample = match metric.kind {
            MetricKind::Counter => format!("{}_total", metric.name),
            MetricKind::Gauge => metric.name.to_string(),
        };
        let family = &openmetrics[metric.name];
        assert_eq!(
            family["type"], kind,
            "{} in OpenMetrics:\n{body}",
            metric.name
        );
        assert_eq!(
            family["samples"],
            serde_json::json!([sample]),
            "{}:\n{body}",
            metric.name
        );
        assert_eq!(
            prometheus[metric.name]["type"], kind,
            "{} in text format:\n{body}",
            metric.name
        );
        assert!(
            prometheus_samples.contains(&sample.as_str()),
            "{sample} in text format:\n{body}"
        );
    }
    let open = body
        .lines()
        .find_map(|line| line.strip_prefix("magnetar_broker_ml_open "))
        .and_then(|value| value.parse::<i64>().ok());
    assert!(
        open.is_some_and(|open| open >= 1),
        "ml_open not exported:\n{body}"
    );

    stop.cancel();
    server.await.unwrap().unwrap();
    broker.shutdown().await;
}
