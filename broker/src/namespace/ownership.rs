//! Bundle ownership: which broker serves which bundle.
//!
//! Owning a bundle = an ephemeral key `/namespace/<tenant>/<ns>/<bundle>`
//! created with `Expected::Absent` and bound to this broker's metadata
//! session. The store gives at most one winner; losers read the winner's
//! record and redirect clients there. When the session expires the store
//! deletes the keys, so this broker must assume it owns nothing: call
//! [`NamespaceService::on_session_lost`] (or let any `SessionExpired` error
//! do it), and [`NamespaceService::on_session_renewed`] once a new session
//! is open. Safety against a broker that still believes it owns a bundle
//! comes from ledger fencing in the managed ledger, never from timing.
//!
//! Unloading marks the record `disabled` first (lookups answer "retry"
//! while the owner closes the bundle's topics), then deletes it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use magnetar_metadata::{Expected, MetadataError, MetadataStore, PutOptions, SessionId};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::bundles::BundleRange;
use super::policies::PolicyStore;
use super::{NamespaceError, NamespaceName, TopicName};
use crate::metrics;

pub const OWNERSHIP_ROOT: &str = "/namespace/";

/// An owner record (Pulsar's `NamespaceEphemeralData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnershipInfo {
    /// `pulsar://host:port` of the owner's binary protocol listener.
    pub native_url: String,
    /// `pulsar+ssl://host:port`, when the owner serves TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_url_tls: Option<String>,
    /// `http://host:port` of the owner's admin listener.
    pub http_url: String,
    /// Set while the bundle is being unloaded.
    #[serde(default)]
    pub disabled: bool,
    /// The owner's id in the broker registry (`host:http-port`).
    #[serde(default)]
    pub broker_id: String,
    /// Named listeners (Pulsar's `advertisedListeners`): name → service URL.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub advertised_listeners: BTreeMap<String, String>,
}

impl OwnershipInfo {
    /// The service URL a client asking through `listener` should use;
    /// `None` when the broker has no listener of that name.
    pub fn service_url_for(&self, listener: Option<&str>) -> Option<&str> {
        match listener {
            None | Some("") => Some(&self.native_url),
            Some(name) => self.advertised_listeners.get(name).map(String::as_str),
        }
    }
}

/// A bundle of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BundleRef {
    pub namespace: NamespaceName,
    pub range: BundleRange,
}

impl fmt::Display for BundleRef {
    /// `tenant/namespace/0x..._0x...`, as Pulsar names bundles.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.range)
    }
}

impl BundleRef {
    /// Parses `tenant/namespace/0x..._0x...`.
    pub fn parse(name: &str) -> Option<BundleRef> {
        let (namespace, range) = name.rsplit_once('/')?;
        let (tenant, namespace) = namespace.split_once('/')?;
        Some(BundleRef {
            namespace: NamespaceName::new(tenant, namespace).ok()?,
            range: BundleRange::parse(range)?,
        })
    }

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
    /// This broker's metadata session; `None` while it has none.
    session: Mutex<Option<SessionId>>,
    me: OwnershipInfo,
    owned: Mutex<BTreeSet<BundleRef>>,
}

impl NamespaceService {
    /// `session` is this broker's metadata session; `me` its advertised URLs.
    pub fn new(metadata: Arc<dyn MetadataStore>, session: SessionId, me: OwnershipInfo) -> Self {
        NamespaceService {
            policies: PolicyStore::new(metadata),
            session: Mutex::new(Some(session)),
            me,
            owned: Mutex::new(BTreeSet::new()),
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

    /// The current owner of `bundle`, if any.
    pub async fn owner(&self, bundle: &BundleRef) -> Result<Option<OwnershipInfo>, NamespaceError> {
        self.read_owner(&bundle.ownership_key()).await
    }

    /// Takes ownership of `bundle` if nobody owns it. Returns the owner:
    /// this broker's info when it owns (or just took) the bundle, otherwise
    /// the other broker's.
    pub async fn acquire(&self, bundle: &BundleRef) -> Result<OwnershipInfo, NamespaceError> {
        let session = self.session()?;
        if self.owned.lock().contains(bundle) {
            return Ok(self.me.clone());
        }
        let key = bundle.ownership_key();
        let value = Bytes::from(serde_json::to_vec(&self.me).map_err(|e| corrupt(&key, e))?);
        let put = self
            .metadata()
            .put(
                &key,
                value,
                PutOptions::ephemeral(Expected::Absent, session),
            )
            .await;
        match put {
            Ok(_) => {
                if self.owned.lock().insert(bundle.clone()) {
                    metrics::BUNDLES_OWNED.inc();
                }
                tracing::info!(%bundle, "acquired bundle");
                Ok(self.me.clone())
            }
            Err(MetadataError::BadVersion { .. }) => match self.read_owner(&key).await? {
                Some(owner) => Ok(owner),
                // Released between our put and our read: try once more.
                None => Box::pin(self.acquire(bundle)).await,
            },
            Err(MetadataError::SessionExpired(_)) => {
                self.on_session_lost();
                Err(NamespaceError::SessionLost)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether this broker owns the topic's bundle (per its own record;
    /// false while it has no session).
    pub async fn is_owned_by_me(&self, topic: &TopicName) -> Result<bool, NamespaceError> {
        if self.is_session_lost() {
            return Ok(false);
        }
        let bundle = self.bundle_of(topic).await?;
        Ok(self.owns(&bundle))
    }

    /// Whether this broker owns `bundle` (per its own record).
    pub fn owns(&self, bundle: &BundleRef) -> bool {
        self.owned.lock().contains(bundle)
    }

    /// Marks this broker's record of `bundle` `disabled`: lookups answer
    /// "retry" while it is being unloaded. False when the record is not
    /// this broker's (any more).
    pub async fn set_disabled(&self, bundle: &BundleRef) -> Result<bool, NamespaceError> {
        let session = self.session()?;
        let key = bundle.ownership_key();
        let Some(stored) = self.metadata().get(&key).await? else {
            return Ok(false);
        };
        let mut owner: OwnershipInfo =
            serde_json::from_slice(&stored.value).map_err(|e| corrupt(&key, e))?;
        if owner.native_url != self.me.native_url {
            return Ok(false);
        }
        owner.disabled = true;
        let value = Bytes::from(serde_json::to_vec(&owner).map_err(|e| corrupt(&key, e))?);
        match self
            .metadata()
            .put(
                &key,
                value,
                PutOptions::ephemeral(Expected::Version(stored.version), session),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(MetadataError::BadVersion { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
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
    /// Returns the bundles this broker believed it owned.
    pub fn on_session_lost(&self) -> Vec<BundleRef> {
        let had_session = self.session.lock().take().is_some();
        let lost: Vec<BundleRef> = std::mem::take(&mut *self.owned.lock())
            .into_iter()
            .collect();
        metrics::BUNDLES_OWNED.add(-(lost.len() as i64));
        if had_session {
            tracing::warn!(
                bundles = lost.len(),
                "metadata session lost, dropping bundle ownership"
            );
        }
        lost
    }

    /// A new session is open: acquisitions bind to it from now on.
    pub fn on_session_renewed(&self, session: SessionId) {
        *self.session.lock() = Some(session);
    }

    /// The session ownership binds to now; `None` while there is none.
    pub fn session_id(&self) -> Option<SessionId> {
        *self.session.lock()
    }

    pub fn is_session_lost(&self) -> bool {
        self.session.lock().is_none()
    }

    fn session(&self) -> Result<SessionId, NamespaceError> {
        (*self.session.lock()).ok_or(NamespaceError::SessionLost)
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
