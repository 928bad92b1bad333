//! Why a replicator could not ship messages to a remote cluster. Every
//! error ends the replicator's connection; the replicator opens a new one
//! after a back-off and resends what the remote had not confirmed.

use std::time::Duration;

use magnetar_proto::pulsar::FrameError;
use thiserror::Error;

use crate::managed_ledger::ManagedLedgerError;
use crate::namespace::NamespaceError;

#[derive(Debug, Error)]
pub enum ReplicationError {
    /// The remote cluster is not registered, or its policies cannot be read.
    #[error("remote cluster: {0}")]
    Cluster(#[from] NamespaceError),
    #[error(
        "cluster {0} has no broker service URL (set brokerServiceUrl with the clusters admin API)"
    )]
    NoServiceUrl(String),
    /// The remote cluster's registered credential cannot be used.
    #[error("the credential for the remote cluster: {0}")]
    Credential(String),
    #[error("bad broker service URL {0:?}")]
    BadServiceUrl(String),
    #[error("cannot connect to {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("{address} did not answer within {after:?}")]
    Timeout { address: String, after: Duration },
    #[error("the remote cluster refused {step}: {message}")]
    Refused { step: &'static str, message: String },
    #[error("{topic} has {local} partitions here and {remote} in the remote cluster; create it there with the same count")]
    PartitionsDiffer {
        topic: String,
        local: u32,
        remote: u32,
    },
    #[error("the remote receipt for sequence id {got} arrived where {expected} was due")]
    OutOfOrder { expected: u64, got: u64 },
    #[error("a remote receipt for sequence id {0}, which nothing awaits")]
    UnexpectedReceipt(u64),
    #[error("connection to {0} closed")]
    Closed(String),
    #[error("protocol: {0}")]
    Frame(#[from] FrameError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("reading the local topic: {0}")]
    Local(#[from] ManagedLedgerError),
}
