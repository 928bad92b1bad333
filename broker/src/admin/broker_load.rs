//! What the console's cluster page shows beyond Pulsar's broker routes
//! (Magnetar's own paths, superuser only, like the other broker routes):
//!
//! - `GET /admin/v2/brokers/{cluster}/loadReports`: every live broker's
//!   record with its last load report, by broker id;
//! - `GET /admin/v2/brokers/loadManagerDecisions`: the load manager's
//!   recent decisions, oldest first, with their reasons;
//! - `GET /admin/v2/brokers/metadataHealth`: one read of the metadata
//!   store, timed.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::openapi::{ClusterPath, ErrorBody};
use super::{AdminError, AdminState};
use crate::cluster::decisions::{self, Decision};
use crate::cluster::registry::BrokerInfo;
use crate::cluster::Cluster;

fn membership(state: &AdminState) -> Result<&std::sync::Arc<Cluster>, AdminError> {
    state
        .membership
        .as_ref()
        .ok_or_else(|| AdminError::NotFound("this broker is not part of a cluster".into()))
}

/// `GET /admin/v2/brokers/{cluster}/loadReports`.
#[utoipa::path(get, path = "/admin/v2/brokers/{cluster}/loadReports", tag = "brokers", params(ClusterPath),
    responses(
        (status = 200, description = "Every live broker's record and last load report, by broker id", body = BTreeMap<String, BrokerInfo>),
        (status = 404, description = "Not part of a cluster, or not this broker's cluster", body = ErrorBody),
        (status = 503, description = "The registry cannot be read", body = ErrorBody),
    ))]
pub async fn load_reports(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<BTreeMap<String, BrokerInfo>>, AdminError> {
    let cluster = membership(&state)?;
    if name != state.cluster {
        return Err(AdminError::NotFound(format!(
            "cluster {name} is not this cluster"
        )));
    }
    let brokers = cluster
        .registry()
        .brokers()
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    Ok(Json(brokers))
}

/// `GET /admin/v2/brokers/loadManagerDecisions`.
#[utoipa::path(get, path = "/admin/v2/brokers/loadManagerDecisions", tag = "brokers",
    responses(
        (status = 200, description = "The load manager's recent decisions, oldest first", body = Vec<Decision>),
        (status = 503, description = "The metadata store cannot be read", body = ErrorBody),
    ))]
pub async fn load_manager_decisions(
    State(state): State<AdminState>,
) -> Result<Json<Vec<Decision>>, AdminError> {
    let decisions = decisions::recent(state.metadata.as_ref())
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    Ok(Json(decisions))
}

/// The answer of `metadataHealth`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataHealth {
    pub healthy: bool,
    /// How long the read took.
    pub latency_millis: f64,
    /// Why the read failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /admin/v2/brokers/metadataHealth`: always 200; the body says
/// whether the store answered.
#[utoipa::path(get, path = "/admin/v2/brokers/metadataHealth", tag = "brokers",
    responses((status = 200, description = "Whether the store answered, and how fast", body = MetadataHealth)))]
pub async fn metadata_health(State(state): State<AdminState>) -> Json<MetadataHealth> {
    let started = Instant::now();
    let result = state.metadata.get(decisions::DECISIONS_KEY).await;
    let latency_millis = started.elapsed().as_secs_f64() * 1000.0;
    Json(MetadataHealth {
        healthy: result.is_ok(),
        latency_millis,
        error: result.err().map(|e| e.to_string()),
    })
}
