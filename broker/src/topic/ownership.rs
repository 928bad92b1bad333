//! Which topics this broker may serve.
//!
//! The protocol server asks [`TopicOwnership`] on every LOOKUP (which may
//! place and acquire the topic's bundle, or redirect the client) and before
//! admitting a producer or consumer. The cluster module implements it over
//! bundle ownership records and the broker registry in the metadata store;
//! [`LocalOwnership`] owns everything and serves protocol-level tests.

use async_trait::async_trait;
use magnetar_metadata::MetadataError;
use magnetar_proto::pulsar::api::ServerError;
use thiserror::Error;

use super::TopicName;
use crate::wire::metadata_server_error;

#[derive(Debug, Error)]
pub enum OwnershipError {
    /// The bundle is being unloaded or transferred; retry the lookup.
    #[error("ownership of {topic} is in transition")]
    InTransition { topic: String },
    /// No broker can take the bundle now (none registered, or this one is
    /// shutting down); retry the lookup.
    #[error("no broker available for {topic}: {reason}")]
    Unavailable { topic: String, reason: String },
    /// The lookup named a listener the chosen broker does not advertise.
    #[error("broker {broker} has no listener named {listener:?}")]
    UnknownListener { broker: String, listener: String },
    /// The topic's tenant or namespace does not exist: not retryable.
    #[error("{0}")]
    NamespaceNotFound(String),
    #[error("metadata store: {0}")]
    Metadata(#[from] MetadataError),
}

impl OwnershipError {
    pub fn server_error(&self) -> ServerError {
        match self {
            OwnershipError::InTransition { .. }
            | OwnershipError::Unavailable { .. }
            | OwnershipError::UnknownListener { .. } => ServerError::ServiceNotReady,
            OwnershipError::NamespaceNotFound(_) => ServerError::TopicNotFound,
            OwnershipError::Metadata(error) => metadata_server_error(error),
        }
    }
}

/// Where a lookup sends the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerTarget {
    /// `pulsar://host:port` for the listener the client asked for.
    pub service_url: String,
    /// `pulsar+ssl://host:port` of the same broker, when it serves TLS.
    pub service_url_tls: Option<String>,
    /// `http://host:port` of the broker's admin API (empty when unknown).
    pub http_url: String,
}

/// The answer to a lookup (Pulsar's `LookupType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupAnswer {
    /// The target serves the topic: connect there.
    Connect(BrokerTarget),
    /// Ask the target again, carrying `authoritative`. An authoritative
    /// lookup is never redirected again, so redirects cannot loop.
    Redirect {
        target: BrokerTarget,
        authoritative: bool,
    },
}

#[async_trait]
pub trait TopicOwnership: Send + Sync + 'static {
    /// Where the client should go for `topic`. May place and acquire the
    /// topic's bundle. `authoritative` is the flag of a redirected lookup;
    /// `listener` the advertised listener the client asked for.
    async fn lookup(
        &self,
        topic: &TopicName,
        authoritative: bool,
        listener: Option<&str>,
    ) -> Result<LookupAnswer, OwnershipError>;

    /// Whether this broker owns the topic's bundle right now.
    async fn owns(&self, topic: &TopicName) -> Result<bool, OwnershipError>;
}

/// Owns every topic: a single broker with no peers.
#[derive(Debug, Clone)]
pub struct LocalOwnership {
    service_url: String,
}

impl LocalOwnership {
    pub fn new(service_url: impl Into<String>) -> Self {
        Self {
            service_url: service_url.into(),
        }
    }
}

#[async_trait]
impl TopicOwnership for LocalOwnership {
    async fn lookup(
        &self,
        _topic: &TopicName,
        _authoritative: bool,
        _listener: Option<&str>,
    ) -> Result<LookupAnswer, OwnershipError> {
        Ok(LookupAnswer::Connect(BrokerTarget {
            service_url: self.service_url.clone(),
            service_url_tls: None,
            http_url: String::new(),
        }))
    }

    async fn owns(&self, _topic: &TopicName) -> Result<bool, OwnershipError> {
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passing_metadata_outage_asks_the_client_to_retry() {
        let unavailable = OwnershipError::Metadata(MetadataError::Unavailable("down".into()));
        assert_eq!(unavailable.server_error(), ServerError::ServiceNotReady);
        let expired = OwnershipError::Metadata(MetadataError::SessionExpired(7));
        assert_eq!(expired.server_error(), ServerError::ServiceNotReady);
        let invalid = OwnershipError::Metadata(MetadataError::InvalidKey {
            key: "k".into(),
            reason: "bad",
        });
        assert_eq!(invalid.server_error(), ServerError::MetadataError);
    }
}
