//! [`PrefixedStore`]: runs a store under a key prefix (the `/prefix` of a
//! `raft://host:port,.../prefix` URL), so several clusters can share one
//! metadata group. Keys are prefixed on the way in and stripped on the way
//! out, including in listings, watch events and error values.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::error::MetadataError;
use crate::store::{
    Expected, ListPage, MetadataStore, PutOptions, Result, SessionId, Version, Versioned,
    WatchEvent, WatchStream, WatchTarget,
};
use crate::validate::validate_key;

/// A store whose keys all live under `prefix` in `inner`.
pub struct PrefixedStore {
    inner: Arc<dyn MetadataStore>,
    /// Starts with `/` and does not end with one.
    prefix: String,
}

impl PrefixedStore {
    pub fn new(inner: Arc<dyn MetadataStore>, prefix: &str) -> Self {
        PrefixedStore {
            inner,
            prefix: prefix.trim_end_matches('/').to_string(),
        }
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn strip(prefix: &str, key: String) -> String {
        match key.strip_prefix(prefix) {
            Some(rest) => rest.to_string(),
            None => key,
        }
    }

    fn strip_error(&self, error: MetadataError) -> MetadataError {
        match error {
            MetadataError::BadVersion { key } => MetadataError::BadVersion {
                key: Self::strip(&self.prefix, key),
            },
            MetadataError::NotFound(key) => MetadataError::NotFound(Self::strip(&self.prefix, key)),
            MetadataError::InvalidKey { key, reason } => MetadataError::InvalidKey {
                key: Self::strip(&self.prefix, key),
                reason,
            },
            other => other,
        }
    }
}

#[async_trait]
impl MetadataStore for PrefixedStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        validate_key(key)?;
        self.inner
            .get(&self.full(key))
            .await
            .map_err(|e| self.strip_error(e))
    }

    async fn put(&self, key: &str, value: Bytes, options: PutOptions) -> Result<Version> {
        validate_key(key)?;
        self.inner
            .put(&self.full(key), value, options)
            .await
            .map_err(|e| self.strip_error(e))
    }

    async fn delete(&self, key: &str, expected: Expected) -> Result<()> {
        validate_key(key)?;
        self.inner
            .delete(&self.full(key), expected)
            .await
            .map_err(|e| self.strip_error(e))
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage> {
        let start_after = start_after.map(|key| self.full(key));
        let page = self
            .inner
            .list(&self.full(prefix), start_after.as_deref(), limit)
            .await
            .map_err(|e| self.strip_error(e))?;
        Ok(ListPage {
            entries: page
                .entries
                .into_iter()
                .map(|(key, value)| (Self::strip(&self.prefix, key), value))
                .collect(),
            next_start_after: page
                .next_start_after
                .map(|key| Self::strip(&self.prefix, key)),
        })
    }

    async fn watch(
        &self,
        target: WatchTarget,
        from_revision: Option<Version>,
    ) -> Result<WatchStream> {
        let target = match target {
            WatchTarget::Key(key) => WatchTarget::Key(self.full(&key)),
            WatchTarget::Prefix(prefix) => WatchTarget::Prefix(self.full(&prefix)),
        };
        let prefix = self.prefix.clone();
        let events = self.inner.watch(target, from_revision).await?;
        Ok(events
            .map(move |item| {
                item.map(|event| match event {
                    WatchEvent::Put {
                        key,
                        value,
                        version,
                    } => WatchEvent::Put {
                        key: Self::strip(&prefix, key),
                        value,
                        version,
                    },
                    WatchEvent::Delete { key, revision } => WatchEvent::Delete {
                        key: Self::strip(&prefix, key),
                        revision,
                    },
                })
            })
            .boxed())
    }

    async fn current_revision(&self) -> Result<Version> {
        self.inner.current_revision().await
    }

    async fn create_session(&self, ttl: Duration) -> Result<SessionId> {
        self.inner.create_session(ttl).await
    }

    async fn keep_alive(&self, session: SessionId) -> Result<()> {
        self.inner.keep_alive(session).await
    }

    async fn revoke_session(&self, session: SessionId) -> Result<()> {
        self.inner.revoke_session(session).await
    }
}
