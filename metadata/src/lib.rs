//! Magnetar's metadata store: every piece of shared cluster state (ledger
//! metadata, topic→ledgers, cursors, bundle ownership, membership, load
//! reports, policies, id allocation) lives behind [`MetadataStore`].
//!
//! Backends: etcd (`etcd://`), embedded Raft (`raft://`, and in-process for
//! standalone), and an in-memory store for unit tests.
//!
//! Modules import one way, each only from those listed before it:
//! 1. [`error`], `serde_base64`, [`store`] (the trait and its types),
//!    [`validate`] (key and value rules every backend shares);
//! 2. [`prefix`] (cluster key prefixes), [`counter`], [`session`],
//!    [`election`]: helpers written against the trait;
//! 3. [`state_machine`]: the deterministic key-value machine;
//! 4. the backends: [`memory`], [`etcd`], [`raft`];
//! 5. [`url`]: picks a backend from a URL;
//! 6. `testing`: the etcd harness and the conformance suite (feature `testing`).

pub mod counter;
pub mod durable_file;
pub mod election;
pub mod error;
pub mod etcd;
pub mod memory;
pub mod prefix;
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
