//! A bookie's HTTP port: `GET /health` (200 `ok` while writable, 200
//! `read-only` while the disk is full: the bookie still serves reads) and
//! `GET /metrics` ([`crate::metrics`], OpenMetrics text).

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::metrics::{self, BookieStatus, StatusSource};
use crate::server::disk::DiskStatus;
use crate::server::Bookie;

/// The state of a running bookie, as scrapes and `/health` see it.
pub struct RunningStatus {
    pub(super) bookie: Arc<Bookie>,
    pub(super) disk: Arc<DiskStatus>,
}

impl StatusSource for RunningStatus {
    fn status(&self) -> BookieStatus {
        let disk = self.disk.usage();
        BookieStatus {
            ledgers: self.bookie.ledger_count() as u64,
            disk_used_bytes: disk.total_bytes.saturating_sub(disk.free_bytes),
            disk_total_bytes: disk.total_bytes,
            read_only: self.bookie.is_read_only(),
            write_cache_bytes: self.bookie.write_cache_total_bytes() as u64,
            index_memory_bytes: self.bookie.index_memory_bytes() as u64,
        }
    }
}

async fn health(State(status): State<Arc<dyn StatusSource>>) -> (StatusCode, &'static str) {
    if status.status().read_only {
        (StatusCode::OK, "read-only\n")
    } else {
        (StatusCode::OK, "ok\n")
    }
}

async fn render_metrics() -> Response {
    match metrics::render() {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serves `/health` and `/metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    status: Arc<dyn StatusSource>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(render_metrics))
        .with_state(status);
    tracing::info!(address = %listener.local_addr()?, "bookie http listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
