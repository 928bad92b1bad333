//! Persisted shapes of managed-ledger metadata (JSON in the metadata store)
//! and the keys they live under:
//!
//! - `/managed-ledgers/<ml-name>`: [`StoredLedgerList`], every update a CAS.
//! - `/cursors/<ml-name>/<cursor-name>`: [`StoredCursor`], every update a CAS.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::error::ManagedLedgerError;
use super::position::Position;

pub const LEDGER_LIST_ROOT: &str = "/managed-ledgers/";
pub const CURSOR_ROOT: &str = "/cursors/";

/// One ledger of a managed ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLedger {
    pub ledger_id: u64,
    /// Entries of the ledger; final once the ledger is no longer the last one.
    pub entries: u64,
    /// Payload bytes.
    pub size: u64,
    /// Milliseconds since the epoch: creation time for the current ledger,
    /// close time once closed.
    pub timestamp: u64,
}

/// The ledger list of a managed ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLedgerList {
    pub ledgers: Vec<StoredLedger>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Set once the managed ledger is terminated: its last entry for good
    /// (`(L, -1)` when it held none). Absent in lists stored before
    /// termination existed, which load as not terminated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated_at: Option<Position>,
}

/// A cursor's durable state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCursor {
    pub mark_delete: Position,
    /// Closed ranges `[start, end]` of individually acked positions above
    /// `mark_delete`, ascending; capped (see `max_persisted_ack_ranges`).
    #[serde(default)]
    pub individually_acked: Vec<(Position, Position)>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// How many times entries above `mark_delete` were redelivered
    /// (Shared, Key_Shared), so dead-letter policies survive a restart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redeliveries: Vec<(Position, u32)>,
    /// Batch entries acknowledged in part: what is left of each, as the
    /// protocol's `ack_set` words (capped like `redeliveries`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch_acks: Vec<(Position, Vec<i64>)>,
    /// When a consumer last attached or left (Unix ms): how long the
    /// subscription has gone unused, for its expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_active: Option<u64>,
}

pub fn ledger_list_key(ml_name: &str) -> String {
    format!("{LEDGER_LIST_ROOT}{ml_name}")
}

pub fn cursor_prefix(ml_name: &str) -> String {
    format!("{CURSOR_ROOT}{ml_name}/")
}

pub fn cursor_key(ml_name: &str, cursor_name: &str) -> String {
    format!("{}{}", cursor_prefix(ml_name), cursor_name)
}

pub fn encode<T: Serialize>(value: &T) -> Bytes {
    // Serializing these plain structs to JSON cannot fail (no maps with
    // non-string keys, no custom serializers).
    Bytes::from(serde_json::to_vec(value).expect("managed-ledger metadata serializes to json"))
}

pub fn decode<T: for<'de> Deserialize<'de>>(
    key: &str,
    bytes: &[u8],
) -> Result<T, ManagedLedgerError> {
    serde_json::from_slice(bytes).map_err(|e| ManagedLedgerError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// Checks a managed-ledger or cursor name: non-empty, no empty segments, no
/// control characters. Cursor names additionally may not contain `/`.
pub fn validate_name(name: &str, allow_slash: bool) -> Result<(), ManagedLedgerError> {
    let invalid = |reason| {
        Err(ManagedLedgerError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("empty");
    }
    if name.chars().any(char::is_control) {
        return invalid("contains control characters");
    }
    if !allow_slash && name.contains('/') {
        return invalid("contains '/'");
    }
    if name.split('/').any(str::is_empty) {
        return invalid("contains an empty path segment");
    }
    Ok(())
}

pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_json_round_trips() {
        let cursor = StoredCursor {
            mark_delete: Position::new(4, 10),
            individually_acked: vec![(Position::new(4, 12), Position::new(5, 1))],
            properties: BTreeMap::new(),
            redeliveries: vec![(Position::new(4, 11), 3)],
            batch_acks: vec![(Position::new(4, 13), vec![0b1010])],
            last_active: Some(1_700_000_000_000),
        };
        let bytes = encode(&cursor);
        assert_eq!(decode::<StoredCursor>("k", &bytes).unwrap(), cursor);
        // Cursors stored before these fields existed still load.
        let old: StoredCursor =
            decode("k", br#"{"mark_delete":{"ledger_id":4,"entry_id":10}}"#).unwrap();
        assert!(old.batch_acks.is_empty() && old.last_active.is_none());
        assert!(matches!(
            decode::<StoredCursor>("k", b"{"),
            Err(ManagedLedgerError::Corrupt { .. })
        ));
    }

    #[test]
    fn ledger_lists_without_termination_load_and_terminated_ones_round_trip() {
        let old =
            br#"{"ledgers":[{"ledger_id":3,"entries":5,"size":50,"timestamp":1}],"properties":{}}"#;
        let list: StoredLedgerList = decode("k", old).unwrap();
        assert_eq!(list.terminated_at, None);
        assert!(!String::from_utf8_lossy(&encode(&list)).contains("terminated_at"));
        let terminated = StoredLedgerList {
            terminated_at: Some(Position::new(3, 4)),
            ..list
        };
        let bytes = encode(&terminated);
        assert_eq!(decode::<StoredLedgerList>("k", &bytes).unwrap(), terminated);
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("public/default/persistent/t", true).is_ok());
        assert!(validate_name("a//b", true).is_err());
        assert!(validate_name("sub/x", false).is_err());
        assert!(validate_name("", false).is_err());
    }
}
