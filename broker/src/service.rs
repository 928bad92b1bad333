//! `BrokerService`: wires the Pulsar protocol server to managed ledgers and
//! topic ownership, and runs it on a listener the caller bound.
//!
//! Shutdown order: stop accepting, close connections, then unload topics
//! (which closes managed ledgers and flushes cursors).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use magnetar_bookie::LedgerStore;
use magnetar_metadata::MetadataStore;
use magnetar_proto::pulsar::DEFAULT_MAX_MESSAGE_SIZE;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::managed_ledger::{ManagedLedgerConfig, ManagedLedgerFactory};
use crate::topic::{LocalOwnership, TopicOwnership, TopicRegistry};

/// Settings of the Pulsar protocol service.
#[derive(Debug, Clone)]
pub struct BrokerServiceConfig {
    /// Cluster name; generated producer names are `<cluster>-<n>`.
    pub cluster_name: String,
    /// URL clients are sent to by LOOKUP (`pulsar://host:port`). Derived
    /// from the listener's address when `None`.
    pub advertised_service_url: Option<String>,
    /// Largest message (metadata + payload); frames may be 10 KiB larger.
    pub max_message_size: usize,
    /// PING period; a connection silent for two periods is closed.
    pub keepalive_interval: Duration,
    /// Publishes awaiting their receipt per connection before the broker
    /// stops reading from it.
    pub max_pending_publishes: usize,
    pub managed_ledger: ManagedLedgerConfig,
}

impl Default for BrokerServiceConfig {
    fn default() -> Self {
        BrokerServiceConfig {
            cluster_name: "standalone".to_string(),
            advertised_service_url: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            keepalive_interval: Duration::from_secs(30),
            max_pending_publishes: 1000,
            managed_ledger: ManagedLedgerConfig::default(),
        }
    }
}

#[derive(Debug, Error)]
pub enum BrokerServiceError {
    #[error("listener: {0}")]
    Listener(#[from] std::io::Error),
}

/// State shared by every connection.
pub(crate) struct BrokerContext {
    pub config: BrokerServiceConfig,
    pub service_url: String,
    pub topics: TopicRegistry,
    pub ownership: Arc<dyn TopicOwnership>,
    pub next_producer_name: AtomicU64,
    pub next_connection_id: AtomicU64,
    pub shutdown: CancellationToken,
}

/// The Pulsar protocol service.
pub struct BrokerService;

/// A running service; dropping it does not stop it, call [`Self::shutdown`].
pub struct BrokerServiceHandle {
    local_addr: SocketAddr,
    context: Arc<BrokerContext>,
    task: JoinHandle<()>,
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
    /// broker serves and answers lookups.
    pub async fn start_with_ownership(
        config: BrokerServiceConfig,
        metadata: Arc<dyn MetadataStore>,
        ledgers: Arc<dyn LedgerStore>,
        ownership: Arc<dyn TopicOwnership>,
        listener: TcpListener,
    ) -> Result<BrokerServiceHandle, BrokerServiceError> {
        let local_addr = listener.local_addr()?;
        let service_url = service_url(&config, &listener)?;
        let factory = Arc::new(ManagedLedgerFactory::new(
            metadata,
            ledgers,
            config.managed_ledger.clone(),
        ));
        let context = Arc::new(BrokerContext {
            config,
            service_url,
            topics: TopicRegistry::new(factory),
            ownership,
            next_producer_name: AtomicU64::new(0),
            next_connection_id: AtomicU64::new(0),
            shutdown: CancellationToken::new(),
        });
        tracing::info!(addr = %local_addr, service_url = %context.service_url, "pulsar protocol service listening");
        let task = tokio::spawn(crate::server::serve(listener, context.clone()));
        Ok(BrokerServiceHandle {
            local_addr,
            context,
            task,
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

    /// `pulsar://host:port` as given to clients.
    pub fn service_url(&self) -> &str {
        &self.context.service_url
    }

    /// Loaded topics (stats, unloading by the namespace service).
    pub fn topics(&self) -> &TopicRegistry {
        &self.context.topics
    }

    pub fn factory(&self) -> &Arc<ManagedLedgerFactory> {
        self.context.topics.factory()
    }

    /// Stops accepting, closes connections, unloads every topic.
    pub async fn shutdown(self) {
        self.context.shutdown.cancel();
        if let Err(error) = self.task.await {
            tracing::warn!(error = %error, "listener task failed");
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
