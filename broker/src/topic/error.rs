//! Errors of topic operations, each mapped to the Pulsar `ServerError` a
//! client can act on.

use magnetar_proto::pulsar::api::ServerError;
use thiserror::Error;

use super::ownership::OwnershipError;
use super::TopicNameError;
use crate::dispatch::{JoinError, KeySharedError};
use crate::managed_ledger::ManagedLedgerError;
use crate::namespace::NamespaceError;
use crate::schema::SchemaError;
use crate::security::SecurityError;
use crate::wire::{metadata_server_error, storage_server_error};

#[derive(Debug, Error)]
pub enum TopicError {
    #[error(transparent)]
    InvalidName(#[from] TopicNameError),
    #[error("topic {0} is not served by this broker")]
    NotOwned(String),
    #[error("topic {0} is closing")]
    Closing(String),
    #[error("producer {name:?} is already connected to {topic}")]
    ProducerBusy { topic: String, name: String },
    /// The namespace's `maxProducersPerTopic` is reached.
    #[error("topic {0} reached its limit of producers")]
    ProducerLimit(String),
    /// The namespace's `maxConsumersPerTopic` is reached.
    #[error("topic {0} reached its limit of consumers")]
    ConsumerLimit(String),
    /// A backlog quota is exceeded: producers are refused, to retry later
    /// (`hold`) or for good.
    #[error("backlog quota exceeded on {topic}: {reason}")]
    BacklogQuotaExceeded {
        topic: String,
        reason: String,
        hold: bool,
    },
    /// Another producer holds the topic exclusively, or this one's topic
    /// epoch is stale: not retryable.
    #[error("producer fenced: {0}")]
    ProducerFenced(String),
    #[error("subscription {subscription:?} already has an exclusive consumer")]
    ConsumerBusy { subscription: String },
    #[error("subscription {subscription:?} has other consumers")]
    SubscriptionBusy { subscription: String },
    #[error("subscription {subscription:?} is of type {existing}, not {requested}")]
    SubscriptionTypeMismatch {
        subscription: String,
        existing: &'static str,
        requested: &'static str,
    },
    #[error("subscription {0:?} does not exist")]
    SubscriptionNotFound(String),
    /// The topic, or its tenant or namespace, does not exist (and is not
    /// created on first use).
    #[error("topic not found: {0}")]
    TopicNotFound(String),
    #[error("namespace: {0}")]
    Namespace(NamespaceError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("not supported: {0}")]
    NotSupported(&'static str),
    #[error(transparent)]
    ConsumerAssign(KeySharedError),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Ownership(#[from] OwnershipError),
    #[error("storage: {0}")]
    Storage(#[from] ManagedLedgerError),
    /// The topic cannot store messages now (too few bookies). Producers are
    /// refused until it can, so that a client's send timeout runs out
    /// instead of restarting with every reconnect.
    #[error("topic {topic} is not writable: {reason}")]
    NotWritable { topic: String, reason: String },
    /// The topic was terminated: it takes no more messages, ever.
    #[error("topic {0} was already terminated")]
    Terminated(String),
    /// The client's role may not do this.
    #[error(transparent)]
    Security(#[from] SecurityError),
}

impl From<JoinError> for TopicError {
    fn from(error: JoinError) -> Self {
        match error {
            JoinError::ExclusiveTaken { subscription } => TopicError::ConsumerBusy { subscription },
            JoinError::KeyShared(error) => TopicError::ConsumerAssign(error),
        }
    }
}

impl TopicError {
    /// The error code sent to the client.
    pub fn server_error(&self) -> ServerError {
        match self {
            TopicError::InvalidName(_) => ServerError::InvalidTopicName,
            TopicError::NotOwned(_) | TopicError::Closing(_) | TopicError::NotWritable { .. } => {
                ServerError::ServiceNotReady
            }
            TopicError::ProducerBusy { .. } | TopicError::ProducerLimit(_) => {
                ServerError::ProducerBusy
            }
            TopicError::ConsumerLimit(_) => ServerError::ConsumerBusy,
            TopicError::BacklogQuotaExceeded { hold: true, .. } => {
                ServerError::ProducerBlockedQuotaExceededError
            }
            TopicError::BacklogQuotaExceeded { hold: false, .. } => {
                ServerError::ProducerBlockedQuotaExceededException
            }
            TopicError::ProducerFenced(_) => ServerError::ProducerFenced,
            TopicError::Terminated(_) => ServerError::TopicTerminatedError,
            TopicError::ConsumerBusy { .. }
            | TopicError::SubscriptionBusy { .. }
            | TopicError::SubscriptionTypeMismatch { .. } => ServerError::ConsumerBusy,
            TopicError::SubscriptionNotFound(_) => ServerError::SubscriptionNotFound,
            TopicError::TopicNotFound(_) => ServerError::TopicNotFound,
            TopicError::Namespace(NamespaceError::Metadata(error)) => metadata_server_error(error),
            TopicError::Namespace(NamespaceError::SessionLost) => ServerError::ServiceNotReady,
            TopicError::Namespace(_) => ServerError::UnknownError,
            TopicError::Schema(error) => match error {
                SchemaError::Invalid(_) | SchemaError::Incompatible(_) => {
                    ServerError::IncompatibleSchema
                }
                SchemaError::Conflict(_) => ServerError::ServiceNotReady,
                SchemaError::Metadata(error) => metadata_server_error(error),
                SchemaError::Namespace(NamespaceError::Metadata(error)) => {
                    metadata_server_error(error)
                }
                SchemaError::Namespace(NamespaceError::SessionLost) => ServerError::ServiceNotReady,
                SchemaError::Namespace(_) => ServerError::MetadataError,
                SchemaError::Corrupt { .. } => ServerError::UnknownError,
            },
            TopicError::NotSupported(_) => ServerError::NotAllowedError,
            TopicError::ConsumerAssign(_) => ServerError::ConsumerAssignError,
            TopicError::InvalidRequest(_) => ServerError::NotAllowedError,
            TopicError::Ownership(error) => error.server_error(),
            TopicError::Storage(error) => storage_server_error(error),
            TopicError::Security(error) => match error {
                SecurityError::Authorization { .. } => ServerError::AuthorizationError,
                SecurityError::Authentication(_) | SecurityError::UnknownMethod(_) => {
                    ServerError::AuthenticationError
                }
                SecurityError::Metadata(_) => ServerError::MetadataError,
                SecurityError::Config { .. } => ServerError::UnknownError,
            },
        }
    }
}
