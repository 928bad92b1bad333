//! What compaction stores: the entries of a compacted ledger, and the
//! managed-ledger property that names the current one.
//!
//! A compacted entry is a 20-byte header, then the message body as the
//! topic stores it (a rebuilt batch when some of its messages were
//! compacted out): magic `MCE1`, the original position's ledger id (u64,
//! big endian) and entry id (i64). Readers of the compacted view get the
//! body under its original position, so acks and seeks keep working.
//!
//! The property [`COMPACTED_LEDGER_PROPERTY`] holds
//! `{"ledgerId": L, "entries": N, "horizon": {"ledger_id": .., "entry_id": ..}, "last": ..}`:
//! ledger `L` holds `N` entries, covers the topic up to and including
//! `horizon`, and its last entry is the message at `last`.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use super::error::CompactionError;
use crate::managed_ledger::Position;

/// The managed-ledger property naming the compacted ledger (Pulsar keeps
/// the same fact as the `__compaction` cursor's `CompactedTopicLedger`).
pub const COMPACTED_LEDGER_PROPERTY: &str = "CompactedTopicLedger";

/// The compacted ledger that a managed ledger's `properties` name, if
/// any: the ledger to delete with the topic
/// ([`crate::managed_ledger::ManagedLedgerFactory::delete_with`]).
pub fn compacted_ledgers(properties: &BTreeMap<String, String>) -> Vec<u64> {
    let Some(value) = properties.get(COMPACTED_LEDGER_PROPERTY) else {
        return Vec::new();
    };
    match CompactedLedgerInfo::decode(value) {
        Ok(info) => vec![info.ledger_id],
        Err(error) => {
            tracing::warn!(%error, "unreadable compacted ledger property: that ledger is left behind");
            Vec::new()
        }
    }
}

const MAGIC: &[u8; 4] = b"MCE1";
const HEADER_LEN: usize = 4 + 8 + 8;

/// The current compacted ledger of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactedLedgerInfo {
    pub ledger_id: u64,
    /// Entries in the ledger (ids `0..entries`).
    pub entries: i64,
    /// The last topic position the ledger covers.
    pub horizon: Position,
    /// The original position of the ledger's last entry (`None`: empty).
    #[serde(default)]
    pub last: Option<Position>,
}

impl CompactedLedgerInfo {
    pub fn encode(&self) -> String {
        // A struct of integers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(value: &str) -> Result<Self, CompactionError> {
        serde_json::from_str(value).map_err(|e| CompactionError::BadProperty(e.to_string()))
    }
}

/// A compacted entry: the original position, then the body.
pub fn encode_entry(original: Position, body: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(HEADER_LEN + body.len());
    buf.put_slice(MAGIC);
    buf.put_u64(original.ledger_id);
    buf.put_i64(original.entry_id);
    buf.put_slice(body);
    buf.freeze()
}

/// The original position and the body of a compacted entry; `None` when
/// it has no header.
pub fn decode_entry(data: &Bytes) -> Option<(Position, Bytes)> {
    if data.len() < HEADER_LEN || &data[..4] != MAGIC {
        return None;
    }
    let mut header = &data[4..HEADER_LEN];
    let ledger_id = header.get_u64();
    let entry_id = header.get_i64();
    Some((Position::new(ledger_id, entry_id), data.slice(HEADER_LEN..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_the_property_round_trip() {
        let data = encode_entry(Position::new(7, 42), b"body");
        assert_eq!(
            decode_entry(&data),
            Some((Position::new(7, 42), Bytes::from_static(b"body")))
        );
        assert_eq!(decode_entry(&Bytes::from_static(b"MCE1short")), None);
        let info = CompactedLedgerInfo {
            ledger_id: 9,
            entries: 3,
            horizon: Position::new(7, 42),
            last: Some(Position::new(7, 40)),
        };
        assert_eq!(CompactedLedgerInfo::decode(&info.encode()).unwrap(), info);
        assert!(CompactedLedgerInfo::decode("{").is_err());
    }
}
