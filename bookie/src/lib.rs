//! Magnetar's storage layer, BookKeeper-style.
//!
//! - [`ledger`]: the contract brokers use (create, append, read, recover).
//! - `server`: the bookie process (journal, entry logs, RocksDB index, gRPC).
//! - `client`: the quorum ledger client over real bookies.

pub mod ledger;

pub use ledger::{
    ClosedLedger, EntryId, LedgerError, LedgerId, LedgerOptions, LedgerReader, LedgerStore, LedgerWriter,
    OpenMode,
};
