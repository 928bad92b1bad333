//! The brokers the proxy may talk to: the live records of the broker
//! registry, read at most once per refresh interval, plus the round robin
//! that spreads lookups and admin requests over them.
//!
//! Contract: a broker address is used only if a registered broker
//! advertises it (as its service URL, a named listener, or its web service
//! URL). An address not found in the cached list is looked up once more
//! in the store before it is refused, so a broker that has just started is
//! not turned away.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetar_broker::cluster::{BrokerInfo, BrokerRegistry};
use parking_lot::Mutex;

use crate::error::{service_address, ProxyError};

pub struct BrokerDirectory {
    registry: BrokerRegistry,
    refresh: Duration,
    cached: Mutex<Option<(Instant, Arc<Vec<BrokerInfo>>)>>,
    next: AtomicUsize,
}

impl BrokerDirectory {
    pub fn new(registry: BrokerRegistry, refresh: Duration) -> Self {
        BrokerDirectory {
            registry,
            refresh,
            cached: Mutex::new(None),
            next: AtomicUsize::new(0),
        }
    }

    /// Every registered broker, from a list at most one refresh old.
    pub async fn brokers(&self) -> Result<Arc<Vec<BrokerInfo>>, ProxyError> {
        if let Some((read_at, brokers)) = self.cached.lock().as_ref() {
            if read_at.elapsed() < self.refresh {
                return Ok(brokers.clone());
            }
        }
        self.reload().await
    }

    async fn reload(&self) -> Result<Arc<Vec<BrokerInfo>>, ProxyError> {
        let brokers = self
            .registry
            .brokers()
            .await
            .map_err(|e| ProxyError::Registry(e.to_string()))?;
        let brokers = Arc::new(brokers.into_values().collect::<Vec<_>>());
        *self.cached.lock() = Some((Instant::now(), brokers.clone()));
        Ok(brokers)
    }

    /// The next broker in turn, preferring those that are not draining.
    pub async fn pick(&self) -> Result<BrokerInfo, ProxyError> {
        let brokers = self.brokers().await?;
        let serving: Vec<&BrokerInfo> = brokers.iter().filter(|b| !b.draining).collect();
        let candidates: Vec<&BrokerInfo> = if serving.is_empty() {
            brokers.iter().collect()
        } else {
            serving
        };
        if candidates.is_empty() {
            return Err(ProxyError::NoBrokers);
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        Ok(candidates[turn % candidates.len()].clone())
    }

    /// The registered broker that serves the Pulsar protocol at
    /// `host:port`, as its service URL or one of its named listeners.
    pub async fn by_service_address(&self, address: &str) -> Result<BrokerInfo, ProxyError> {
        let matches = |b: &BrokerInfo| {
            std::iter::once(&b.service_url)
                .chain(b.advertised_listeners.values())
                .any(|url| service_address(url).is_ok_and(|a| a == address))
        };
        if let Some(found) = self.brokers().await?.iter().find(|b| matches(b)) {
            return Ok(found.clone());
        }
        self.reload()
            .await?
            .iter()
            .find(|b| matches(b))
            .cloned()
            .ok_or_else(|| ProxyError::UnknownBroker(address.to_string()))
    }

    /// Whether `origin` (`http://host:port`) is a registered broker's web
    /// service URL.
    pub async fn is_web_origin(&self, origin: &str) -> Result<bool, ProxyError> {
        let matches = |b: &BrokerInfo| b.web_service_url.trim_end_matches('/') == origin;
        if self.brokers().await?.iter().any(matches) {
            return Ok(true);
        }
        Ok(self.reload().await?.iter().any(matches))
    }
}

#[cfg(test)]
mod tests {
    use magnetar_broker::cluster::load::LoadReport;
    use magnetar_metadata::{MemoryStore, MetadataStore};

    use super::*;

    fn record(id: &str, draining: bool) -> BrokerInfo {
        BrokerInfo {
            broker_id: format!("{id}:8080"),
            service_url: format!("pulsar://{id}:6650"),
            web_service_url: format!("http://{id}:8080"),
            service_url_tls: None,
            web_service_url_tls: None,
            advertised_listeners: [("internal".to_string(), format!("pulsar://{id}-int:6651"))]
                .into_iter()
                .collect(),
            version: "test".into(),
            start_timestamp: 0,
            draining,
            session: 0,
            load: LoadReport::default(),
        }
    }

    async fn directory(records: &[BrokerInfo]) -> BrokerDirectory {
        let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
        let registry = BrokerRegistry::new(store.clone());
        let session = store.create_session(Duration::from_secs(30)).await.unwrap();
        for info in records {
            registry.publish(info, session).await.unwrap();
        }
        BrokerDirectory::new(registry, Duration::from_secs(60))
    }

    #[tokio::test]
    async fn picks_in_turn_and_skips_draining_brokers() {
        let dir = directory(&[record("b1", false), record("b2", false), record("b3", true)]).await;
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(dir.pick().await.unwrap().broker_id);
        }
        assert_eq!(seen, ["b1:8080", "b2:8080", "b1:8080", "b2:8080"]);
    }

    #[tokio::test]
    async fn no_brokers_is_an_error() {
        let dir = directory(&[]).await;
        assert!(matches!(dir.pick().await, Err(ProxyError::NoBrokers)));
    }

    #[tokio::test]
    async fn only_registered_addresses_are_allowed() {
        let dir = directory(&[record("b1", false)]).await;
        assert_eq!(
            dir.by_service_address("b1:6650").await.unwrap().broker_id,
            "b1:8080"
        );
        assert_eq!(
            dir.by_service_address("b1-int:6651")
                .await
                .unwrap()
                .broker_id,
            "b1:8080"
        );
        assert!(matches!(
            dir.by_service_address("evil:6650").await,
            Err(ProxyError::UnknownBroker(_))
        ));
        assert!(dir.is_web_origin("http://b1:8080").await.unwrap());
        assert!(!dir.is_web_origin("http://evil:8080").await.unwrap());
    }

    #[tokio::test]
    async fn a_broker_registered_after_the_last_read_is_found() {
        let dir = directory(&[record("b1", false)]).await;
        dir.brokers().await.unwrap();
        let session = dir
            .registry
            .metadata()
            .create_session(Duration::from_secs(30))
            .await
            .unwrap();
        dir.registry
            .publish(&record("b2", false), session)
            .await
            .unwrap();
        assert_eq!(
            dir.by_service_address("b2:6650").await.unwrap().broker_id,
            "b2:8080"
        );
    }
}
