//! A proxy process wired together: the broker directory over the metadata
//! store, the Pulsar listener and the HTTP listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use magnetar_broker::cluster::BrokerRegistry;
use magnetar_broker::security::credentials::ClientCredential;
use magnetar_metadata::MetadataStore;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::connection::{serve, ProxyContext};
use crate::directory::BrokerDirectory;
use crate::http::{router, HttpContext};
use crate::lookup::LookupService;
use crate::upstream::{Dialer, UpstreamPool};

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// How long a cached broker list is used before it is read again.
    pub directory_refresh: Duration,
    /// Handshakes, lookups and forwarded admin requests give up after this.
    pub request_timeout: Duration,
    /// Connecting to a broker gives up after this.
    pub connect_timeout: Duration,
    /// A broker connection on which nothing is acknowledged for this long
    /// ends (see [`Dialer::dead_after`]).
    pub dead_broker_timeout: Duration,
    /// Redirects a lookup or an admin request may follow.
    pub max_redirects: usize,
    /// Largest message accepted on a client connection's handshake frames.
    pub max_message_size: usize,
    /// What the proxy's own connections (lookups, partition metadata,
    /// topic lists) present to brokers with authentication on. Tunnelled
    /// client connections carry the client's own `CONNECT` instead.
    pub broker_client: Option<ClientCredential>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            directory_refresh: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            dead_broker_timeout: Duration::from_secs(10),
            max_redirects: 5,
            max_message_size: magnetar_proto::pulsar::DEFAULT_MAX_MESSAGE_SIZE,
            broker_client: None,
        }
    }
}

/// A running proxy; [`ProxyNode::shutdown`] stops it.
pub struct ProxyNode {
    pulsar_addr: SocketAddr,
    http_addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl ProxyNode {
    pub fn start(
        config: ProxyConfig,
        metadata: Arc<dyn MetadataStore>,
        pulsar: TcpListener,
        http: TcpListener,
    ) -> std::io::Result<Self> {
        let pulsar_addr = pulsar.local_addr()?;
        let http_addr = http.local_addr()?;
        let directory = Arc::new(BrokerDirectory::new(
            BrokerRegistry::new(metadata),
            config.directory_refresh,
        ));
        let dialer = Dialer {
            connect_timeout: config.connect_timeout,
            dead_after: config.dead_broker_timeout,
        };
        let pool = UpstreamPool::new(dialer, config.request_timeout, config.broker_client.clone());
        let context = Arc::new(ProxyContext {
            lookups: LookupService::new(directory.clone(), pool, config.max_redirects),
            dialer,
            handshake_timeout: config.request_timeout,
            max_message_size: config.max_message_size,
        });
        let shutdown = CancellationToken::new();
        let mut tasks = vec![tokio::spawn(serve(pulsar, context, shutdown.clone()))];
        let app = router(HttpContext::new(
            directory,
            config.request_timeout,
            config.max_redirects,
        ));
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let served = axum::serve(http, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "proxy HTTP server failed");
            }
        }));
        tracing::info!(%pulsar_addr, %http_addr, "proxy started");
        Ok(ProxyNode {
            pulsar_addr,
            http_addr,
            shutdown,
            tasks,
        })
    }

    pub fn pulsar_addr(&self) -> SocketAddr {
        self.pulsar_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Stops accepting, closes every client connection and waits.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
