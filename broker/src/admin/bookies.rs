//! `GET /admin/v2/bookies/all`: the bookies registered in the metadata
//! store, Pulsar's `{"bookies": [{"bookieId": …}]}` with each bookie's
//! state (`writable` or `read-only`), free disk bytes as its
//! registration last said, and how many ledgers have entries on it (from
//! the ledgers' metadata: one scan of the ledger list per request).

use axum::extract::State;
use axum::Json;
use std::collections::HashMap;

use magnetar_bookie::client::LedgerMetadata;
use magnetar_bookie::keys::{
    bookie_of_available_key, BookieRegistration, AVAILABLE_BOOKIES_PREFIX, LEDGERS_PREFIX,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::openapi::ErrorBody;
use super::{AdminError, AdminState};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookieInfo {
    pub bookie_id: String,
    /// `writable` or `read-only`.
    pub state: &'static str,
    pub free_bytes: u64,
    /// Ledgers with at least one segment on this bookie.
    pub ledger_count: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookiesClusterInfo {
    pub bookies: Vec<BookieInfo>,
}

#[utoipa::path(get, path = "/admin/v2/bookies/all", tag = "bookies",
    responses(
        (status = 200, description = "The registered bookies, their state, free space and ledger count", body = BookiesClusterInfo),
        (status = 503, description = "The metadata store cannot be read", body = ErrorBody),
    ))]
pub async fn list_bookies(
    State(state): State<AdminState>,
) -> Result<Json<BookiesClusterInfo>, AdminError> {
    let ledger_counts = ledgers_per_bookie(&state).await?;
    let mut bookies = Vec::new();
    let entries = state
        .metadata
        .list_all(AVAILABLE_BOOKIES_PREFIX)
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    for (key, value) in &entries {
        let Some(bookie_id) = bookie_of_available_key(key) else {
            continue;
        };
        let registration: Option<BookieRegistration> = serde_json::from_slice(&value.value).ok();
        let (read_only, free_bytes) =
            registration.map_or((false, 0), |r| (r.read_only, r.free_bytes));
        bookies.push(BookieInfo {
            bookie_id: bookie_id.to_string(),
            state: if read_only { "read-only" } else { "writable" },
            free_bytes,
            ledger_count: ledger_counts.get(bookie_id).copied().unwrap_or(0),
        });
    }
    Ok(Json(BookiesClusterInfo { bookies }))
}

/// How many ledgers have a segment on each bookie; ledgers whose metadata
/// cannot be read are skipped.
async fn ledgers_per_bookie(state: &AdminState) -> Result<HashMap<String, u64>, AdminError> {
    let ledgers = state
        .metadata
        .list_all(LEDGERS_PREFIX)
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    let mut counts: HashMap<String, u64> = HashMap::new();
    for (key, value) in &ledgers {
        let Ok(metadata) = LedgerMetadata::parse(key, &value.value) else {
            continue;
        };
        let mut on: Vec<&String> = metadata
            .segments
            .iter()
            .flat_map(|segment| segment.ensemble.iter())
            .collect();
        on.sort();
        on.dedup();
        for bookie in on {
            *counts.entry(bookie.clone()).or_default() += 1;
        }
    }
    Ok(counts)
}
