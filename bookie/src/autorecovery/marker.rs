//! The under-replication marker and how the auditor writes it.
//!
//! The auto-recovery keys (defined in [`crate::keys`]):
//! - `/underreplication/auditor`: the auditor election key (ephemeral).
//! - `/underreplication/ledgers/<ledger-id>`: a ledger that references a
//!   lost bookie; JSON [`UnderReplicatedMarker`] naming the lost bookies.
//!   Written by the auditor, deleted by the worker that re-replicated it.
//! - `/underreplication/locks/<ledger-id>`: the worker re-replicating that
//!   ledger (ephemeral, bound to the worker's session).

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use magnetar_metadata::{Expected, MetadataError, MetadataStore, PutOptions};
use serde::{Deserialize, Serialize};

use super::error::AutoRecoveryError;
use crate::client::BookieId;
use crate::keys::marker_key;
use crate::ledger::LedgerId;

/// CAS attempts when merging into a marker another writer is changing.
const MARK_ATTEMPTS: usize = 16;

/// The value of a marker: the bookies the ledger lost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnderReplicatedMarker {
    pub missing: BTreeSet<BookieId>,
}

impl UnderReplicatedMarker {
    pub fn encode(&self) -> Bytes {
        // A set of strings always serializes.
        Bytes::from(serde_json::to_vec(self).expect("marker is always serializable"))
    }

    pub fn decode(key: &str, value: &[u8]) -> Result<Self, AutoRecoveryError> {
        serde_json::from_slice(value).map_err(|error| AutoRecoveryError::Corrupt {
            key: key.to_string(),
            reason: error.to_string(),
        })
    }
}

/// Marks `ledger_id` under-replicated for `missing`, merging with a marker
/// already there. Returns whether the stored marker changed. A marker that
/// does not parse is replaced.
pub async fn mark_ledger(
    store: &Arc<dyn MetadataStore>,
    ledger_id: LedgerId,
    missing: &BTreeSet<BookieId>,
) -> Result<bool, AutoRecoveryError> {
    let key = marker_key(ledger_id);
    for _ in 0..MARK_ATTEMPTS {
        let (mut marker, expected) = match store.get(&key).await? {
            None => (UnderReplicatedMarker::default(), Expected::Absent),
            Some(current) => {
                let marker =
                    UnderReplicatedMarker::decode(&key, &current.value).unwrap_or_else(|error| {
                        tracing::warn!(%error, "replacing an unreadable under-replication marker");
                        UnderReplicatedMarker::default()
                    });
                (marker, Expected::Version(current.version))
            }
        };
        if missing.is_subset(&marker.missing) && expected != Expected::Absent {
            return Ok(false);
        }
        marker.missing.extend(missing.iter().cloned());
        match store
            .put(&key, marker.encode(), PutOptions::expect(expected))
            .await
        {
            Ok(_) => return Ok(true),
            Err(MetadataError::BadVersion { .. }) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(MetadataError::Unavailable(format!("too much contention on {key}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use magnetar_metadata::MemoryStore;

    fn set(ids: &[&str]) -> BTreeSet<BookieId> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn marker_round_trips_as_json() {
        let marker = UnderReplicatedMarker {
            missing: set(&["127.0.0.1:3181", "127.0.0.1:3182"]),
        };
        let bytes = marker.encode();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"missing":["127.0.0.1:3181","127.0.0.1:3182"]}"#
        );
        assert_eq!(UnderReplicatedMarker::decode("k", &bytes).unwrap(), marker);
        assert!(matches!(
            UnderReplicatedMarker::decode("k", b"[1"),
            Err(AutoRecoveryError::Corrupt { .. })
        ));
    }

    #[tokio::test]
    async fn marking_creates_then_merges() {
        let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
        assert!(mark_ledger(&store, 7, &set(&["a"])).await.unwrap());
        assert!(
            !mark_ledger(&store, 7, &set(&["a"])).await.unwrap(),
            "unchanged"
        );
        assert!(mark_ledger(&store, 7, &set(&["b"])).await.unwrap());
        let stored = store.get(&marker_key(7)).await.unwrap().unwrap();
        let marker = UnderReplicatedMarker::decode("k", &stored.value).unwrap();
        assert_eq!(marker.missing, set(&["a", "b"]));
    }
}
