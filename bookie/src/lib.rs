//! Magnetar's storage layer, BookKeeper-style.
//!
//! Modules, lowest first; each imports only modules above it in this list
//! (`server` and `client` are siblings and never import each other):
//!
//! 1. [`digest`]: the entry frame and its checksum, shared by both ends;
//!    [`ledger`]: the contract brokers use (create, append, read, recover);
//!    [`metrics`]: the bookie's Prometheus metrics.
//! 2. [`keys`]: the metadata key layout (ledgers, bookie registrations,
//!    cookies, auto-recovery) and the registration value.
//! 3. [`server`]: the storage engine of one bookie (journal, entry logs,
//!    RocksDB index, the gRPC service); [`client`]: the quorum ledger client
//!    over real bookies.
//! 4. [`autorecovery`]: the auditor and replication workers that
//!    re-replicate the ledgers of lost bookies (a ledger client inside a
//!    bookie process).
//! 5. [`node`]: a bookie process: the server plus registration,
//!    auto-recovery and the in-process transport, with start and shutdown
//!    order.
//!
//! `testing` (feature `testing`) re-exports the in-memory ledger store for
//! other crates' tests.

pub mod autorecovery;
pub mod client;
pub mod digest;
pub mod keys;
pub mod ledger;
pub mod metrics;
pub mod node;
pub mod server;
#[cfg(feature = "testing")]
pub mod testing;

pub use ledger::{
    ClosedLedger, EntryId, LedgerError, LedgerId, LedgerOptions, LedgerReader, LedgerStore,
    LedgerWriter, OpenMode, WriterHealth,
};
