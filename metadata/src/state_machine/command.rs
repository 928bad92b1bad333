//! The commands a [`super::KvStateMachine`] applies and the results it returns.
//!
//! Both are serde types because a replicated backend stores commands in its
//! log and ships results back to the proposer. Every input a command needs —
//! including the current time — is carried inside it, so that every replica
//! applying the same command reaches the same state.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::MetadataError;
use crate::store::{Expected, SessionId, Version};
use crate::validate::{invalid_key, KeyRule};

/// A state change proposed to the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Writes `key` if `expected` holds, optionally binding it to a session.
    Put {
        key: String,
        #[serde(with = "crate::serde_base64")]
        value: Bytes,
        expected: Expected,
        session: Option<SessionId>,
    },
    /// Deletes `key` if `expected` holds.
    Delete { key: String, expected: Expected },
    /// Opens a session that expires at `now_ms + ttl_ms` unless kept alive.
    CreateSession { ttl_ms: u64, now_ms: u64 },
    /// Moves a session's deadline to `now_ms + ttl`.
    KeepAlive { session: SessionId, now_ms: u64 },
    /// Ends a session and deletes its ephemeral keys.
    RevokeSession { session: SessionId },
    /// Expires every session whose deadline is at or before `now_ms`. Issued
    /// by the leader (or the single owner) from its clock; replicas only
    /// replay the decision.
    ExpireSessions { now_ms: u64 },
}

/// What a successfully applied command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// The key's new version.
    Put {
        version: Version,
    },
    /// The key was deleted, or was already absent (`revision` is `None` then).
    Deleted {
        revision: Option<Version>,
    },
    SessionCreated {
        session: SessionId,
    },
    KeptAlive,
    Revoked,
    /// The sessions that expired, in id order.
    Expired {
        sessions: Vec<SessionId>,
    },
}

/// Why a command was rejected. A serializable mirror of the subset of
/// [`MetadataError`] the state machine can produce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandError {
    BadVersion {
        key: String,
    },
    SessionExpired {
        session: SessionId,
    },
    InvalidKey {
        key: String,
        rule: KeyRule,
    },
    ValueTooLarge {
        size: usize,
        limit: usize,
    },
    /// A session TTL of zero, or one too large to represent.
    InvalidTtl {
        ttl_ms: u64,
    },
}

/// The outcome of applying one command: what a replicated log returns.
pub type CommandOutcome = Result<CommandResult, CommandError>;

impl From<CommandError> for MetadataError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::BadVersion { key } => MetadataError::BadVersion { key },
            CommandError::SessionExpired { session } => MetadataError::SessionExpired(session),
            CommandError::InvalidKey { key, rule } => invalid_key(&key, rule),
            CommandError::ValueTooLarge { size, limit } => {
                MetadataError::ValueTooLarge { size, limit }
            }
            CommandError::InvalidTtl { ttl_ms } => {
                MetadataError::QuotaExceeded(format!("session ttl of {ttl_ms} ms is out of range"))
            }
        }
    }
}
