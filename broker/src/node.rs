//! A broker node: everything one `magnetar broker` (or the broker inside
//! `magnetar standalone`) runs, wired in one place so the binary stays thin
//! and tests start the same thing.
//!
//! Start order: metadata session → bootstrap of the default cluster, tenant
//! and namespace → namespace service (bundle ownership bound to the session)
//! → Pulsar protocol service → HTTP. Shutdown runs it backwards; ownership
//! records vanish with the session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use magnetar_bookie::LedgerStore;
use magnetar_metadata::session::Session;
use magnetar_metadata::{MetadataError, MetadataStore};
use thiserror::Error;
use tokio::net::TcpListener;

use crate::admin::{self, AdminState};
use crate::context::BrokerServiceConfig;
use crate::namespace::{ClusterData, NamespaceError, NamespaceService, OwnershipInfo};
use crate::service::{BrokerService, BrokerServiceError, BrokerServiceHandle};
use crate::topic::{OwnershipError, TopicName, TopicOwnership};

/// Settings of a broker node.
#[derive(Debug, Clone)]
pub struct BrokerNodeConfig {
    pub service: BrokerServiceConfig,
    /// Host clients use to reach this broker (URLs are built from it and the bound ports).
    pub advertised_host: String,
    /// TTL of the metadata session that holds bundle ownership.
    pub session_ttl: Duration,
}

#[derive(Debug, Error)]
pub enum BrokerNodeError {
    #[error("listener: {0}")]
    Listener(#[from] std::io::Error),
    #[error("open metadata session: {0}")]
    Session(MetadataError),
    #[error("bootstrap namespaces: {0}")]
    Bootstrap(NamespaceError),
    #[error(transparent)]
    Service(#[from] BrokerServiceError),
}

/// A running broker node.
pub struct BrokerNode {
    service: BrokerServiceHandle,
    namespaces: Arc<NamespaceService>,
    session: Session,
    pulsar_addr: SocketAddr,
    http_addr: SocketAddr,
    http_task: tokio::task::JoinHandle<()>,
    http_stop: tokio_util::sync::CancellationToken,
}

impl BrokerNode {
    pub async fn start(
        mut config: BrokerNodeConfig,
        metadata: Arc<dyn MetadataStore>,
        ledgers: Arc<dyn LedgerStore>,
        pulsar_listener: TcpListener,
        http_listener: TcpListener,
    ) -> Result<BrokerNode, BrokerNodeError> {
        let pulsar_addr = pulsar_listener.local_addr()?;
        let http_addr = http_listener.local_addr()?;
        let native_url = format!("pulsar://{}:{}", config.advertised_host, pulsar_addr.port());
        let http_url = format!("http://{}:{}", config.advertised_host, http_addr.port());
        config.service.advertised_service_url = Some(native_url.clone());

        let session = Session::open(Arc::clone(&metadata), config.session_ttl)
            .await
            .map_err(BrokerNodeError::Session)?;
        let me = OwnershipInfo {
            native_url: native_url.clone(),
            http_url: http_url.clone(),
            disabled: false,
        };
        let namespaces = Arc::new(NamespaceService::new(
            Arc::clone(&metadata),
            session.id(),
            me,
        ));
        let cluster = ClusterData {
            service_url: http_url,
            broker_service_url: native_url,
        };
        namespaces
            .policies()
            .bootstrap(&config.service.cluster_name, cluster)
            .await
            .map_err(BrokerNodeError::Bootstrap)?;
        watch_session(&session, Arc::clone(&namespaces));

        let cluster_name = config.service.cluster_name.clone();
        let ownership = Arc::new(NamespaceOwnership {
            namespaces: Arc::clone(&namespaces),
        });
        let service = BrokerService::start_with_ownership(
            config.service,
            metadata.clone(),
            ledgers,
            ownership,
            pulsar_listener,
        )
        .await?;
        let http_stop = tokio_util::sync::CancellationToken::new();
        let admin = AdminState::new(metadata, Arc::clone(service.factory()), &cluster_name);
        let stop = http_stop.clone();
        let http_task = tokio::spawn(async move {
            if let Err(error) = admin::serve(http_listener, admin, stop.cancelled_owned()).await {
                tracing::error!(%error, "admin http server stopped");
            }
        });
        Ok(BrokerNode {
            service,
            namespaces,
            session,
            pulsar_addr,
            http_addr,
            http_task,
            http_stop,
        })
    }

    /// The metadata session holding this node's bundle ownership.
    pub fn session_id(&self) -> magnetar_metadata::SessionId {
        self.session.id()
    }

    pub fn pulsar_addr(&self) -> SocketAddr {
        self.pulsar_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Stops serving: connections and topics first (flushing cursors), then
    /// bundle ownership, then HTTP.
    pub async fn shutdown(self) {
        self.service.shutdown().await;
        if let Err(error) = self.namespaces.release_all().await {
            tracing::warn!(%error, "release bundle ownership on shutdown");
        }
        if let Err(error) = self.session.close().await {
            tracing::warn!(%error, "close metadata session on shutdown");
        }
        self.http_stop.cancel();
        let _ = self.http_task.await;
    }
}

/// On session expiry every ownership record is gone: stop claiming bundles.
fn watch_session(session: &Session, namespaces: Arc<NamespaceService>) {
    let expired = session.expired();
    tokio::spawn(async move {
        expired.await;
        tracing::error!("metadata session expired: this broker no longer owns any bundle");
        namespaces.on_session_lost();
    });
}

/// Topic ownership through namespace bundles in the metadata store.
struct NamespaceOwnership {
    namespaces: Arc<NamespaceService>,
}

fn ownership_error(topic: &TopicName, error: NamespaceError) -> OwnershipError {
    match error {
        NamespaceError::Metadata(error) => OwnershipError::Metadata(error),
        other => {
            tracing::warn!(%topic, error = %other, "bundle ownership unavailable");
            OwnershipError::InTransition {
                topic: topic.to_string(),
            }
        }
    }
}

#[async_trait]
impl TopicOwnership for NamespaceOwnership {
    async fn lookup(&self, topic: &TopicName) -> Result<String, OwnershipError> {
        let owner = self
            .namespaces
            .acquire_bundle(topic)
            .await
            .map_err(|e| ownership_error(topic, e))?;
        if owner.disabled {
            return Err(OwnershipError::InTransition {
                topic: topic.to_string(),
            });
        }
        Ok(owner.native_url)
    }

    async fn owns(&self, topic: &TopicName) -> Result<bool, OwnershipError> {
        self.namespaces
            .is_owned_by_me(topic)
            .await
            .map_err(|e| ownership_error(topic, e))
    }
}
