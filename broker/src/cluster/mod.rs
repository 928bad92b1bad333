//! The broker cluster: brokers that share one metadata store and one bookie
//! pool, and the bundles they serve.
//!
//! - [`registry`]: one record per live broker (addresses, load report) and
//!   the leader's record;
//! - [`load`]: load reports and the sampler that measures them;
//! - [`placement`], [`shedding`], [`split`]: the load manager's decisions,
//!   pure functions of the reports;
//! - [`control`]: what an owner does to its bundles (graceful unload, split);
//! - [`requests`]: how the leader asks an owner to unload or split;
//! - [`decisions`]: the load manager's recent decisions, for everyone to read;
//! - [`leader`]: the load manager the elected leader runs;
//! - [`liveness`]: fast failover: ending the session of a broker whose
//!   process is gone;
//! - [`lookup`]: `TopicOwnership` for a cluster (connect, redirect, place);
//! - [`member`]: one broker's membership across metadata sessions.
//!
//! Modules import only modules above them in this list, after `registry`
//! and `load`, which come first. The
//! [`Cluster`] handle wires them for the node and the admin API.

pub mod control;
pub mod decisions;
pub mod leader;
pub mod liveness;
pub mod load;
pub mod lookup;
mod member;
pub mod placement;
pub mod registry;
pub mod requests;
pub mod shedding;
pub mod split;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use magnetar_metadata::session::Session;
use magnetar_metadata::MetadataError;
use parking_lot::Mutex;
use thiserror::Error;
use tokio::sync::watch;

pub use control::BundleControl;
pub use leader::LoadManagerConfig;
pub use lookup::ClusterOwnership;
pub use placement::{PlacementConfig, Placer};
pub use registry::{BrokerInfo, BrokerRegistry, LeaderInfo};

use crate::namespace::{NamespaceError, NamespaceService};
use crate::topic::TopicRegistry;
use member::{Member, MemberTask};

#[derive(Debug, Error)]
pub enum ClusterError {
    #[error("this broker does not own bundle {0}")]
    NotOwner(String),
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error("metadata: {0}")]
    Metadata(#[from] MetadataError),
    #[error("corrupt value under {key}: {reason}")]
    Corrupt { key: String, reason: String },
}

/// Settings of cluster membership and the load manager.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// TTL of the metadata session that holds ownership and registration.
    pub session_ttl: Duration,
    /// How often a broker publishes its load report.
    pub report_interval: Duration,
    /// How often a broker looks for load-manager requests addressed to it.
    pub request_poll_interval: Duration,
    /// How often a broker probes its successor for fast failover (zero: off).
    pub peer_probe_interval: Duration,
    pub placement: PlacementConfig,
    pub load_manager: LoadManagerConfig,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            session_ttl: Duration::from_secs(10),
            report_interval: Duration::from_secs(5),
            request_poll_interval: Duration::from_secs(1),
            peer_probe_interval: Duration::from_millis(500),
            placement: PlacementConfig::default(),
            load_manager: LoadManagerConfig::default(),
        }
    }
}

/// One broker's part in the cluster: its lookups, its bundles and its
/// membership. Cheap to share.
pub struct Cluster {
    member: Arc<Member>,
    ownership: Arc<ClusterOwnership>,
    task: Mutex<Option<MemberTask>>,
}

impl Cluster {
    /// Wires the cluster parts; call [`Self::join`] once the protocol
    /// service runs.
    pub fn new(
        config: ClusterConfig,
        info: BrokerInfo,
        namespaces: Arc<NamespaceService>,
        topics: Arc<TopicRegistry>,
    ) -> Arc<Cluster> {
        let registry = BrokerRegistry::new(namespaces.policies().metadata().clone());
        let placer = Arc::new(Placer::new(config.placement.clone()));
        let draining = Arc::new(AtomicBool::new(false));
        let ownership = Arc::new(ClusterOwnership::new(
            Arc::clone(&namespaces),
            registry.clone(),
            Arc::clone(&placer),
            Arc::clone(&draining),
            Arc::clone(&topics),
        ));
        let (draining_tx, _) = watch::channel(false);
        let member = Arc::new(Member {
            config,
            registry,
            control: BundleControl::new(namespaces, topics),
            placer,
            info: Mutex::new(info),
            has_session: AtomicBool::new(true),
            draining,
            draining_tx,
        });
        Arc::new(Cluster {
            member,
            ownership,
            task: Mutex::new(None),
        })
    }

    /// Starts membership under `session` (registration, reports, requests,
    /// leader campaign, and renewal after expiry).
    pub fn join(&self, session: Session) {
        let task = MemberTask::spawn(Arc::clone(&self.member), session);
        *self.task.lock() = Some(task);
    }

    pub fn ownership(&self) -> &Arc<ClusterOwnership> {
        &self.ownership
    }

    pub fn control(&self) -> &BundleControl {
        &self.member.control
    }

    pub fn registry(&self) -> &BrokerRegistry {
        &self.member.registry
    }

    pub fn broker_id(&self) -> String {
        self.member.info.lock().broker_id.clone()
    }

    /// False while the broker has no metadata session (it serves nothing).
    pub fn has_session(&self) -> bool {
        self.member.has_session.load(Ordering::Acquire)
    }

    /// Shutdown, step one: take no new bundle, say so in the registry and
    /// resign leadership.
    pub fn drain(&self) {
        self.member.draining.store(true, Ordering::Release);
        self.member.draining_tx.send_replace(true);
    }

    /// Shutdown, last step: stop membership, withdraw the registry record
    /// and close the session (which deletes whatever ephemeral keys remain).
    pub async fn leave(&self) {
        let task = self.task.lock().take();
        let Some(task) = task else {
            return;
        };
        let session = task.stop().await;
        if let Err(error) = self.member.registry.withdraw(&self.broker_id()).await {
            tracing::warn!(%error, "withdrawing the broker record failed");
        }
        if let Some(session) = session {
            if let Err(error) = session.close().await {
                tracing::warn!(%error, "closing the metadata session failed");
            }
        }
    }
}
