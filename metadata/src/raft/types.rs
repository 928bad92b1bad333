//! The openraft type configuration of the metadata group: log entries carry
//! a [`CommandBatch`], applying one yields an [`ApplyResponse`], nodes are
//! addressed by `host:port` ([`BasicNode`]) and snapshots are in-memory
//! byte buffers (the state machine is small enough to snapshot whole).

use std::io::Cursor;

use openraft::BasicNode;
use serde::{Deserialize, Serialize};

use crate::state_machine::{Command, CommandOutcome};

/// Identifier of a metadata node (the `--id` of `magnetar metadata`).
pub type NodeId = u64;

/// The commands of one log entry, applied in order (see
/// [`super::proposals`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandBatch(pub Vec<Command>);

/// What applying one log entry produced: one outcome per command of its
/// batch; empty for entries that carry no command (blank leader entries,
/// membership).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyResponse(pub Vec<CommandOutcome>);

openraft::declare_raft_types!(
    /// The type configuration of the metadata Raft group.
    pub TypeConfig:
        D = CommandBatch,
        R = ApplyResponse,
        NodeId = NodeId,
        Node = BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

/// A log entry of the metadata group.
pub type LogEntry = openraft::Entry<TypeConfig>;
/// The Raft handle of a metadata node.
pub type MetaRaft = openraft::Raft<TypeConfig>;
/// A log id of the metadata group.
pub type MetaLogId = openraft::LogId<NodeId>;
/// The membership as stored with the applied state.
pub type MetaMembership = openraft::StoredMembership<NodeId, BasicNode>;
/// Snapshot metadata of the metadata group.
pub type MetaSnapshotMeta = openraft::SnapshotMeta<NodeId, BasicNode>;
/// Storage errors of the metadata group.
pub type MetaStorageError = openraft::StorageError<NodeId>;
