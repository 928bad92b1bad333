//! Load-manager requests: how the leader asks an owner to unload or split
//! a bundle. A request is a key `/loadbalance/requests/<tenant>/<ns>/<range>`
//! created with `Expected::Absent` and bound to the leader's session:
//!
//! - one request per bundle at a time, so a decision is never taken twice,
//!   even across a change of leader;
//! - a leader whose session expired can write none, and its pending
//!   requests vanish with it;
//! - the owner polls for its requests, carries them out, and deletes them.
//!   A request for a bundle its target no longer owns is just deleted.

use std::sync::Arc;

use bytes::Bytes;
use magnetar_metadata::{Expected, MetadataError, MetadataStore, PutOptions, SessionId};
use serde::{Deserialize, Serialize};

use super::control::BundleControl;
use super::registry::corrupt;
use super::ClusterError;
use crate::metrics;
use crate::namespace::BundleRef;

pub const REQUESTS_ROOT: &str = "/loadbalance/requests/";
const LIST_PAGE: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RequestKind {
    Unload,
    Split,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleRequest {
    pub kind: RequestKind,
    pub bundle: String,
    /// The broker that owns the bundle and must act.
    pub owner: String,
    pub reason: String,
}

fn request_key(bundle: &str) -> String {
    format!("{REQUESTS_ROOT}{bundle}")
}

/// Files `request` under the leader's `session`; false when one is already
/// pending for the bundle.
pub async fn file(
    metadata: &dyn MetadataStore,
    request: &BundleRequest,
    session: SessionId,
) -> Result<bool, ClusterError> {
    let key = request_key(&request.bundle);
    let value = Bytes::from(serde_json::to_vec(request).map_err(|e| corrupt(&key, e))?);
    match metadata
        .put(
            &key,
            value,
            PutOptions::ephemeral(Expected::Absent, session),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(MetadataError::BadVersion { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Carries out every pending request addressed to `me`; returns how many.
pub async fn serve_pending(
    metadata: &Arc<dyn MetadataStore>,
    me: &str,
    control: &BundleControl,
) -> Result<usize, ClusterError> {
    let mut served = 0;
    let mut start_after: Option<String> = None;
    loop {
        let page = metadata
            .list(REQUESTS_ROOT, start_after.as_deref(), LIST_PAGE)
            .await?;
        for (key, stored) in &page.entries {
            let request: BundleRequest = match serde_json::from_slice(&stored.value) {
                Ok(request) => request,
                Err(error) => {
                    tracing::warn!(%key, %error, "unreadable load-manager request");
                    continue;
                }
            };
            if request.owner != me {
                continue;
            }
            carry_out(&request, control).await;
            served += 1;
            match metadata
                .delete(key, Expected::Version(stored.version))
                .await
            {
                Ok(())
                | Err(MetadataError::NotFound(_))
                | Err(MetadataError::BadVersion { .. }) => {}
                Err(error) => tracing::warn!(%key, %error, "could not delete load-manager request"),
            }
        }
        match page.next_start_after {
            Some(next) => start_after = Some(next),
            None => return Ok(served),
        }
    }
}

async fn carry_out(request: &BundleRequest, control: &BundleControl) {
    let Some(bundle) = BundleRef::parse(&request.bundle) else {
        tracing::warn!(bundle = %request.bundle, "load-manager request names no bundle");
        return;
    };
    match request.kind {
        RequestKind::Unload => match control.unload(&bundle).await {
            Ok(true) => {
                metrics::LB_UNLOADS.inc();
                tracing::info!(%bundle, reason = %request.reason, "unloaded bundle for the load manager");
            }
            Ok(false) => tracing::debug!(%bundle, "unload request for a bundle not owned here"),
            Err(error) => tracing::warn!(%bundle, %error, "load-manager unload failed"),
        },
        RequestKind::Split => match control.split(&bundle).await {
            Ok(_) => {
                metrics::LB_SPLITS.inc();
                tracing::info!(%bundle, reason = %request.reason, "split bundle for the load manager");
            }
            Err(ClusterError::NotOwner(_)) => {
                tracing::debug!(%bundle, "split request for a bundle not owned here")
            }
            Err(error) => tracing::warn!(%bundle, %error, "load-manager split failed"),
        },
    }
}
