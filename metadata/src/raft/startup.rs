//! Opening a node's storage and starting its Raft instance: shared by the
//! in-process [`super::EmbeddedRaft`] and the networked
//! [`super::run_metadata_node`].
//!
//! On-disk layout of a node's data directory:
//! - `raft-log/`: RocksDB with the log and the vote ([`super::log_store`]);
//! - `snapshot/`: the latest state-machine snapshot ([`super::snapshot_file`]).
//!
//! At startup the state machine is restored from the snapshot and openraft
//! re-applies the committed log entries after it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::{Config, SnapshotPolicy};

use super::error::RaftBackendError;
use super::log_store::RocksLogStore;
use super::network::GrpcNetworkFactory;
use super::node::RaftNode;
use super::snapshot_file::SnapshotFile;
use super::state_machine_store::StateMachineStore;
use super::types::{MetaRaft, NodeId, TypeConfig};

/// Tunables of a node's Raft instance.
#[derive(Debug, Clone)]
pub struct RaftTuning {
    /// Build a snapshot (and purge the log it covers) every this many entries.
    pub snapshot_every: u64,
    pub heartbeat_interval: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// Deadline of one write or linearizable read.
    pub operation_timeout: Duration,
    /// How often the leader checks session deadlines.
    pub expiry_tick: Duration,
}

impl Default for RaftTuning {
    fn default() -> Self {
        RaftTuning {
            snapshot_every: 10_000,
            heartbeat_interval: Duration::from_millis(100),
            election_timeout_min: Duration::from_millis(400),
            election_timeout_max: Duration::from_millis(800),
            operation_timeout: super::node::DEFAULT_OPERATION_TIMEOUT,
            expiry_tick: super::expiry::DEFAULT_EXPIRY_TICK,
        }
    }
}

impl RaftTuning {
    fn openraft_config(&self) -> Result<Config, RaftBackendError> {
        let config = Config {
            cluster_name: "magnetar-metadata".to_string(),
            heartbeat_interval: millis(self.heartbeat_interval),
            election_timeout_min: millis(self.election_timeout_min),
            election_timeout_max: millis(self.election_timeout_max),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every.max(1)),
            // Keep a short tail after a snapshot so briefly lagging followers
            // catch up from the log instead of needing a snapshot install.
            max_in_snapshot_log_to_keep: (self.snapshot_every / 10).min(1000),
            ..Config::default()
        };
        config
            .validate()
            .map_err(|e| RaftBackendError::Config(e.to_string()))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Opens the storage in `data_dir` and starts the Raft instance of node `id`.
pub async fn start_node(
    id: NodeId,
    data_dir: &Path,
    tuning: &RaftTuning,
) -> Result<Arc<RaftNode>, RaftBackendError> {
    let config = Arc::new(tuning.openraft_config()?);
    std::fs::create_dir_all(data_dir)
        .map_err(|e| RaftBackendError::io("create data directory", e))?;
    let log_store = RocksLogStore::<TypeConfig>::open(&data_dir.join("raft-log"))?;
    let snapshot_file = SnapshotFile::new(&data_dir.join("snapshot"))
        .map_err(|e| RaftBackendError::io("open snapshot directory", e))?;
    let state_machine = StateMachineStore::open(snapshot_file)?;
    let state = state_machine.state();
    let raft = MetaRaft::new(id, config, GrpcNetworkFactory, log_store, state_machine).await?;
    Ok(Arc::new(RaftNode::new(
        id,
        raft,
        state,
        tuning.operation_timeout,
    )))
}
