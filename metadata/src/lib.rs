//! Magnetar's metadata store: every piece of shared cluster state (ledger
//! metadata, topic→ledgers, cursors, bundle ownership, membership, load
//! reports, policies, id allocation) lives behind [`MetadataStore`].
//!
//! Backends: etcd (`etcd://`), embedded Raft (`raft://`, and in-process for
//! standalone), and an in-memory store for unit tests.

pub mod error;
pub mod store;

pub use error::MetadataError;
pub use store::{
    Expected, ListPage, MetadataStore, PutOptions, Result, SessionId, Version, Versioned, WatchEvent,
    WatchStream, WatchTarget,
};
