//! Magnetar's metadata store: every piece of shared cluster state (ledger
//! metadata, topic→ledgers, cursors, bundle ownership, membership, load
//! reports, policies, id allocation) lives behind [`MetadataStore`].
//!
//! Backends: etcd (`etcd://`), embedded Raft (`raft://`, and in-process for
//! standalone), and an in-memory store for unit tests.

pub mod counter;
pub mod durable_file;
pub mod election;
pub mod error;
pub mod etcd;
pub mod memory;
pub mod raft;
mod serde_base64;
pub mod session;
pub mod state_machine;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod url;
pub mod validate;

pub use counter::{allocate_range, next_id};
pub use election::{LeaderElection, Leadership};
pub use error::MetadataError;
pub use etcd::{EtcdOptions, EtcdStore};
pub use memory::MemoryStore;
pub use session::Session;
pub use state_machine::{
    Command, CommandError, CommandOutcome, CommandResult, KvStateMachine, StateMachineLimits,
};
pub use store::{
    Expected, ListPage, MetadataStore, PutOptions, Result, SessionId, Version, Versioned,
    WatchEvent, WatchStream, WatchTarget,
};
pub use url::{connect, MetadataUrl};
pub use validate::{validate_key, validate_value, DEFAULT_MAX_VALUE_BYTES, MAX_KEY_BYTES};
