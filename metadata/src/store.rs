//! The [`MetadataStore`] trait: the one contract every backend (etcd, embedded
//! Raft, in-memory) implements with identical behaviour.
//!
//! Design notes:
//! - Every key has a [`Version`]: the store-wide revision of its last write
//!   (etcd's `mod_revision`, the Raft log index of the write). Versions of one
//!   key only grow, and a deleted-then-recreated key never repeats a version.
//! - CAS is expressed with [`Expected`]; "absent" is its own expectation.
//! - Ephemeral keys are bound to a [`SessionId`]. When the session expires the
//!   store deletes them, and watchers see ordinary delete events.
//! - Watches deliver events in revision order and can resume from a revision,
//!   so a reconnecting watcher loses nothing.
//! - Leader election and id allocation are built on these primitives once, in
//!   [`crate::election`] and [`crate::counter`], so backends cannot diverge.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::error::MetadataError;

/// Result type of every metadata operation.
pub type Result<T, E = MetadataError> = std::result::Result<T, E>;

/// Store-wide revision of a key's last modification. Never 0 for a live key.
pub type Version = u64;

/// Identifier of a session (an etcd lease id, a Raft-replicated session id).
pub type SessionId = i64;

/// A value together with the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned {
    #[serde(with = "crate::serde_base64")]
    pub value: Bytes,
    pub version: Version,
}

/// The condition a write places on the key's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expected {
    /// Unconditional.
    Any,
    /// The key must not exist.
    Absent,
    /// The key must exist at exactly this version.
    Version(Version),
}

/// Options of a put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutOptions {
    pub expected: Expected,
    /// Bind the key to a session: it is deleted when the session expires.
    pub session: Option<SessionId>,
}

impl PutOptions {
    pub const ANY: PutOptions = PutOptions {
        expected: Expected::Any,
        session: None,
    };

    pub fn expect(expected: Expected) -> Self {
        PutOptions {
            expected,
            session: None,
        }
    }

    pub fn ephemeral(expected: Expected, session: SessionId) -> Self {
        PutOptions {
            expected,
            session: Some(session),
        }
    }
}

/// One page of a prefix listing, in key order.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub entries: Vec<(String, Versioned)>,
    /// Pass as `start_after` to get the next page; `None` when this page is the last.
    pub next_start_after: Option<String>,
}

/// What a watch observes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchTarget {
    Key(String),
    Prefix(String),
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchEvent {
    Put {
        key: String,
        #[serde(with = "crate::serde_base64")]
        value: Bytes,
        version: Version,
    },
    Delete {
        key: String,
        revision: Version,
    },
}

impl WatchEvent {
    pub fn key(&self) -> &str {
        match self {
            WatchEvent::Put { key, .. } | WatchEvent::Delete { key, .. } => key,
        }
    }

    /// The store revision at which the change happened.
    pub fn revision(&self) -> Version {
        match self {
            WatchEvent::Put { version, .. } => *version,
            WatchEvent::Delete { revision, .. } => *revision,
        }
    }
}

impl WatchTarget {
    /// Whether a change to `key` is visible to this target.
    pub fn matches(&self, key: &str) -> bool {
        match self {
            WatchTarget::Key(target) => target == key,
            WatchTarget::Prefix(prefix) => key.starts_with(prefix.as_str()),
        }
    }
}

/// An ordered stream of changes. An `Err` item ends the stream; resume with a
/// new watch from the revision after the last event received.
pub type WatchStream = BoxStream<'static, Result<WatchEvent>>;

/// Keys read per page by [`MetadataStore::list_all`].
pub const LIST_ALL_PAGE: usize = 1000;

/// The metadata store contract. Object safe: used as `Arc<dyn MetadataStore>`.
#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// Reads a key. `Ok(None)` when absent.
    async fn get(&self, key: &str) -> Result<Option<Versioned>>;

    /// Writes a key, returning its new version. A failed expectation is
    /// [`MetadataError::BadVersion`]; an unknown or expired session is
    /// [`MetadataError::SessionExpired`].
    async fn put(&self, key: &str, value: Bytes, options: PutOptions) -> Result<Version>;

    /// Deletes a key. Deleting an absent key with `Expected::Any` is `Ok`;
    /// with `Expected::Version(_)` it is `BadVersion`.
    async fn delete(&self, key: &str, expected: Expected) -> Result<()>;

    /// Lists keys under `prefix` in key order, at most `limit` per page,
    /// starting strictly after `start_after`.
    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize)
        -> Result<ListPage>;

    /// Every key under `prefix` with its value, in key order, read in pages
    /// of [`LIST_ALL_PAGE`]. Not one snapshot: a key written while the
    /// pages are read may or may not be in the result. For prefixes whose
    /// keys fit in memory; walk [`MetadataStore::list`] page by page
    /// otherwise.
    async fn list_all(&self, prefix: &str) -> Result<Vec<(String, Versioned)>> {
        let mut all = Vec::new();
        let mut start_after: Option<String> = None;
        loop {
            let page = self
                .list(prefix, start_after.as_deref(), LIST_ALL_PAGE)
                .await?;
            all.extend(page.entries);
            match page.next_start_after {
                Some(next) => start_after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Watches a key or prefix. With `from_revision = Some(r)` the stream
    /// starts with every change at revision `>= r` (for resuming); with
    /// `None` it starts with changes after the call.
    async fn watch(
        &self,
        target: WatchTarget,
        from_revision: Option<Version>,
    ) -> Result<WatchStream>;

    /// The store's current revision (the version the next write will exceed).
    async fn current_revision(&self) -> Result<Version>;

    /// Opens a session that lives while [`MetadataStore::keep_alive`] is
    /// called more often than `ttl`. Use [`crate::session::Session`] rather
    /// than calling this directly: it runs the keepalive task.
    async fn create_session(&self, ttl: Duration) -> Result<SessionId>;

    /// Extends a session. `SessionExpired` once it has expired.
    async fn keep_alive(&self, session: SessionId) -> Result<()>;

    /// Ends a session now, deleting its ephemeral keys.
    async fn revoke_session(&self, session: SessionId) -> Result<()>;
}
