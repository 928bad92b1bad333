//! What an owner does to a bundle it owns: unload it gracefully, or split
//! it. Both close the bundle's topics on this broker before the ownership
//! record goes, so no two brokers serve a topic at once.
//!
//! Unload: mark the record `disabled` (lookups answer "retry"), close the
//! bundle's topics (producers and consumers are told to reconnect; adds in
//! flight finish, acknowledged or failed, before the managed ledgers
//! close), then delete the record. The next lookup places the bundle again.
//!
//! Split: the same, with the namespace's boundaries replaced by the two
//! halves (one CAS) before the record goes; lookups then find the halves
//! unowned and place each on its own.

use std::sync::Arc;

use crate::namespace::{topic_hash, BundleRange, BundleRef, NamespaceService};
use crate::topic::TopicRegistry;

use super::ClusterError;

/// Unloads and splits bundles this broker owns.
#[derive(Clone)]
pub struct BundleControl {
    namespaces: Arc<NamespaceService>,
    topics: Arc<TopicRegistry>,
}

impl BundleControl {
    pub fn new(namespaces: Arc<NamespaceService>, topics: Arc<TopicRegistry>) -> Self {
        BundleControl { namespaces, topics }
    }

    pub fn namespaces(&self) -> &Arc<NamespaceService> {
        &self.namespaces
    }

    pub fn topics(&self) -> &Arc<TopicRegistry> {
        &self.topics
    }

    /// Unloads `bundle`; false when this broker does not own it.
    pub async fn unload(&self, bundle: &BundleRef) -> Result<bool, ClusterError> {
        if !self.namespaces.owns(bundle) {
            return Ok(false);
        }
        let started = std::time::Instant::now();
        self.namespaces.set_disabled(bundle).await?;
        let closed = self.close_topics(bundle).await;
        self.namespaces.release_bundle(bundle).await?;
        tracing::info!(%bundle, topics = closed, elapsed_ms = started.elapsed().as_millis() as u64, "unloaded bundle");
        Ok(true)
    }

    /// Splits `bundle` in two; see the module doc.
    pub async fn split(&self, bundle: &BundleRef) -> Result<[BundleRange; 2], ClusterError> {
        if !self.namespaces.owns(bundle) {
            return Err(ClusterError::NotOwner(bundle.to_string()));
        }
        self.namespaces.set_disabled(bundle).await?;
        let closed = self.close_topics(bundle).await;
        let split = self
            .namespaces
            .policies()
            .split_bundle(&bundle.namespace, &bundle.range)
            .await;
        self.namespaces.release_bundle(bundle).await?;
        let halves = split?;
        tracing::info!(%bundle, topics = closed, low = %halves[0], high = %halves[1], "split bundle");
        Ok(halves)
    }

    /// Unloads every bundle this broker owns (shutdown); returns how many.
    pub async fn unload_all(&self) -> usize {
        let mut unloaded = 0;
        for bundle in self.namespaces.owned_bundles() {
            match self.unload(&bundle).await {
                Ok(true) => unloaded += 1,
                Ok(false) => {}
                Err(error) => tracing::warn!(%bundle, %error, "unload failed"),
            }
        }
        unloaded
    }

    async fn close_topics(&self, bundle: &BundleRef) -> usize {
        let range = bundle.range;
        let namespace = bundle.namespace.clone();
        self.topics
            .unload_matching(|topic| {
                topic.namespace() == &namespace && range.contains(topic_hash(topic))
            })
            .await
    }
}
