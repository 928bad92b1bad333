//! Lookups in a cluster (Pulsar's lookup flow, §3.4 of the fact sheet):
//!
//! 1. The topic's bundle has an owner: its own owner answers `Connect`;
//!    any other broker answers an authoritative `Redirect` to the owner,
//!    or `Connect` to it when the lookup was already authoritative. A
//!    record marked `disabled` (unload in progress) answers "retry".
//! 2. No owner, authoritative lookup: the leader chose this broker, so it
//!    acquires the bundle (or connects the client to whoever won a race).
//! 3. No owner, this broker leads (or no leader is known): the placer picks
//!    the least-loaded broker; this broker acquires, or redirects
//!    authoritatively to the chosen one.
//! 4. No owner, another broker leads: a non-authoritative `Redirect` to it.
//!
//! Every path ends after at most two redirects (non-leader → leader →
//! chosen broker), and an authoritative lookup never redirects. A broker
//! shutting down takes no bundle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;

use super::placement::Placer;
use super::registry::BrokerRegistry;
use crate::namespace::{topic_hash, BundleRef, NamespaceError, NamespaceService, OwnershipInfo};
use crate::topic::{
    BrokerTarget, LookupAnswer, OwnershipError, TopicName, TopicOwnership, TopicRegistry,
};

/// Topics of a newly acquired bundle opened at once.
const PRELOAD_CONCURRENCY: usize = 16;

/// Topic ownership through bundles, placement and redirects.
pub struct ClusterOwnership {
    namespaces: Arc<NamespaceService>,
    registry: BrokerRegistry,
    placer: Arc<Placer>,
    broker_id: String,
    draining: Arc<AtomicBool>,
    topics: Arc<TopicRegistry>,
}

impl ClusterOwnership {
    pub fn new(
        namespaces: Arc<NamespaceService>,
        registry: BrokerRegistry,
        placer: Arc<Placer>,
        draining: Arc<AtomicBool>,
        topics: Arc<TopicRegistry>,
    ) -> Self {
        let broker_id = namespaces.me().broker_id.clone();
        ClusterOwnership {
            namespaces,
            registry,
            placer,
            broker_id,
            draining,
            topics,
        }
    }

    fn me(&self) -> &OwnershipInfo {
        self.namespaces.me()
    }

    async fn acquire(
        &self,
        topic: &TopicName,
        bundle: &BundleRef,
        listener: Option<&str>,
    ) -> Result<LookupAnswer, OwnershipError> {
        if self.draining.load(Ordering::Acquire) {
            return Err(OwnershipError::Unavailable {
                topic: topic.to_string(),
                reason: "this broker is shutting down".into(),
            });
        }
        let had = self.namespaces.owns(bundle);
        let owner = self
            .namespaces
            .acquire(bundle)
            .await
            .map_err(|e| ownership_error(topic, e))?;
        if !had && self.namespaces.owns(bundle) {
            self.preload(bundle.clone());
        }
        if owner.disabled {
            return Err(in_transition(topic));
        }
        Ok(LookupAnswer::Connect(target(&owner, listener)?))
    }

    /// Loads the topics of a bundle just acquired, in the background. Opening
    /// a topic's managed ledger fences the previous owner's ledger, so a
    /// paused former owner cannot acknowledge one more message, and the
    /// first client finds its topic ready.
    fn preload(&self, bundle: BundleRef) {
        let namespaces = Arc::clone(&self.namespaces);
        let topics = Arc::clone(&self.topics);
        tokio::spawn(async move {
            let prefix = format!("{}/persistent/", bundle.namespace);
            let names = match topics.factory().list(&prefix).await {
                Ok(names) => names,
                Err(error) => {
                    tracing::warn!(%bundle, %error, "listing topics to preload failed");
                    return;
                }
            };
            let in_bundle: Vec<TopicName> = names
                .iter()
                .filter_map(|name| TopicName::from_persistence_name(name).ok())
                .filter(|topic| bundle.range.contains(topic_hash(topic)))
                .collect();
            let count = in_bundle.len();
            futures::stream::iter(in_bundle)
                .for_each_concurrent(PRELOAD_CONCURRENCY, |topic| {
                    let (namespaces, topics, bundle) = (&namespaces, &topics, &bundle);
                    async move {
                        if !namespaces.owns(bundle) {
                            return;
                        }
                        if let Err(error) = topics.get_or_load(&topic).await {
                            tracing::warn!(%topic, %error, "preloading topic failed");
                        }
                    }
                })
                .await;
            if count > 0 {
                tracing::info!(%bundle, topics = count, "preloaded bundle topics");
            }
        });
    }

    /// Steps 3 and 4 of the module doc.
    async fn place(
        &self,
        topic: &TopicName,
        bundle: &BundleRef,
        listener: Option<&str>,
    ) -> Result<LookupAnswer, OwnershipError> {
        let leader = self
            .registry
            .leader()
            .await
            .map_err(|e| unavailable(topic, e))?;
        if let Some(leader) = leader.filter(|l| l.broker_id != self.broker_id) {
            // Only the leader's record is needed to send the client there.
            let record = self
                .registry
                .broker(&leader.broker_id)
                .await
                .map_err(|e| unavailable(topic, e))?;
            if let Some(info) = record {
                return Ok(LookupAnswer::Redirect {
                    target: target(&info.ownership(), listener)?,
                    authoritative: false,
                });
            }
            // A leader without a record is on its way out: decide here.
        }
        let brokers = self
            .registry
            .brokers()
            .await
            .map_err(|e| unavailable(topic, e))?;
        let chosen = self.placer.place(&bundle.to_string(), &brokers);
        match chosen.and_then(|id| brokers.get(&id).cloned()) {
            Some(info) if info.broker_id != self.broker_id => {
                tracing::debug!(%bundle, broker = %info.broker_id, "placed bundle");
                Ok(LookupAnswer::Redirect {
                    target: target(&info.ownership(), listener)?,
                    authoritative: true,
                })
            }
            // This broker was chosen, or nobody is registered yet (it is
            // starting or its record is being rewritten): take it.
            _ => self.acquire(topic, bundle, listener).await,
        }
    }
}

#[async_trait]
impl TopicOwnership for ClusterOwnership {
    async fn lookup(
        &self,
        topic: &TopicName,
        authoritative: bool,
        listener: Option<&str>,
    ) -> Result<LookupAnswer, OwnershipError> {
        let bundle = self
            .namespaces
            .bundle_of(topic)
            .await
            .map_err(|e| ownership_error(topic, e))?;
        let owner = self
            .namespaces
            .owner(&bundle)
            .await
            .map_err(|e| ownership_error(topic, e))?;
        match owner {
            Some(owner) if owner.disabled => Err(in_transition(topic)),
            Some(owner) if owner.native_url == self.me().native_url => {
                if self.namespaces.owns(&bundle) {
                    Ok(LookupAnswer::Connect(target(&owner, listener)?))
                } else {
                    // Our record from a session that is going away.
                    Err(in_transition(topic))
                }
            }
            Some(owner) if authoritative => Ok(LookupAnswer::Connect(target(&owner, listener)?)),
            Some(owner) => Ok(LookupAnswer::Redirect {
                target: target(&owner, listener)?,
                authoritative: true,
            }),
            None if authoritative => self.acquire(topic, &bundle, listener).await,
            None => self.place(topic, &bundle, listener).await,
        }
    }

    async fn owns(&self, topic: &TopicName) -> Result<bool, OwnershipError> {
        self.namespaces
            .is_owned_by_me(topic)
            .await
            .map_err(|e| ownership_error(topic, e))
    }
}

/// The addresses of `owner` for `listener`.
fn target(owner: &OwnershipInfo, listener: Option<&str>) -> Result<BrokerTarget, OwnershipError> {
    let service_url =
        owner
            .service_url_for(listener)
            .ok_or_else(|| OwnershipError::UnknownListener {
                broker: owner.broker_id.clone(),
                listener: listener.unwrap_or_default().to_string(),
            })?;
    Ok(BrokerTarget {
        service_url: service_url.to_string(),
        // Named listeners carry one URL each: a `pulsar+ssl://` one is
        // also the TLS URL, which is what TLS clients read.
        service_url_tls: match listener {
            None | Some("") => owner.native_url_tls.clone(),
            Some(_) => service_url
                .starts_with("pulsar+ssl://")
                .then(|| service_url.to_string()),
        },
        http_url: owner.http_url.clone(),
    })
}

fn in_transition(topic: &TopicName) -> OwnershipError {
    OwnershipError::InTransition {
        topic: topic.to_string(),
    }
}

fn unavailable(topic: &TopicName, error: super::ClusterError) -> OwnershipError {
    OwnershipError::Unavailable {
        topic: topic.to_string(),
        reason: error.to_string(),
    }
}

fn ownership_error(topic: &TopicName, error: NamespaceError) -> OwnershipError {
    match error {
        NamespaceError::Metadata(error) => OwnershipError::Metadata(error),
        NamespaceError::TenantNotFound(_) | NamespaceError::NamespaceNotFound(_) => {
            OwnershipError::NamespaceNotFound(error.to_string())
        }
        other => {
            tracing::debug!(%topic, error = %other, "bundle ownership unavailable");
            in_transition(topic)
        }
    }
}
