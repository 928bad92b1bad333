//! The under-replication marker and how the auditor writes it.
//!
//! The auto-recovery keys (defined in [`crate::keys`]):
//! - `/underreplication/auditor`: the auditor election key (ephemeral).
//! - `/underreplication/ledgers/<ledger-id>`: a ledger that references a
//!   lost bookie or has holes; JSON [`UnderReplicatedMarker`] naming the
//!   lost bookies (and `"holes": true` for holes). Written by the auditor
//!   and by a writer that just went on without a bookie, deleted by the
//!   worker that re-replicated it.
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

/// The value of a marker: the bookies the ledger lost, and whether its
/// metadata records holes. `holes` is left out of the JSON when false, so
/// markers without holes read the same as before (older workers ignore it;
/// they fill no holes, and the auditor's periodic check marks them again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnderReplicatedMarker {
    pub missing: BTreeSet<BookieId>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub holes: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
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
    merge(store, ledger_id, missing, false, false).await
}

/// Marks `ledger_id` for `missing` and, if `holes`, for holes (what the
/// auditor found in its metadata). Returns whether the marker changed.
pub async fn mark_ledger_with(
    store: &Arc<dyn MetadataStore>,
    ledger_id: LedgerId,
    missing: &BTreeSet<BookieId>,
    holes: bool,
) -> Result<bool, AutoRecoveryError> {
    merge(store, ledger_id, missing, holes, false).await
}

/// Marks `ledger_id` as having holes, for a writer that just recorded one:
/// the workers learn of it at once instead of at the auditor's next check.
/// Best effort: a failure is logged at debug level (the auditor's periodic
/// check marks the ledger anyway).
///
/// The marker is written even when it already says `holes`, so its version
/// changes and a worker that is finishing the ledger with older metadata
/// cannot delete it (it deletes only the version it read).
pub async fn mark_ledger_holes(store: &Arc<dyn MetadataStore>, ledger_id: LedgerId) {
    if let Err(error) = merge(store, ledger_id, &BTreeSet::new(), true, true).await {
        tracing::debug!(ledger_id, %error, "cannot mark the ledger's holes; the auditor will");
    }
}

async fn merge(
    store: &Arc<dyn MetadataStore>,
    ledger_id: LedgerId,
    missing: &BTreeSet<BookieId>,
    holes: bool,
    always_write: bool,
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
        let unchanged = missing.is_subset(&marker.missing) && (marker.holes || !holes);
        if unchanged && expected != Expected::Absent && !always_write {
            return Ok(false);
        }
        marker.missing.extend(missing.iter().cloned());
        marker.holes |= holes;
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
            holes: false,
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

    #[test]
    fn holes_appear_in_the_json_only_when_set() {
        let marker = UnderReplicatedMarker {
            missing: BTreeSet::new(),
            holes: true,
        };
        let bytes = marker.encode();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"missing":[],"holes":true}"#
        );
        assert_eq!(UnderReplicatedMarker::decode("k", &bytes).unwrap(), marker);
        let old = UnderReplicatedMarker::decode("k", br#"{"missing":["a"]}"#).unwrap();
        assert!(!old.holes);
    }

    #[tokio::test]
    async fn marking_holes_merges_and_always_bumps_the_version() {
        let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
        assert!(mark_ledger(&store, 7, &set(&["a"])).await.unwrap());
        let before = store.get(&marker_key(7)).await.unwrap().unwrap();
        mark_ledger_holes(&store, 7).await;
        let after = store.get(&marker_key(7)).await.unwrap().unwrap();
        assert_ne!(before.version, after.version);
        let marker = UnderReplicatedMarker::decode("k", &after.value).unwrap();
        assert_eq!((marker.missing, marker.holes), (set(&["a"]), true));

        mark_ledger_holes(&store, 7).await;
        let again = store.get(&marker_key(7)).await.unwrap().unwrap();
        assert_ne!(again.version, after.version, "a writer's mark always lands");
        assert!(
            !mark_ledger_with(&store, 7, &set(&["a"]), true)
                .await
                .unwrap(),
            "the auditor changes nothing that is already marked"
        );
        assert!(mark_ledger_with(&store, 8, &BTreeSet::new(), true)
            .await
            .unwrap());
    }
}
