//! Magnetar's storage layer, BookKeeper-style.
//!
//! - [`ledger`]: the contract brokers use (create, append, read, recover).
//! - `server`: the bookie process (journal, entry logs, RocksDB index, gRPC).
//! - `client`: the quorum ledger client over real bookies.
//! - `autorecovery`: the auditor and replication workers that re-replicate
//!   the ledgers of lost bookies.

pub mod autorecovery;
pub mod client;
pub mod digest;
pub mod ledger;
pub mod server;
#[cfg(feature = "testing")]
pub mod testing;

pub use ledger::{
    ClosedLedger, EntryId, LedgerError, LedgerId, LedgerOptions, LedgerReader, LedgerStore, LedgerWriter,
    OpenMode,
};
