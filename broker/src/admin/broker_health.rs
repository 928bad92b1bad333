//! `GET /admin/v2/brokers/health`: a real round trip through this
//! broker's storage. An entry is appended to the broker's own health log
//! (`pulsar/<cluster>/persistent/healthcheck-<broker>`: outside every
//! namespace, so no topic list shows it), made durable on an ack quorum of
//! bookies, read back through a cursor and acknowledged. 200 `ok`, or 503
//! with the step that failed, within [`HEALTH_CHECK_TIMEOUT`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use bytes::Bytes;

use super::AdminState;
use crate::managed_ledger::InitialPosition;

pub const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(10);
const CURSOR: &str = "healthcheck";

/// The health log's name: one per broker.
fn log_name(state: &AdminState) -> String {
    let broker = state
        .membership
        .as_ref()
        .map_or_else(|| "standalone".to_string(), |c| c.broker_id());
    let broker: String = broker
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("pulsar/{}/persistent/healthcheck-{broker}", state.cluster)
}

async fn round_trip(state: &AdminState) -> Result<(), String> {
    let name = log_name(state);
    let ledger = state
        .managed_ledgers
        .open(&name)
        .await
        .map_err(|e| format!("open the health log: {e}"))?;
    let cursor = ledger
        .open_cursor(CURSOR, InitialPosition::Latest)
        .await
        .map_err(|e| format!("open the health cursor: {e}"))?;
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let payload = Bytes::from(format!("health check {stamp}"));
    let position = ledger
        .add_entry(payload.clone())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let entry = ledger
        .read_entry(position)
        .await
        .map_err(|e| format!("read back {position}: {e}"))?;
    if entry.data != payload {
        return Err(format!("read back {position}: another payload"));
    }
    cursor.ack_cumulative(position);
    Ok(())
}

#[utoipa::path(get, path = "/admin/v2/brokers/health", tag = "brokers",
    responses(
        (status = 200, description = "`ok`: an entry was written, read back and acknowledged", body = String, content_type = "text/plain"),
        (status = 503, description = "The step that failed, or the timeout", body = String, content_type = "text/plain"),
    ))]
pub async fn broker_health(State(state): State<AdminState>) -> (StatusCode, String) {
    match tokio::time::timeout(HEALTH_CHECK_TIMEOUT, round_trip(&state)).await {
        Ok(Ok(())) => (StatusCode::OK, "ok".to_string()),
        Ok(Err(reason)) => {
            tracing::warn!(%reason, "broker health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, reason)
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no round trip within {HEALTH_CHECK_TIMEOUT:?}"),
        ),
    }
}
