//! The load manager, run by the elected leader: every shedding interval it
//! reads the brokers' reports, plans moves ([`super::shedding`]) and
//! splits ([`super::split`]), files each as a request to the bundle's
//! owner ([`super::requests`]), and tells the placer where a moved bundle
//! should go. Decisions are logged with their reason, counted, and kept
//! for the console ([`super::decisions`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetar_metadata::SessionId;

use super::decisions::{self, Decision};
use super::placement::Placer;
use super::registry::BrokerRegistry;
use super::requests::{self, BundleRequest, RequestKind};
use super::shedding::{self, SheddingConfig};
use super::split::{self, SplitConfig};
use super::ClusterError;
use crate::managed_ledger::now_millis;
use crate::metrics;
use crate::namespace::{BundleRef, PolicyStore};

/// Settings of the leader's periodic work.
#[derive(Debug, Clone)]
pub struct LoadManagerConfig {
    pub shedding_enabled: bool,
    pub shedding_interval: Duration,
    pub shedding: SheddingConfig,
    pub split: SplitConfig,
}

impl Default for LoadManagerConfig {
    fn default() -> Self {
        LoadManagerConfig {
            shedding_enabled: true,
            shedding_interval: Duration::from_secs(60),
            shedding: SheddingConfig::default(),
            split: SplitConfig::default(),
        }
    }
}

/// The leader's state across rounds.
pub struct LoadManager {
    config: LoadManagerConfig,
    registry: BrokerRegistry,
    policies: PolicyStore,
    placer: Arc<Placer>,
    moved_at: HashMap<String, Instant>,
}

impl LoadManager {
    pub fn new(
        config: LoadManagerConfig,
        registry: BrokerRegistry,
        policies: PolicyStore,
        placer: Arc<Placer>,
    ) -> Self {
        LoadManager {
            config,
            registry,
            policies,
            placer,
            moved_at: HashMap::new(),
        }
    }

    /// Runs rounds until cancelled (the caller drops it when leadership ends).
    pub async fn run(mut self, session: SessionId) {
        let mut ticker = tokio::time::interval(self.config.shedding_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            if let Err(error) = self.round(session).await {
                tracing::warn!(%error, "load manager round failed");
            }
        }
    }

    /// One round of shedding and split checks.
    pub async fn round(&mut self, session: SessionId) -> Result<(), ClusterError> {
        let brokers = self.registry.brokers().await?;
        let now = Instant::now();
        self.moved_at
            .retain(|_, at| now.duration_since(*at) < self.config.shedding.grace);
        if self.config.shedding_enabled {
            for planned in shedding::plan(&brokers, &self.moved_at, now, &self.config.shedding) {
                let request = BundleRequest {
                    kind: RequestKind::Unload,
                    bundle: planned.bundle.clone(),
                    owner: planned.from.clone(),
                    reason: planned.reason.clone(),
                };
                if requests::file(self.registry.metadata().as_ref(), &request, session).await? {
                    self.placer.prefer(&planned.bundle, &planned.to);
                    self.moved_at.insert(planned.bundle.clone(), now);
                    metrics::LB_SHED_DECISIONS.inc();
                    tracing::info!(bundle = %planned.bundle, from = %planned.from, to = %planned.to, reason = %planned.reason, "shedding bundle");
                    self.remember(Decision {
                        time_millis: now_millis(),
                        kind: "unload".into(),
                        bundle: planned.bundle.clone(),
                        from: planned.from.clone(),
                        to: Some(planned.to.clone()),
                        reason: planned.reason.clone(),
                    })
                    .await;
                }
            }
        }
        let mut counts = HashMap::new();
        for broker in brokers.values() {
            for bundle in broker.load.bundles.keys() {
                let Some(parsed) = BundleRef::parse(bundle) else {
                    continue;
                };
                let namespace = parsed.namespace.to_string();
                if counts.contains_key(&namespace) {
                    continue;
                }
                if let Ok(bundles) = self.policies.namespace_bundles(&parsed.namespace).await {
                    counts.insert(namespace, bundles.len());
                }
            }
        }
        for planned in split::plan(&brokers, &counts, &self.config.split) {
            let request = BundleRequest {
                kind: RequestKind::Split,
                bundle: planned.bundle.clone(),
                owner: planned.owner.clone(),
                reason: planned.reason.clone(),
            };
            if requests::file(self.registry.metadata().as_ref(), &request, session).await? {
                metrics::LB_SPLIT_DECISIONS.inc();
                tracing::info!(bundle = %planned.bundle, owner = %planned.owner, reason = %planned.reason, "splitting bundle");
                self.remember(Decision {
                    time_millis: now_millis(),
                    kind: "split".into(),
                    bundle: planned.bundle.clone(),
                    from: planned.owner.clone(),
                    to: None,
                    reason: planned.reason.clone(),
                })
                .await;
            }
        }
        Ok(())
    }

    /// Adds a decision to the list every broker reads; a failure is logged
    /// (the decision itself stands).
    async fn remember(&self, decision: Decision) {
        if let Err(error) = decisions::record(self.registry.metadata().as_ref(), decision).await {
            tracing::warn!(%error, "could not record a load manager decision");
        }
    }
}
