//! Typed errors of the namespace layer.

use magnetar_metadata::MetadataError;
use thiserror::Error;

use super::TopicNameError;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NamespaceError {
    #[error(transparent)]
    InvalidName(#[from] TopicNameError),
    #[error("tenant {0} does not exist")]
    TenantNotFound(String),
    #[error("namespace {0} does not exist")]
    NamespaceNotFound(String),
    #[error("cluster {0} does not exist")]
    ClusterNotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("bundle {0} does not exist")]
    BundleNotFound(String),
    /// The policies changed between read and write (a concurrent split).
    #[error("namespace {0} changed concurrently; retry")]
    Conflict(String),
    #[error("partitioned topic {0} does not exist")]
    PartitionedTopicNotFound(String),
    #[error("invalid partitions: {0}")]
    InvalidPartitions(String),
    #[error("invalid bundles: {0}")]
    InvalidBundles(String),
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),
    /// A tenant or namespace that still holds something.
    #[error("{0}")]
    NotEmpty(String),
    /// Two policies of the namespace contradict each other, or a resource
    /// is still in use.
    #[error("{0}")]
    PolicyConflict(String),
    /// The broker's metadata session expired: it owns nothing any more.
    #[error("metadata session lost: bundle ownership is gone")]
    SessionLost,
    #[error("corrupt value under {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("metadata: {0}")]
    Metadata(MetadataError),
}

impl From<MetadataError> for NamespaceError {
    fn from(error: MetadataError) -> Self {
        match error {
            MetadataError::SessionExpired(_) => NamespaceError::SessionLost,
            other => NamespaceError::Metadata(other),
        }
    }
}
