//! `GET /health` and `GET /metrics`.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AdminState;
use crate::metrics;

const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// 200 when the metadata store answers within the probe timeout, else 503.
pub async fn health(State(state): State<AdminState>) -> impl IntoResponse {
    let probe = tokio::time::timeout(HEALTH_PROBE_TIMEOUT, state.metadata.current_revision()).await;
    match probe {
        Ok(Ok(_)) => (StatusCode::OK, "ok\n"),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "health probe failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "metadata store unavailable\n",
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metadata store timed out\n",
        ),
    }
}

/// Every broker metric in the OpenMetrics text format.
pub async fn metrics(State(state): State<AdminState>) -> Response {
    metrics::MANAGED_LEDGERS_OPEN.set(state.managed_ledgers.loaded().len() as i64);
    match metrics::render() {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
