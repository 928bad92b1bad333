//! [`PrefixedStore`]: runs a store under a key prefix (the `/prefix` of a
//! `raft://host:port,.../prefix` URL), so several clusters can share one
//! metadata group. The prefixing rules are [`KeyPrefix`]'s, the same as the
//! etcd backend's.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::error::MetadataError;
use crate::prefix::KeyPrefix;
use crate::store::{
    Expected, ListPage, MetadataStore, PutOptions, Result, SessionId, Version, Versioned,
    WatchEvent, WatchStream, WatchTarget,
};
use crate::validate::validate_key;

/// A store whose keys all live under `prefix` in `inner`.
pub struct PrefixedStore {
    inner: Arc<dyn MetadataStore>,
    prefix: KeyPrefix,
}

impl PrefixedStore {
    pub fn new(inner: Arc<dyn MetadataStore>, prefix: &str) -> Self {
        PrefixedStore {
            inner,
            prefix: KeyPrefix::new(Some(prefix)),
        }
    }

    fn full(&self, key: &str) -> String {
        self.prefix.full(key)
    }

    fn strip_error(&self, error: MetadataError) -> MetadataError {
        self.prefix.strip_error(error)
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
            .list(&self.prefix.scan(prefix), start_after.as_deref(), limit)
            .await
            .map_err(|e| self.strip_error(e))?;
        Ok(ListPage {
            entries: page
                .entries
                .into_iter()
                .map(|(key, value)| (self.prefix.strip_str(key), value))
                .collect(),
            next_start_after: page.next_start_after.map(|key| self.prefix.strip_str(key)),
        })
    }

    async fn watch(
        &self,
        target: WatchTarget,
        from_revision: Option<Version>,
    ) -> Result<WatchStream> {
        let target = match target {
            WatchTarget::Key(key) => WatchTarget::Key(self.full(&key)),
            WatchTarget::Prefix(prefix) => WatchTarget::Prefix(self.prefix.scan(&prefix)),
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
                        key: prefix.strip_str(key),
                        value,
                        version,
                    },
                    WatchEvent::Delete { key, revision } => WatchEvent::Delete {
                        key: prefix.strip_str(key),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    #[tokio::test]
    async fn a_cluster_never_sees_the_keys_of_a_longer_prefix() {
        let shared: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
        let a = PrefixedStore::new(shared.clone(), "/a");
        let ab = PrefixedStore::new(shared.clone(), "/ab");
        a.put("/k", Bytes::from_static(b"1"), PutOptions::ANY)
            .await
            .unwrap();
        ab.put("/k", Bytes::from_static(b"2"), PutOptions::ANY)
            .await
            .unwrap();

        let page = a.list("", None, 10).await.unwrap();
        let keys: Vec<&str> = page.entries.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(
            keys,
            ["/k"],
            "only the cluster's own key, without its prefix"
        );
        assert_eq!(page.entries[0].1.value, Bytes::from_static(b"1"));

        let mut events = a
            .watch(WatchTarget::Prefix(String::new()), None)
            .await
            .unwrap();
        ab.put("/other", Bytes::from_static(b"3"), PutOptions::ANY)
            .await
            .unwrap();
        a.put("/mine", Bytes::from_static(b"4"), PutOptions::ANY)
            .await
            .unwrap();
        match events.next().await {
            Some(Ok(WatchEvent::Put { key, .. })) => assert_eq!(key, "/mine"),
            other => panic!("expected the cluster's own put, got {other:?}"),
        }
    }
}
