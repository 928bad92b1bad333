//! Bundle ownership: which broker serves which bundle.
//!
//! Owning a bundle = an ephemeral key `/namespace/<tenant>/<ns>/<bundle>`
//! created with `Expected::Absent` and bound to this broker's metadata
//! session. The store gives at most one winner; losers read the winner's
//! record and redirect clients there. When the session expires the store
//! deletes the keys, so this broker must assume it owns nothing: call
//! [`NamespaceService::on_session_lost`] (or let any `SessionExpired` error
//! do it). Safety against a broker that still believes it owns a bundle
//! comes from ledger fencing in the managed ledger, never from timing.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use magnetar_metadata::{Expected, MetadataError, MetadataStore, PutOptions, SessionId};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::bundles::BundleRange;
use super::policies::PolicyStore;
use super::{NamespaceError, NamespaceName, TopicName};
use crate::metrics;

pub const OWNERSHIP_ROOT: &str = "/namespace/";

/// An owner record (Pulsar's `NamespaceEphemeralData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnershipInfo {
    /// `pulsar://host:port` of the owner's binary protocol listener.
    pub native_url: String,
    /// `http://host:port` of the owner's admin listener.
    pub http_url: String,
    /// Set while the bundle is being unloaded.
    #[serde(default)]
    pub disabled: bool,
}

/// A bundle of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BundleRef {
    pub namespace: NamespaceName,
    pub range: BundleRange,
}

impl BundleRef {
    pub fn ownership_key(&self) -> String {
        format!(
            "{OWNERSHIP_ROOT}{}/{}/{}",
            self.namespace.tenant(),
            self.namespace.namespace(),
            self.range
        )
    }
}

pub struct NamespaceService {
    policies: PolicyStore,
    session: SessionId,
    me: OwnershipInfo,
    owned: Mutex<BTreeSet<BundleRef>>,
    session_lost: AtomicBool,
}

impl NamespaceService {
    /// `session` is this broker's metadata session; `me` its advertised URLs.
    pub fn new(metadata: Arc<dyn MetadataStore>, session: SessionId, me: OwnershipInfo) -> Self {
        NamespaceService {
            policies: PolicyStore::new(metadata),
            session,
            me,
            owned: Mutex::new(BTreeSet::new()),
            session_lost: AtomicBool::new(false),
        }
    }

    pub fn policies(&self) -> &PolicyStore {
        &self.policies
    }

    pub fn me(&self) -> &OwnershipInfo {
        &self.me
    }

    fn metadata(&self) -> &Arc<dyn MetadataStore> {
        self.policies.metadata()
    }

    /// The bundle a topic belongs to (reads the namespace's boundaries).
    pub async fn bundle_of(&self, topic: &TopicName) -> Result<BundleRef, NamespaceError> {
        let bundles = self.policies.namespace_bundles(topic.namespace()).await?;
        Ok(BundleRef {
            namespace: topic.namespace().clone(),
            range: bundles.range_for_topic(topic),
        })
    }

    /// The current owner of the topic's bundle, if any.
    pub async fn owner_of(
        &self,
        topic: &TopicName,
    ) -> Result<Option<OwnershipInfo>, NamespaceError> {
        let bundle = self.bundle_of(topic).await?;
        self.read_owner(&bundle.ownership_key()).await
    }

    /// Takes ownership of the topic's bundle if nobody owns it. Returns the
    /// owner: this broker's info when it owns (or just took) the bundle,
    /// otherwise the other broker's.
    pub async fn acquire_bundle(&self, topic: &TopicName) -> Result<OwnershipInfo, NamespaceError> {
        self.check_session()?;
        let bundle = self.bundle_of(topic).await?;
        if self.owned.lock().contains(&bundle) {
            return Ok(self.me.clone());
        }
        let key = bundle.ownership_key();
        let value = Bytes::from(serde_json::to_vec(&self.me).map_err(|e| corrupt(&key, e))?);
        let put = self
            .metadata()
            .put(
                &key,
                value,
                PutOptions::ephemeral(Expected::Absent, self.session),
            )
            .await;
        match put {
            Ok(_) => {
                if self.owned.lock().insert(bundle) {
                    metrics::BUNDLES_OWNED.inc();
                }
                tracing::info!(bundle = %key, "acquired bundle");
                Ok(self.me.clone())
            }
            Err(MetadataError::BadVersion { .. }) => match self.read_owner(&key).await? {
                Some(owner) => Ok(owner),
                // Released between our put and our read: try once more.
                None => Box::pin(self.acquire_bundle(topic)).await,
            },
            Err(MetadataError::SessionExpired(_)) => {
                self.on_session_lost();
                Err(NamespaceError::SessionLost)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether this broker owns the topic's bundle (per its own record;
    /// false once the session is lost).
    pub async fn is_owned_by_me(&self, topic: &TopicName) -> Result<bool, NamespaceError> {
        if self.session_lost.load(Ordering::Acquire) {
            return Ok(false);
        }
        let bundle = self.bundle_of(topic).await?;
        Ok(self.owned.lock().contains(&bundle))
    }

    /// Bundles this broker owns.
    pub fn owned_bundles(&self) -> Vec<BundleRef> {
        self.owned.lock().iter().cloned().collect()
    }

    /// Releases one bundle (after its topics were closed).
    pub async fn release_bundle(&self, bundle: &BundleRef) -> Result<(), NamespaceError> {
        let was_owned = self.owned.lock().remove(bundle);
        if was_owned {
            metrics::BUNDLES_OWNED.dec();
            self.delete_if_mine(&bundle.ownership_key()).await?;
        }
        Ok(())
    }

    /// Releases every owned bundle (shutdown). Topics must be closed first.
    pub async fn release_all(&self) -> Result<(), NamespaceError> {
        let bundles: Vec<BundleRef> = std::mem::take(&mut *self.owned.lock())
            .into_iter()
            .collect();
        metrics::BUNDLES_OWNED.add(-(bundles.len() as i64));
        let mut first_error = None;
        for bundle in bundles {
            if let Err(error) = self.delete_if_mine(&bundle.ownership_key()).await {
                tracing::warn!(bundle = %bundle.ownership_key(), error = %error, "could not release bundle");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The session is gone: the store has deleted (or will delete) every
    /// ownership key, so forget them all and refuse new acquisitions.
    pub fn on_session_lost(&self) {
        if !self.session_lost.swap(true, Ordering::AcqRel) {
            let lost = std::mem::take(&mut *self.owned.lock());
            metrics::BUNDLES_OWNED.add(-(lost.len() as i64));
            tracing::warn!(
                bundles = lost.len(),
                "metadata session lost, dropping bundle ownership"
            );
        }
    }

    pub fn is_session_lost(&self) -> bool {
        self.session_lost.load(Ordering::Acquire)
    }

    fn check_session(&self) -> Result<(), NamespaceError> {
        if self.is_session_lost() {
            Err(NamespaceError::SessionLost)
        } else {
            Ok(())
        }
    }

    async fn read_owner(&self, key: &str) -> Result<Option<OwnershipInfo>, NamespaceError> {
        match self.metadata().get(key).await? {
            Some(stored) => serde_json::from_slice(&stored.value)
                .map(Some)
                .map_err(|e| corrupt(key, e)),
            None => Ok(None),
        }
    }

    async fn delete_if_mine(&self, key: &str) -> Result<(), NamespaceError> {
        let Some(stored) = self.metadata().get(key).await? else {
            return Ok(());
        };
        let owner: OwnershipInfo =
            serde_json::from_slice(&stored.value).map_err(|e| corrupt(key, e))?;
        if owner.native_url != self.me.native_url {
            return Ok(());
        }
        match self
            .metadata()
            .delete(key, Expected::Version(stored.version))
            .await
        {
            Ok(()) | Err(MetadataError::BadVersion { .. }) | Err(MetadataError::NotFound(_)) => {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn corrupt(key: &str, error: serde_json::Error) -> NamespaceError {
    NamespaceError::Corrupt {
        key: key.to_string(),
        reason: error.to_string(),
    }
}
