//! The embedded Raft backend: the metadata store replicated by openraft
//! across 1, 3 or 5 `magnetar metadata` nodes, or run in-process as a
//! single voter for `magnetar standalone` ([`EmbeddedRaft`]).
//!
//! Layers, bottom up:
//! - [`log_store`]: the Raft log and vote in RocksDB.
//! - [`snapshot_file`], [`state_machine_store`], [`applied_state`]: the
//!   [`crate::state_machine::KvStateMachine`] applied from the log, its
//!   snapshots on disk, and the live change feed for watches.
//! - [`types`]: the openraft type configuration; [`network`]: peer RPCs.
//! - [`node`]: writes through the log (forwarded to the leader) and
//!   linearizable reads by read index; [`raft_store`] builds the
//!   [`crate::MetadataStore`] on them, [`watch`] serves watches and
//!   [`expiry`] runs the leader's session-expiry ticker.
//! - [`startup`], [`embedded`], [`cluster`]: opening a node in-process or
//!   behind the [`service`] gRPC server; [`client`] is the remote store.

pub mod applied_state;
pub mod client;
pub mod cluster;
pub mod convert;
pub mod embedded;
pub mod error;
pub mod expiry;
pub mod log_store;
pub mod network;
pub mod node;
pub mod prefixed;
pub mod proposals;
pub mod raft_store;
pub mod service;
pub mod snapshot_file;
pub mod startup;
pub mod state_machine_store;
#[cfg(feature = "testing")]
pub mod test_group;
pub mod types;
pub mod wal_sync;
pub mod watch;

pub use client::RaftClientStore;
pub use cluster::{parse_peers, run_metadata_node, run_metadata_node_on, RaftNodeConfig};
pub use embedded::EmbeddedRaft;
pub use error::RaftBackendError;
pub use raft_store::RaftStore;
pub use startup::RaftTuning;
