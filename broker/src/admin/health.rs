//! `GET /health` and `GET /metrics` (the broker's metrics, the process's,
//! and the topics' `pulsar_*` series).
//!
//! `/health` is a readiness signal: 503 while the metadata store does not
//! answer, while the broker has no metadata session, while the startup wait for bookies runs, or while any managed
//! ledger open here cannot write (one line per such topic, the first
//! [`MAX_LISTED`]); 200 otherwise, with one line per under-replicated topic.
//! A liveness probe should not use it: restarting a broker does not bring
//! bookies back.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;

use prometheus_client::collector::Collector;

use super::replication_metrics::ReplicationMetrics;
use super::topic_metrics::TopicMetrics;
use super::AdminState;
use crate::managed_ledger::{ManagedLedger, ManagedLedgerFactory, WritabilityState};
use crate::metadata_metrics::MetadataStoreMetrics;
use crate::metrics;
use crate::namespace::TopicName;

const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for the ledger store's count of writable bookies at a scrape.
const BOOKIE_COUNT_TIMEOUT: Duration = Duration::from_secs(1);
/// Topics listed per condition in the `/health` body.
const MAX_LISTED: usize = 10;

/// Why the broker is not ready yet, set by the node during its startup
/// wait for bookies. Cheap to clone; clones share the state.
#[derive(Debug, Clone, Default)]
pub struct StartupGate(Arc<Mutex<Option<String>>>);

impl StartupGate {
    /// `Some(reason)` while not ready, `None` once ready.
    pub fn set(&self, reason: Option<String>) {
        *self.0.lock() = reason;
    }

    pub fn reason(&self) -> Option<String> {
        self.0.lock().clone()
    }
}

/// The topic a managed ledger stores, as clients name it.
fn topic_of(ml: &ManagedLedger) -> String {
    TopicName::from_persistence_name(ml.name())
        .map(|topic| topic.to_string())
        .unwrap_or_else(|_| ml.name().to_string())
}

/// A line `label: topic: reason` per loaded managed ledger in `state`, at
/// most [`MAX_LISTED`], plus a count of the rest.
fn listed(factory: &ManagedLedgerFactory, state: WritabilityState, label: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut more = 0;
    for ml in factory.loaded() {
        let writability = ml.writability();
        if writability.state != state {
            continue;
        }
        if lines.len() == MAX_LISTED {
            more += 1;
            continue;
        }
        let reason = writability.reason.unwrap_or_default();
        lines.push(format!("{label}: {}: {reason}", topic_of(&ml)));
    }
    if more > 0 {
        lines.push(format!("{label}: {more} more topics"));
    }
    lines
}

/// Readiness; see the module doc.
#[utoipa::path(get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "`ok`, then a line per under-replicated topic", body = String, content_type = "text/plain"),
        (status = 503, description = "Why the broker is not ready, a line per reason", body = String, content_type = "text/plain"),
    ))]
pub async fn health(State(state): State<AdminState>) -> (StatusCode, String) {
    let probe = tokio::time::timeout(HEALTH_PROBE_TIMEOUT, state.metadata.current_revision()).await;
    match probe {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "health probe failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "metadata store unavailable\n".into(),
            );
        }
        Err(_) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "metadata store timed out\n".into(),
            )
        }
    }
    if state.membership.as_ref().is_some_and(|c| !c.has_session()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no metadata session: this broker serves no topic until it has a new one\n".into(),
        );
    }
    let factory = &state.managed_ledgers;
    let mut problems: Vec<String> = state.startup.reason().into_iter().collect();
    problems.extend(listed(
        factory,
        WritabilityState::NotWritable,
        "not writable",
    ));
    if !problems.is_empty() {
        return (StatusCode::SERVICE_UNAVAILABLE, lines(problems));
    }
    let mut body = vec!["ok".to_string()];
    body.extend(listed(
        factory,
        WritabilityState::Degraded,
        "under-replicated",
    ));
    (StatusCode::OK, lines(body))
}

fn lines(lines: Vec<String>) -> String {
    lines.into_iter().map(|line| line + "\n").collect()
}

/// Every broker metric in the OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "The broker's, the process's and the topics' metrics (OpenMetrics 1.0 text)", body = String, content_type = "application/openmetrics-text"),
        (status = 500, description = "The metrics could not be rendered"),
    ))]
pub async fn metrics(State(state): State<AdminState>) -> Response {
    update_scrape_gauges(&state.managed_ledgers).await;
    let mut collectors: Vec<Box<dyn Collector>> = Vec::new();
    if let Some(topics) = &state.topics {
        let snapshots = topics.snapshots().await;
        collectors.push(Box::new(TopicMetrics::new(
            &state.cluster,
            &snapshots,
            state.topic_level_metrics,
        )));
        collectors.push(Box::new(ReplicationMetrics::new(
            &state.cluster,
            &snapshots,
            state.topic_level_metrics,
        )));
    }
    collectors.push(Box::new(MetadataStoreMetrics));
    if magnetar_bookie::metrics::has_bookie() {
        // A standalone: its bookies' metrics on the same page.
        collectors.push(Box::new(magnetar_bookie::metrics::BookieCollector));
    }
    match metrics::render_with(collectors) {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Gauges computed at scrape time from the loaded managed ledgers and the
/// ledger store.
async fn update_scrape_gauges(factory: &ManagedLedgerFactory) {
    let loaded = factory.loaded();
    metrics::MANAGED_LEDGERS_OPEN.set(loaded.len() as i64);
    let (mut not_writable, mut degraded, mut held) = (0, 0, 0);
    for ml in &loaded {
        let writability = ml.writability();
        match writability.state {
            WritabilityState::NotWritable => not_writable += 1,
            WritabilityState::Degraded => degraded += 1,
            WritabilityState::Writable => {}
        }
        held += writability.held_adds as i64;
    }
    metrics::MANAGED_LEDGERS_NOT_WRITABLE.set(not_writable);
    metrics::MANAGED_LEDGERS_UNDER_REPLICATED.set(degraded);
    metrics::MANAGED_LEDGER_ADDS_HELD.set(held);
    let count = tokio::time::timeout(
        BOOKIE_COUNT_TIMEOUT,
        factory.ledger_store().writable_bookies(),
    )
    .await;
    let writable = match count {
        Ok(Ok(usize::MAX)) | Ok(Err(_)) | Err(_) => -1,
        Ok(Ok(n)) => i64::try_from(n).unwrap_or(-1),
    };
    metrics::BOOKIES_WRITABLE.set(writable);
}
