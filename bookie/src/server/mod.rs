//! The bookie server: durable, fenced, per-ledger entry storage behind a gRPC
//! service.
//!
//! Layout of the module (one main type per file):
//! - [`config`]: [`BookieConfig`] and its defaults;
//! - [`journal`]: the write-ahead log with group commit — an add is acked only
//!   after the fsync covering its record;
//! - [`write_cache`], [`entry_log`], [`index`], [`storage`]: where entries
//!   live after the journal, and the checkpoint moving them there;
//! - [`bookie`]: protocol rules (master keys, fencing, read-only, limits);
//! - [`service`]: the tonic service, and [`add_stream`]: its batched,
//!   pipelined add stream;
//! - [`disk`], [`cookie`], [`registration`], [`gc`]: disk-full handling,
//!   disk identity, cluster membership, garbage collection;
//! - [`run`]: wiring it together ([`run_bookie`], [`RunningBookie`]).
//!
//! `docs/bookie.md` describes the storage layout and durability order.

pub mod add_latency;
pub mod add_stream;
pub mod bookie;
pub mod config;
pub mod cookie;
pub mod disk;
pub mod durable;
pub mod entry_log;
pub mod error;
pub mod gc;
pub mod index;
pub mod journal;
pub mod ledger_state;
pub mod record;
pub mod registration;
pub mod run;
pub mod service;
pub mod storage;
pub mod write_cache;

pub use bookie::Bookie;
pub use config::BookieConfig;
pub use disk::{DiskUsage, DiskUsageProbe, ManualDiskProbe, StatvfsProbe};
pub use error::{BookieError, JournalError, StartError, StorageError};
pub use run::{run_bookie, RunningBookie, StartOptions};
