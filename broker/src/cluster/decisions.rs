//! The load manager's recent decisions, kept in the metadata store so that
//! every broker (and its console) can show them, whichever broker leads:
//! the last [`DECISIONS_KEPT`] as one JSON list under [`DECISIONS_KEY`].
//! Only the leader writes it, once per decision, so a read-modify-write is
//! enough; a failed write loses the entry, never the decision.

use bytes::Bytes;
use magnetar_metadata::{MetadataStore, PutOptions};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ClusterError;

/// Where the list lives.
pub const DECISIONS_KEY: &str = "/loadbalance/decisions";

/// How many decisions are kept.
pub const DECISIONS_KEPT: usize = 50;

/// One decision of the load manager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// When it was taken (Unix ms).
    pub time_millis: u64,
    /// `unload` (shedding) or `split`.
    pub kind: String,
    pub bundle: String,
    /// The broker that owned the bundle.
    pub from: String,
    /// Where the bundle should go, for an unload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub reason: String,
}

/// The decisions kept, oldest first; none when nothing was decided yet.
pub async fn recent(metadata: &dyn MetadataStore) -> Result<Vec<Decision>, ClusterError> {
    let Some(stored) = metadata.get(DECISIONS_KEY).await? else {
        return Ok(Vec::new());
    };
    // A list this version cannot read is shown as empty, not as an error.
    Ok(serde_json::from_slice(&stored.value).unwrap_or_default())
}

/// Appends `decision`, dropping the oldest beyond [`DECISIONS_KEPT`].
pub async fn record(metadata: &dyn MetadataStore, decision: Decision) -> Result<(), ClusterError> {
    let mut decisions = recent(metadata).await?;
    decisions.push(decision);
    let excess = decisions.len().saturating_sub(DECISIONS_KEPT);
    decisions.drain(..excess);
    let value = serde_json::to_vec(&decisions).map_err(|e| ClusterError::Corrupt {
        key: DECISIONS_KEY.to_string(),
        reason: e.to_string(),
    })?;
    metadata
        .put(DECISIONS_KEY, Bytes::from(value), PutOptions::ANY)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use magnetar_metadata::MemoryStore;

    fn decision(i: u64) -> Decision {
        Decision {
            time_millis: i,
            kind: "split".into(),
            bundle: format!("t/ns/0x0000000{i}_0xffffffff"),
            from: "b1".into(),
            to: None,
            reason: "too many topics".into(),
        }
    }

    #[tokio::test]
    async fn the_newest_decisions_are_kept_in_order() {
        let store = MemoryStore::new();
        assert!(recent(&store).await.unwrap().is_empty());
        for i in 0..(DECISIONS_KEPT as u64 + 5) {
            record(&store, decision(i)).await.unwrap();
        }
        let kept = recent(&store).await.unwrap();
        assert_eq!(kept.len(), DECISIONS_KEPT);
        assert_eq!(kept[0], decision(5));
        assert_eq!(
            kept[DECISIONS_KEPT - 1],
            decision(DECISIONS_KEPT as u64 + 4)
        );
    }
}
