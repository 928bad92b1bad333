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
//!
//! # Modules, bottom to top
//!
//! Each module imports only modules listed before it:
//!
//! 1. `position`, `config`, `error`, `ack_state`, `batch_acks`,
//!    `entry_cache`, `layout`, `stored`: value types, the shared entry cache, offsets, persisted forms.
//! 2. `status`: open / fenced / closed, and the shutdown of the tasks.
//! 3. `list`: the stored ledger list and its CAS (a conflict fences).
//! 4. `confirmed`: the ledger layout, tail buffer and last confirmed
//!    position that the writer task publishes and everyone else reads.
//! 5. `read`: entry cache, then tail buffer, then the ledger store.
//! 6. `cursor_context`, `cursor`, `cursor_set`: durable cursors.
//! 7. `condition_log`, `writability`, `write_state`, `monitor`: the writer
//!    task's states, held adds, retry backoff and rate-limited reporting.
//! 8. `writer`, `rollover`, `no_writer`, `terminate`: the writer task
//!    (appends, rollover, holding adds while no ledger is writable,
//!    termination, close).
//! 9. `maintenance`: the task that flushes cursors, trims and evicts.
//! 10. `ledger`: the [`ManagedLedger`] handle.
//! 11. `factory`, then `stats`: opening, listing, deleting, storage stats.

mod ack_state;
mod batch_acks;
mod condition_log;
mod config;
mod confirmed;
mod cursor;
mod cursor_context;
mod cursor_set;
mod entry_cache;
mod error;
mod factory;
mod layout;
mod ledger;
mod list;
mod maintenance;
mod monitor;
mod no_writer;
mod position;
mod read;
mod rollover;
mod stats;
mod status;
mod stored;
mod terminate;
mod writability;
mod write_state;
mod writer;

#[cfg(test)]
mod write_tests;

pub use config::{InitialPosition, ManagedLedgerConfig, Retention};
pub use cursor::ManagedCursor;
pub use entry_cache::EntryCache;
pub use error::ManagedLedgerError;
pub use factory::ManagedLedgerFactory;
pub use ledger::{ManagedLedger, ManagedLedgerStats};
pub use position::{Entry, Position};
pub use stats::{CursorStats, StorageStats};
pub use stored::{
    now_millis, StoredCursor, StoredLedger, StoredLedgerList, CURSOR_ROOT, LEDGER_LIST_ROOT,
};
pub use writability::{Writability, WritabilityState};
