//! The broker registry: one ephemeral record per live broker under
//! `/loadbalance/brokers/<broker-id>`, bound to the broker's metadata
//! session, holding its addresses and its latest load report. The
//! load-manager leader's key is `/loadbalance/leader`.
//!
//! A broker id is `host:http-port`, as Pulsar's; it is unique because two
//! brokers cannot listen on one address.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use magnetar_metadata::{Expected, MetadataError, MetadataStore, PutOptions, SessionId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::load::LoadReport;
use super::ClusterError;
use crate::namespace::OwnershipInfo;

pub const BROKERS_ROOT: &str = "/loadbalance/brokers/";
pub const LEADER_KEY: &str = "/loadbalance/leader";

/// What a broker publishes about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerInfo {
    pub broker_id: String,
    /// `pulsar://host:port`.
    pub service_url: String,
    /// `http://host:port`.
    pub web_service_url: String,
    /// `pulsar+ssl://host:port`, when the broker serves TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url_tls: Option<String>,
    /// `https://host:port`, when the broker serves TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_service_url_tls: Option<String>,
    #[serde(default)]
    pub advertised_listeners: BTreeMap<String, String>,
    pub version: String,
    /// Milliseconds since the Unix epoch when the process started.
    pub start_timestamp: u64,
    /// Set while the broker shuts down: it takes no new bundles.
    #[serde(default)]
    pub draining: bool,
    /// The metadata session holding this record and the broker's bundles
    /// (0 when unknown): a peer that finds the broker dead ends it.
    #[serde(default)]
    #[schema(value_type = i64)]
    pub session: SessionId,
    #[serde(default)]
    pub load: LoadReport,
}

impl BrokerInfo {
    /// The record a bundle owner writes for itself.
    pub fn ownership(&self) -> OwnershipInfo {
        OwnershipInfo {
            native_url: self.service_url.clone(),
            native_url_tls: self.service_url_tls.clone(),
            http_url: self.web_service_url.clone(),
            disabled: false,
            broker_id: self.broker_id.clone(),
            advertised_listeners: self.advertised_listeners.clone(),
        }
    }
}

/// Test records: a broker `id` with `load`, and brokers keyed by id.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::collections::BTreeMap;

    use super::{BrokerInfo, LoadReport};

    pub fn broker(id: &str, load: LoadReport) -> BrokerInfo {
        BrokerInfo {
            broker_id: id.to_string(),
            service_url: format!("pulsar://{id}"),
            web_service_url: format!("http://{id}"),
            service_url_tls: None,
            web_service_url_tls: None,
            advertised_listeners: BTreeMap::new(),
            version: "test".into(),
            start_timestamp: 0,
            draining: false,
            session: 0,
            load,
        }
    }

    pub fn by_id(brokers: Vec<BrokerInfo>) -> BTreeMap<String, BrokerInfo> {
        brokers
            .into_iter()
            .map(|b| (b.broker_id.clone(), b))
            .collect()
    }
}

/// The leader's record under [`LEADER_KEY`] (Pulsar's `LeaderBroker`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaderInfo {
    pub broker_id: String,
    pub service_url: String,
}

/// Reads and writes broker records.
#[derive(Clone)]
pub struct BrokerRegistry {
    metadata: Arc<dyn MetadataStore>,
}

impl BrokerRegistry {
    pub fn new(metadata: Arc<dyn MetadataStore>) -> Self {
        BrokerRegistry { metadata }
    }

    pub fn metadata(&self) -> &Arc<dyn MetadataStore> {
        &self.metadata
    }

    /// Writes (or rewrites) `info` under `session`.
    pub async fn publish(&self, info: &BrokerInfo, session: SessionId) -> Result<(), ClusterError> {
        let key = broker_key(&info.broker_id);
        let value = Bytes::from(serde_json::to_vec(info).map_err(|e| corrupt(&key, e))?);
        self.metadata
            .put(&key, value, PutOptions::ephemeral(Expected::Any, session))
            .await?;
        Ok(())
    }

    /// Removes this broker's record (on shutdown).
    pub async fn withdraw(&self, broker_id: &str) -> Result<(), ClusterError> {
        match self
            .metadata
            .delete(&broker_key(broker_id), Expected::Any)
            .await
        {
            Ok(()) | Err(MetadataError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every registered broker, by id. Unreadable records are skipped
    /// with a warning (a newer broker may write fields we do not know).
    pub async fn brokers(&self) -> Result<BTreeMap<String, BrokerInfo>, ClusterError> {
        let mut brokers = BTreeMap::new();
        for (key, stored) in &self.metadata.list_all(BROKERS_ROOT).await? {
            match serde_json::from_slice::<BrokerInfo>(&stored.value) {
                Ok(info) => {
                    brokers.insert(info.broker_id.clone(), info);
                }
                Err(error) => tracing::warn!(%key, %error, "unreadable broker record"),
            }
        }
        Ok(brokers)
    }

    pub async fn broker(&self, broker_id: &str) -> Result<Option<BrokerInfo>, ClusterError> {
        let key = broker_key(broker_id);
        match self.metadata.get(&key).await? {
            Some(stored) => Ok(Some(
                serde_json::from_slice(&stored.value).map_err(|e| corrupt(&key, e))?,
            )),
            None => Ok(None),
        }
    }

    /// The load-manager leader, if one is elected.
    pub async fn leader(&self) -> Result<Option<LeaderInfo>, ClusterError> {
        match self.metadata.get(LEADER_KEY).await? {
            Some(stored) => Ok(Some(
                serde_json::from_slice(&stored.value).map_err(|e| corrupt(LEADER_KEY, e))?,
            )),
            None => Ok(None),
        }
    }
}

pub fn broker_key(broker_id: &str) -> String {
    format!("{BROKERS_ROOT}{broker_id}")
}

pub(super) fn corrupt(key: &str, error: serde_json::Error) -> ClusterError {
    ClusterError::Corrupt {
        key: key.to_string(),
        reason: error.to_string(),
    }
}
