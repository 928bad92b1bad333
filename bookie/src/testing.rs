//! Test doubles for crates built on the ledger contract (feature `testing`).

pub use crate::client::memory::MemoryLedgerStore;
