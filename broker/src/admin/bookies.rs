//! `GET /admin/v2/bookies/all`: the bookies registered in the metadata
//! store, Pulsar's `{"bookies": [{"bookieId": …}]}` with each bookie's
//! state (`writable` or `read-only`) and free disk bytes as its
//! registration last said.

use axum::extract::State;
use axum::Json;
use magnetar_bookie::keys::{
    bookie_of_available_key, BookieRegistration, AVAILABLE_BOOKIES_PREFIX,
};
use serde::Serialize;

use super::{AdminError, AdminState};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookieInfo {
    pub bookie_id: String,
    /// `writable` or `read-only`.
    pub state: &'static str,
    pub free_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct BookiesClusterInfo {
    pub bookies: Vec<BookieInfo>,
}

pub async fn list_bookies(
    State(state): State<AdminState>,
) -> Result<Json<BookiesClusterInfo>, AdminError> {
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
        });
    }
    Ok(Json(BookiesClusterInfo { bookies }))
}
