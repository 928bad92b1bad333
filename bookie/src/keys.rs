//! The metadata key layout of the storage layer: every key the bookies, the
//! ledger client and auto-recovery read or write, and the bookie
//! registration value, defined once.
//!
//! - `/ledgers/<ledger-id>`: a ledger's metadata (JSON, written by the ledger
//!   client; the bookie's GC drops ledgers whose key is gone).
//! - `/counters/ledger-id`: the counter ledger ids are allocated from.
//! - `/bookies/available/<bookie-id>`: a bookie's registration (ephemeral,
//!   JSON [`BookieRegistration`]); placement and the auditor list them.
//! - `/bookies/instance-id`, `/bookies/cookies/<bookie-id>`: the cluster
//!   instance id and each bookie's remote cookie.
//! - `/underreplication/auditor`, `/underreplication/ledgers/<ledger-id>`,
//!   `/underreplication/locks/<ledger-id>`: auto-recovery's election key,
//!   under-replication markers and re-replication locks.

use serde::{Deserialize, Serialize};

use crate::ledger::LedgerId;

/// Prefix of the ledger metadata keys.
pub const LEDGERS_PREFIX: &str = "/ledgers/";
/// Counter key the ledger ids are allocated from.
pub const LEDGER_ID_COUNTER_KEY: &str = "/counters/ledger-id";
/// Prefix of the bookie registrations.
pub const AVAILABLE_BOOKIES_PREFIX: &str = "/bookies/available/";
/// Key of the cluster instance id.
pub const INSTANCE_ID_KEY: &str = "/bookies/instance-id";
/// Prefix of the bookies' remote cookies.
pub const COOKIES_PREFIX: &str = "/bookies/cookies/";
/// Election key of the auditor.
pub const AUDITOR_ELECTION_KEY: &str = "/underreplication/auditor";
/// Prefix of the under-replication markers.
pub const MARKERS_PREFIX: &str = "/underreplication/ledgers/";
/// Prefix of the re-replication locks.
pub const LOCKS_PREFIX: &str = "/underreplication/locks/";

/// Metadata key of a ledger.
pub fn ledger_key(ledger_id: LedgerId) -> String {
    format!("{LEDGERS_PREFIX}{ledger_id}")
}

/// The ledger id a ledger metadata key names, if it is one.
pub fn ledger_of_key(key: &str) -> Option<LedgerId> {
    key.strip_prefix(LEDGERS_PREFIX)?.parse().ok()
}

/// Registration key of a bookie.
pub fn available_key(bookie_id: &str) -> String {
    format!("{AVAILABLE_BOOKIES_PREFIX}{bookie_id}")
}

/// The bookie id a registration key names: what follows the prefix, if it
/// is a single non-empty path segment.
pub fn bookie_of_available_key(key: &str) -> Option<&str> {
    let id = key.strip_prefix(AVAILABLE_BOOKIES_PREFIX)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// Key of a bookie's remote cookie.
pub fn cookie_key(bookie_id: &str) -> String {
    format!("{COOKIES_PREFIX}{bookie_id}")
}

/// Marker key of a ledger.
pub fn marker_key(ledger_id: LedgerId) -> String {
    format!("{MARKERS_PREFIX}{ledger_id}")
}

/// Lock key of a ledger.
pub fn lock_key(ledger_id: LedgerId) -> String {
    format!("{LOCKS_PREFIX}{ledger_id}")
}

/// The ledger id a marker key names, if it is one.
pub fn ledger_of_marker(key: &str) -> Option<LedgerId> {
    key.strip_prefix(MARKERS_PREFIX)?.parse().ok()
}

/// Value under `/bookies/available/<bookie-id>`: written by the bookie's
/// registration, read by placement and the auditor. Fields a reader does not
/// find take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookieRegistration {
    pub address: String,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub free_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_what_they_hold() {
        assert_eq!(ledger_key(7), "/ledgers/7");
        assert_eq!(ledger_of_key("/ledgers/7"), Some(7));
        assert_eq!(ledger_of_key("/ledgers/x"), None);
        assert_eq!(available_key("h:1"), "/bookies/available/h:1");
        assert_eq!(
            bookie_of_available_key("/bookies/available/h:1"),
            Some("h:1")
        );
        assert_eq!(bookie_of_available_key("/bookies/available/"), None);
        assert_eq!(bookie_of_available_key("/bookies/available/a/b"), None);
        assert_eq!(cookie_key("h:1"), "/bookies/cookies/h:1");
        assert_eq!(marker_key(42), "/underreplication/ledgers/42");
        assert_eq!(lock_key(42), "/underreplication/locks/42");
        assert_eq!(ledger_of_marker("/underreplication/ledgers/42"), Some(42));
        assert_eq!(ledger_of_marker("/underreplication/ledgers/x"), None);
        assert_eq!(ledger_of_marker("/ledgers/42"), None);
    }

    #[test]
    fn registration_without_optional_fields_parses() {
        let parsed: BookieRegistration = serde_json::from_slice(br#"{"address":"h:1"}"#).unwrap();
        assert_eq!(
            parsed,
            BookieRegistration {
                address: "h:1".into(),
                read_only: false,
                free_bytes: 0
            }
        );
    }
}
