//! Typed errors of the metadata store. Callers branch on the variant, never on text.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MetadataError {
    #[error("key not found: {0}")]
    NotFound(String),
    #[error("version mismatch on {key}")]
    BadVersion { key: String },
    #[error("session {0} expired")]
    SessionExpired(i64),
    #[error("metadata store unavailable: {0}")]
    Unavailable(String),
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("value of {size} bytes exceeds the {limit}-byte limit")]
    ValueTooLarge { size: usize, limit: usize },
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    #[error("watch fell behind compacted history at revision {0}")]
    Compacted(u64),
    #[error("invalid metadata URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("corrupt value under {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("operation cancelled: store shutting down")]
    ShuttingDown,
}
