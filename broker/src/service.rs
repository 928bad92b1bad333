//! `BrokerService`: wires the Pulsar protocol server to managed ledgers and
//! topic ownership, and runs it on a listener the caller bound. The state
//! it builds and the connections share is `context::BrokerContext`.
//!
//! Shutdown order: stop accepting, close connections, then unload topics
//! (which closes managed ledgers and flushes cursors).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use magnetar_bookie::LedgerStore;
use magnetar_metadata::MetadataStore;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::context::{BrokerContext, BrokerServiceConfig};
use crate::managed_ledger::ManagedLedgerFactory;
use crate::metadata_metrics::MeteredStore;
use crate::namespace::{ClusterData, NamespaceError, PolicyStore};
use crate::security::{Security, SecurityError, TlsAcceptor};
use crate::server;
use crate::topic::{LocalOwnership, TopicOwnership, TopicRegistry};

#[derive(Debug, Error)]
pub enum BrokerServiceError {
    #[error("listener: {0}")]
    Listener(#[from] std::io::Error),
    #[error("creating the default namespace: {0}")]
    Bootstrap(#[from] NamespaceError),
    #[error("security settings: {0}")]
    Security(#[from] SecurityError),
}

/// The Pulsar protocol service.
pub struct BrokerService;

/// A running service; dropping it does not stop it, call [`Self::shutdown`].
pub struct BrokerServiceHandle {
    local_addr: SocketAddr,
    context: Arc<BrokerContext>,
    /// The accept loops: plain text, then TLS if served.
    tasks: Vec<JoinHandle<()>>,
}

impl BrokerService {
    /// Starts serving on `listener`, owning every topic (standalone).
    pub async fn start(
        config: BrokerServiceConfig,
        metadata: Arc<dyn MetadataStore>,
        ledgers: Arc<dyn LedgerStore>,
        listener: TcpListener,
    ) -> Result<BrokerServiceHandle, BrokerServiceError> {
        let url = service_url(&config, &listener)?;
        let ownership = Arc::new(LocalOwnership::new(url));
        Self::start_with_ownership(config, metadata, ledgers, ownership, listener).await
    }

    /// Starts serving on `listener`; `ownership` decides which topics this
    /// broker serves and answers lookups. The default cluster, tenant and
    /// namespace are created in `metadata` if absent.
    pub async fn start_with_ownership(
        config: BrokerServiceConfig,
        metadata: Arc<dyn MetadataStore>,
        ledgers: Arc<dyn LedgerStore>,
        ownership: Arc<dyn TopicOwnership>,
        listener: TcpListener,
    ) -> Result<BrokerServiceHandle, BrokerServiceError> {
        let metadata = MeteredStore::wrap(metadata);
        PolicyStore::new(metadata.clone())
            .bootstrap(&config.cluster_name, ClusterData::default())
            .await?;
        let factory = Arc::new(ManagedLedgerFactory::new(
            metadata,
            ledgers,
            config.managed_ledger.clone(),
        ));
        let topics = Arc::new(TopicRegistry::new(
            factory,
            config.dispatch,
            config.topic_defaults,
            config.replication(),
        ));
        Self::start_with_topics(config, topics, ownership, listener).await
    }

    /// Starts serving on `listener` with a topic registry the caller built
    /// (and shares, e.g. with a cluster's bundle control).
    pub async fn start_with_topics(
        config: BrokerServiceConfig,
        topics: Arc<TopicRegistry>,
        ownership: Arc<dyn TopicOwnership>,
        listener: TcpListener,
    ) -> Result<BrokerServiceHandle, BrokerServiceError> {
        let local_addr = listener.local_addr()?;
        let service_url = service_url(&config, &listener)?;
        topics.start_rate_sampler();
        topics.start_policy_task(config.policy_check_interval);
        let policies = PolicyStore::new(Arc::clone(topics.factory().metadata()));
        let security = Arc::new(Security::from_config(
            &config.authentication,
            &config.authorization,
            config.broker_client.clone(),
            policies,
        )?);
        let context = Arc::new(BrokerContext::new(
            config,
            service_url,
            topics,
            ownership,
            security,
        ));
        tracing::info!(addr = %local_addr, service_url = %context.service_url, "pulsar protocol service listening");
        let task = tokio::spawn(server::serve(listener, context.clone()));
        Ok(BrokerServiceHandle {
            local_addr,
            context,
            tasks: vec![task],
        })
    }

    /// Serves until `shutdown` resolves, then shuts down in order.
    pub async fn run(
        config: BrokerServiceConfig,
        metadata: Arc<dyn MetadataStore>,
        ledgers: Arc<dyn LedgerStore>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), BrokerServiceError> {
        let handle = Self::start(config, metadata, ledgers, listener).await?;
        shutdown.await;
        handle.shutdown().await;
        Ok(())
    }
}

impl BrokerServiceHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Also serves `pulsar+ssl://` on `listener`, with the same topics and
    /// security, until shutdown.
    pub fn serve_tls(&mut self, listener: TcpListener, acceptor: TlsAcceptor) {
        if let Ok(address) = listener.local_addr() {
            tracing::info!(%address, "pulsar protocol service listening for tls");
        }
        let context = Arc::clone(&self.context);
        self.tasks
            .push(tokio::spawn(server::serve_tls(listener, acceptor, context)));
    }

    /// The authentication and authorization clients go through (shared
    /// with the admin API).
    pub fn security(&self) -> &Arc<Security> {
        &self.context.security
    }

    /// `pulsar://host:port` as given to clients.
    pub fn service_url(&self) -> &str {
        &self.context.service_url
    }

    /// Loaded topics (stats, unloading by the namespace service).
    pub fn topics(&self) -> &Arc<TopicRegistry> {
        &self.context.topics
    }

    pub fn factory(&self) -> &Arc<ManagedLedgerFactory> {
        self.context.topics.factory()
    }

    /// Stops accepting, closes connections, unloads every topic.
    pub async fn shutdown(self) {
        self.context.shutdown.cancel();
        for task in self.tasks {
            if let Err(error) = task.await {
                tracing::warn!(error = %error, "listener task failed");
            }
        }
        let unloaded = self.context.topics.close_all().await;
        tracing::info!(topics = unloaded, "pulsar protocol service stopped");
    }
}

fn service_url(
    config: &BrokerServiceConfig,
    listener: &TcpListener,
) -> Result<String, std::io::Error> {
    match &config.advertised_service_url {
        Some(url) => Ok(url.clone()),
        None => Ok(format!("pulsar://{}", listener.local_addr()?)),
    }
}
