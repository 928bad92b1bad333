//! A broker node: everything one `magnetar broker` (or the broker inside
//! `magnetar standalone`) runs, wired in one place so the binary stays thin
//! and tests start the same thing.
//!
//! Start order: metadata session → namespace service (bundle ownership
//! bound to the session) → bootstrap of the default cluster, tenant and
//! namespace → cluster parts → Pulsar protocol service → cluster membership
//! (registration, reports, leader campaign) → TLS listeners, if configured
//! → HTTP (and HTTPS) → the startup wait for bookies. Shutdown drains first: bundles are unloaded one by one so
//! clients move to other brokers, then the rest stops in reverse.
//!
//! Startup wait: a broker started before its bookies would open topics that
//! cannot write. So `start` returns (and the binary prints its ready line)
//! only once the ledger store reports `E` writable bookies, or after
//! `bookie_wait`. Connections are served meanwhile (their topics hold adds
//! until a ledger can be created), and `/health` answers 503.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use magnetar_bookie::LedgerStore;
use magnetar_metadata::session::Session;
use magnetar_metadata::{MetadataError, MetadataStore};
use thiserror::Error;
use tokio::net::TcpListener;

use crate::admin::{AdminState, StartupGate};
use crate::cluster::{BrokerInfo, Cluster, ClusterConfig};
use crate::console;
use crate::context::BrokerServiceConfig;
use crate::managed_ledger::ManagedLedgerFactory;
use crate::metadata_metrics::MeteredStore;
use crate::namespace::{ClusterData, NamespaceError, NamespaceService};
use crate::security::{SecurityError, TlsAcceptor, TlsListener, TlsSettings};
use crate::service::{BrokerService, BrokerServiceError, BrokerServiceHandle};
use crate::topic::TopicRegistry;

/// Settings of a broker node.
#[derive(Debug, Clone)]
pub struct BrokerNodeConfig {
    pub service: BrokerServiceConfig,
    /// Host clients use to reach this broker (URLs are built from it and the bound ports).
    pub advertised_host: String,
    /// Named listeners (Pulsar's `advertisedListeners`): name → `pulsar://host:port`.
    pub advertised_listeners: BTreeMap<String, String>,
    /// Membership, session TTL and load manager.
    pub cluster: ClusterConfig,
    /// Longest startup wait for enough writable bookies (zero: no wait).
    pub bookie_wait: Duration,
    /// `pulsar_*` metrics per topic (else summed per namespace).
    pub topic_level_metrics: bool,
    /// Certificates for `pulsar+ssl://` and HTTPS; `None` serves plain
    /// text only.
    pub tls: Option<TlsSettings>,
}

/// The sockets a broker node serves, bound by the caller.
pub struct BrokerListeners {
    /// `pulsar://` (6650 by default).
    pub pulsar: TcpListener,
    /// The admin API over HTTP (8080 by default).
    pub http: TcpListener,
    /// `pulsar+ssl://` (6651 by default); served when TLS is configured.
    pub pulsar_tls: Option<TcpListener>,
    /// The admin API over HTTPS (8443 by default); served when TLS is
    /// configured.
    pub https: Option<TcpListener>,
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
    #[error("tls: {0}")]
    Tls(#[from] SecurityError),
    #[error("a tls listener was given without tls settings")]
    TlsNotConfigured,
}

/// A running broker node.
pub struct BrokerNode {
    service: BrokerServiceHandle,
    cluster: Arc<Cluster>,
    pulsar_addr: SocketAddr,
    http_addr: SocketAddr,
    pulsar_tls_addr: Option<SocketAddr>,
    https_addr: Option<SocketAddr>,
    /// The admin API over HTTP and HTTPS, and the certificate reloader.
    http_tasks: Vec<tokio::task::JoinHandle<()>>,
    http_stop: tokio_util::sync::CancellationToken,
}

impl BrokerNode {
    pub async fn start(
        mut config: BrokerNodeConfig,
        metadata: Arc<dyn MetadataStore>,
        ledgers: Arc<dyn LedgerStore>,
        listeners: BrokerListeners,
    ) -> Result<BrokerNode, BrokerNodeError> {
        let BrokerListeners {
            pulsar: pulsar_listener,
            http: http_listener,
            pulsar_tls,
            https,
        } = listeners;
        let tls = match (&config.tls, pulsar_tls.is_some() || https.is_some()) {
            (Some(settings), _) => Some(TlsAcceptor::new(settings.clone())?),
            (None, true) => return Err(BrokerNodeError::TlsNotConfigured),
            (None, false) => None,
        };
        let metadata = MeteredStore::wrap(metadata);
        let pulsar_addr = pulsar_listener.local_addr()?;
        let http_addr = http_listener.local_addr()?;
        let host = config.advertised_host.clone();
        let native_url = format!("pulsar://{host}:{}", pulsar_addr.port());
        let http_url = format!("http://{host}:{}", http_addr.port());
        let pulsar_tls_addr = pulsar_tls
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let https_addr = https.as_ref().map(TcpListener::local_addr).transpose()?;
        let native_url_tls = match &pulsar_tls {
            Some(listener) => Some(format!(
                "pulsar+ssl://{host}:{}",
                listener.local_addr()?.port()
            )),
            None => None,
        };
        let http_url_tls = match &https {
            Some(listener) => Some(format!("https://{host}:{}", listener.local_addr()?.port())),
            None => None,
        };
        let broker_id = format!("{}:{}", config.advertised_host, http_addr.port());
        config.service.advertised_service_url = Some(native_url.clone());

        let session = Session::open(Arc::clone(&metadata), config.cluster.session_ttl)
            .await
            .map_err(BrokerNodeError::Session)?;
        let info = BrokerInfo {
            broker_id,
            service_url: native_url.clone(),
            web_service_url: http_url.clone(),
            service_url_tls: native_url_tls,
            web_service_url_tls: http_url_tls,
            advertised_listeners: config.advertised_listeners.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            start_timestamp: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            draining: false,
            session: session.id(),
            load: Default::default(),
        };
        let namespaces = Arc::new(NamespaceService::new(
            Arc::clone(&metadata),
            session.id(),
            info.ownership(),
        ));
        let cluster_data = ClusterData {
            service_url: http_url,
            broker_service_url: native_url,
            ..ClusterData::default()
        };
        namespaces
            .policies()
            .bootstrap(&config.service.cluster_name, cluster_data)
            .await
            .map_err(BrokerNodeError::Bootstrap)?;

        let factory = Arc::new(ManagedLedgerFactory::new(
            Arc::clone(&metadata),
            Arc::clone(&ledgers),
            config.service.managed_ledger.clone(),
        ));
        let topics = Arc::new(TopicRegistry::new(
            factory,
            config.service.dispatch,
            config.service.topic_defaults,
            config.service.replication(),
        ));
        let cluster = Cluster::new(
            config.cluster.clone(),
            info,
            Arc::clone(&namespaces),
            Arc::clone(&topics),
        );
        let cluster_name = config.service.cluster_name.clone();
        let schema_compatibility = config.service.topic_defaults.schema_compatibility;
        let needed_bookies = config.service.managed_ledger.ensemble_size as usize;
        let mut service = BrokerService::start_with_topics(
            config.service,
            Arc::clone(&topics),
            cluster.ownership().clone(),
            pulsar_listener,
        )
        .await?;
        cluster.join(session);

        let http_stop = tokio_util::sync::CancellationToken::new();
        if let (Some(acceptor), Some(listener)) = (&tls, pulsar_tls) {
            service.serve_tls(listener, acceptor.clone());
        }
        let mut admin = AdminState::new(metadata, Arc::clone(service.factory()), &cluster_name);
        admin.security = Arc::clone(service.security());
        let startup = StartupGate::default();
        admin.startup = startup.clone();
        admin.membership = Some(Arc::clone(&cluster));
        admin.topics = Some(Arc::clone(&topics));
        admin.topic_level_metrics = config.topic_level_metrics;
        admin.schema_compatibility = schema_compatibility;
        let mut http_tasks = Vec::new();
        if let Some(acceptor) = &tls {
            http_tasks.push(acceptor.spawn_reloader(http_stop.clone()));
        }
        if let (Some(settings), Some(listener)) = (&config.tls, https) {
            // HTTPS negotiates `http/1.1` by ALPN; its reloader is its own.
            let acceptor = TlsAcceptor::for_http(settings.clone())?;
            http_tasks.push(acceptor.spawn_reloader(http_stop.clone()));
            let listener = TlsListener::new(listener, acceptor);
            let (admin, stop) = (admin.clone(), http_stop.clone());
            http_tasks.push(tokio::spawn(async move {
                if let Err(error) =
                    console::serve_tls(listener, admin, stop.cancelled_owned()).await
                {
                    tracing::error!(%error, "admin https server stopped");
                }
            }));
        }
        let stop = http_stop.clone();
        http_tasks.push(tokio::spawn(async move {
            if let Err(error) = console::serve(http_listener, admin, stop.cancelled_owned()).await {
                tracing::error!(%error, "admin http server stopped");
            }
        }));
        wait_for_bookies(
            ledgers.as_ref(),
            needed_bookies,
            config.bookie_wait,
            &startup,
        )
        .await;
        Ok(BrokerNode {
            service,
            cluster,
            pulsar_addr,
            http_addr,
            pulsar_tls_addr,
            https_addr,
            http_tasks,
            http_stop,
        })
    }

    /// The metadata session holding this node's bundle ownership now
    /// (`None` while it has none; a new one replaces an expired one).
    pub fn session_id(&self) -> Option<magnetar_metadata::SessionId> {
        self.cluster.control().namespaces().session_id()
    }

    /// This broker's part in the cluster.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    pub fn pulsar_addr(&self) -> SocketAddr {
        self.pulsar_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The `pulsar+ssl://` listener's address, when TLS is served.
    pub fn pulsar_tls_addr(&self) -> Option<SocketAddr> {
        self.pulsar_tls_addr
    }

    /// The HTTPS listener's address, when TLS is served.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    /// Stops serving: takes no new bundle and resigns leadership, unloads
    /// every owned bundle gracefully (clients move to other brokers), closes
    /// the protocol service, leaves the cluster, then stops HTTP.
    pub async fn shutdown(self) {
        self.cluster.drain();
        let unloaded = self.cluster.control().unload_all().await;
        tracing::info!(bundles = unloaded, "unloaded owned bundles for shutdown");
        self.service.shutdown().await;
        self.cluster.leave().await;
        self.http_stop.cancel();
        for task in self.http_tasks {
            let _ = task.await;
        }
    }
}

/// How often the startup wait asks for the count of writable bookies.
const BOOKIE_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How often the startup wait says it is still waiting.
const BOOKIE_WAIT_REMINDER: Duration = Duration::from_secs(10);

/// Writable bookies as the store counts them; 0 when it does not answer.
async fn writable_bookies(ledgers: &dyn LedgerStore) -> usize {
    match tokio::time::timeout(BOOKIE_POLL_INTERVAL, ledgers.writable_bookies()).await {
        Ok(Ok(count)) => count,
        Ok(Err(error)) => {
            tracing::debug!(%error, "counting writable bookies failed");
            0
        }
        Err(_) => 0,
    }
}

/// The startup wait (see the module doc): until `needed` bookies are
/// writable or `limit` passed; `gate` makes `/health` say why meanwhile.
async fn wait_for_bookies(
    ledgers: &dyn LedgerStore,
    needed: usize,
    limit: Duration,
    gate: &StartupGate,
) {
    if limit.is_zero() {
        return;
    }
    let start = tokio::time::Instant::now();
    let mut writable = writable_bookies(ledgers).await;
    if writable >= needed {
        return;
    }
    tracing::info!(
        "waiting up to {}s for {needed} writable bookies ({writable} writable now)",
        limit.as_secs()
    );
    let mut next_reminder = start + BOOKIE_WAIT_REMINDER;
    loop {
        gate.set(Some(format!(
            "waiting for bookies: {writable} of {needed} writable"
        )));
        tokio::time::sleep(BOOKIE_POLL_INTERVAL).await;
        writable = writable_bookies(ledgers).await;
        let now = tokio::time::Instant::now();
        if writable >= needed {
            tracing::info!(
                "{needed} writable bookies after {:.1}s",
                now.duration_since(start).as_secs_f64()
            );
            break;
        }
        if now.duration_since(start) >= limit {
            tracing::warn!(
                "starting with {writable} of {needed} writable bookies; topics stay not writable until {needed} are writable"
            );
            break;
        }
        if now >= next_reminder {
            tracing::info!(
                "still waiting for bookies: {writable} of {needed} writable after {}s",
                now.duration_since(start).as_secs()
            );
            next_reminder = now + BOOKIE_WAIT_REMINDER;
        }
    }
    gate.set(None);
}

#[cfg(test)]
mod tests {
    use magnetar_bookie::testing::MemoryLedgerStore;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn startup_wait_ends_when_bookies_are_writable_or_at_the_limit() {
        let store = Arc::new(MemoryLedgerStore::new());
        let gate = StartupGate::default();
        let start = tokio::time::Instant::now();
        wait_for_bookies(store.as_ref(), 3, Duration::from_secs(60), &gate).await;
        assert_eq!(start.elapsed(), Duration::ZERO, "enough bookies: no wait");

        store.set_bookies_available(false);
        let waiting = {
            let (store, gate) = (Arc::clone(&store), gate.clone());
            tokio::spawn(async move {
                wait_for_bookies(store.as_ref(), 3, Duration::from_secs(60), &gate).await
            })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            gate.reason().as_deref(),
            Some("waiting for bookies: 0 of 3 writable")
        );
        store.set_bookies_available(true);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(waiting.is_finished(), "ends once bookies are writable");
        assert_eq!(gate.reason(), None);

        store.set_bookies_available(false);
        let start = tokio::time::Instant::now();
        wait_for_bookies(store.as_ref(), 3, Duration::from_secs(60), &gate).await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(60) && waited < Duration::from_secs(62));
        assert_eq!(
            gate.reason(),
            None,
            "ready after the limit, writable or not"
        );

        let start = tokio::time::Instant::now();
        wait_for_bookies(store.as_ref(), 3, Duration::ZERO, &gate).await;
        assert_eq!(start.elapsed(), Duration::ZERO, "zero turns the wait off");
    }
}
