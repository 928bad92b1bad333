//! Managed ledgers: a topic's durable log as an ordered list of ledgers in
//! the [`magnetar_bookie::LedgerStore`], with durable cursors
//! (subscriptions) and an entry cache; all coordination state lives in the
//! [`magnetar_metadata::MetadataStore`].
//!
//! - [`ManagedLedgerFactory`] opens (with fencing recovery), lists and deletes.
//! - [`ManagedLedger`] appends (ordered, pipelined, rolling over ledgers) and reads.
//! - [`ManagedCursor`] tracks acknowledgements and the read position.
//!
//! Deviation from Pulsar: cursor state is stored in the metadata store
//! (`/cursors/<ml>/<cursor>`), not in a per-cursor ledger. That removes a
//! ledger per subscription and its recovery protocol; the metadata store is
//! already Raft/etcd-durable. The cost is write load on the metadata store,
//! bounded by flushing each dirty cursor at most once per
//! `cursor_flush_interval`, and a cap on persisted ack ranges. See
//! `docs/managed-ledger.md`.

mod ack_state;
mod config;
mod cursor;
mod entry_cache;
mod error;
mod factory;
mod inner;
mod layout;
mod ledger;
mod maintenance;
mod position;
mod read;
mod stats;
mod stored;
mod writer;

pub use config::{InitialPosition, ManagedLedgerConfig};
pub use cursor::ManagedCursor;
pub use entry_cache::EntryCache;
pub use error::ManagedLedgerError;
pub use factory::ManagedLedgerFactory;
pub use ledger::{ManagedLedger, ManagedLedgerStats};
pub use position::{Entry, Position};
pub use stats::{CursorStats, StorageStats};
pub use stored::{StoredCursor, StoredLedger, StoredLedgerList, CURSOR_ROOT, LEDGER_LIST_ROOT};
