//! Which topics this broker may serve.
//!
//! The protocol server asks [`TopicOwnership`] on every LOOKUP (which may
//! acquire the topic's bundle) and before admitting a producer or consumer.
//! The namespace service implements it over bundle ownership records in the
//! metadata store; [`LocalOwnership`] owns everything and serves standalone
//! brokers and tests.

use async_trait::async_trait;
use magnetar_proto::pulsar::api::ServerError;
use thiserror::Error;

use super::TopicName;

#[derive(Debug, Error)]
pub enum OwnershipError {
    /// The bundle is being unloaded or transferred; retry the lookup.
    #[error("ownership of {topic} is in transition")]
    InTransition { topic: String },
    #[error("metadata store: {0}")]
    Metadata(#[from] magnetar_metadata::MetadataError),
}

impl OwnershipError {
    pub fn server_error(&self) -> ServerError {
        match self {
            OwnershipError::InTransition { .. } => ServerError::ServiceNotReady,
            OwnershipError::Metadata(_) => ServerError::MetadataError,
        }
    }
}

#[async_trait]
pub trait TopicOwnership: Send + Sync + 'static {
    /// Service URL (`pulsar://host:port`) of the broker that owns the
    /// topic's bundle, acquiring the bundle for this broker when unowned.
    async fn lookup(&self, topic: &TopicName) -> Result<String, OwnershipError>;

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
    async fn lookup(&self, _topic: &TopicName) -> Result<String, OwnershipError> {
        Ok(self.service_url.clone())
    }

    async fn owns(&self, _topic: &TopicName) -> Result<bool, OwnershipError> {
        Ok(true)
    }
}
