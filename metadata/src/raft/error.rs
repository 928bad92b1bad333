//! Errors starting or running a Raft metadata node (as opposed to the
//! [`crate::MetadataError`]s of individual store operations).

use thiserror::Error;

use super::log_store::LogStoreOpenError;
use super::types::{MetaStorageError, NodeId};

#[derive(Debug, Error)]
pub enum RaftBackendError {
    #[error(transparent)]
    OpenLog(#[from] LogStoreOpenError),
    // openraft's storage and fatal errors are large; boxed, they keep every
    // `Result<_, RaftBackendError>` small.
    #[error("raft storage: {0}")]
    Storage(Box<MetaStorageError>),
    #[error("raft stopped: {0}")]
    Fatal(Box<openraft::error::Fatal<NodeId>>),
    #[error("invalid raft configuration: {0}")]
    Config(String),
    #[error("invalid peer list: {0}")]
    InvalidPeers(String),
    #[error("{action}: {source}")]
    Io {
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("grpc server: {0}")]
    Server(#[from] tonic::transport::Error),
    #[error("no leader elected within {0:?}")]
    NoLeader(std::time::Duration),
}

impl From<MetaStorageError> for RaftBackendError {
    fn from(error: MetaStorageError) -> Self {
        RaftBackendError::Storage(Box::new(error))
    }
}

impl From<openraft::error::Fatal<NodeId>> for RaftBackendError {
    fn from(error: openraft::error::Fatal<NodeId>) -> Self {
        RaftBackendError::Fatal(Box::new(error))
    }
}

impl RaftBackendError {
    pub fn io(action: &'static str, source: std::io::Error) -> Self {
        RaftBackendError::Io { action, source }
    }
}
