//! The quorum ledger client: implements [`crate::ledger::LedgerStore`] over
//! real bookies, with ledger metadata in the metadata store.
//!
//! Layout (one main type per file):
//! - [`ledger_client`]: [`LedgerClient`], the entry point (create, open, delete);
//! - [`writer`], [`write_core`], [`pending`]: the add path — pipelined adds,
//!   in-order confirmation, ensemble changes;
//! - [`ensemble_change`]: how the segments change when a bookie is replaced,
//!   left out (a hole) or put back;
//! - [`directory`]: which registered bookies a writer may use now (quarantine);
//! - [`reader`], [`read`]: reads, LAC discovery, fencing reads;
//! - [`recovery`]: fencing and closing a ledger taken from its writer;
//! - [`metadata`], [`placement`], [`write_set`]: metadata format and CAS,
//!   bookie choice, striping arithmetic;
//! - [`transport`], [`grpc`]: how bookies are reached (over gRPC; bookies in
//!   the same process are called directly through `node::local`);
//! - `memory` (feature `testing`): the in-memory ledger store for unit tests.

pub mod config;
pub mod directory;
pub mod ensemble_change;
pub mod grpc;
pub mod ledger_client;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod metadata;
pub mod pending;
pub mod placement;
pub mod read;
pub mod reader;
pub mod recovery;
pub mod transport;
pub mod write_core;
pub mod write_set;
pub mod writer;

pub use config::ClientConfig;
pub use ledger_client::LedgerClient;
pub use metadata::{BookieId, LedgerMetadata, LedgerState, Segment};

#[cfg(test)]
pub(crate) mod fake_bookie;
#[cfg(test)]
mod hole_tests;
#[cfg(test)]
mod tests;
