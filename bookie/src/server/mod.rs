//! The bookie server, that is the storage engine: durable, fenced,
//! per-ledger entry storage behind a gRPC service. It does not know the
//! process it runs in; the `node` module wires it into one (registration,
//! auto-recovery, start and shutdown order).
//!
//! Layout of the module (one main type per file):
//! - [`config`]: [`BookieConfig`] and its defaults;
//! - [`record`]: the record framing of journal files and entry logs;
//! - [`journal`]: the write-ahead log with group commit — an add is acked only
//!   after the fsync covering its record;
//! - [`write_cache`], [`entry_log`], [`index`], [`storage`],
//!   [`checkpointer`]: where entries live after the journal, and the
//!   checkpoint moving them there; [`writeback`] paces their writeback;
//! - [`ledger_state`], [`bookie`]: protocol rules (master keys, fencing,
//!   read-only, limits); [`add_latency`]: how long adds take inside;
//! - [`service`]: the tonic service, and [`add_stream`]: its batched,
//!   pipelined add stream;
//! - [`disk`], [`cookie`], [`gc`]: disk-full handling, disk identity,
//!   garbage collection;
//! - [`error`]: the typed errors and their wire status codes.
//!
//! Inside the module, files import downward only: `service` →
//! `add_stream`, `gc`, `checkpointer`, `disk`, `cookie` → `bookie` →
//! `storage` → `journal`, `entry_log` → `index`, `write_cache`,
//! `add_latency` → `ledger_state`, `error` → `record`, `writeback`,
//! `config`.
//!
//! `docs/bookie.md` describes the storage layout and durability order.

pub mod add_latency;
pub mod add_stream;
pub mod bookie;
pub mod checkpointer;
pub mod config;
pub mod cookie;
pub mod disk;
pub mod entry_log;
pub mod error;
pub mod gc;
pub mod index;
pub mod journal;
pub mod ledger_state;
pub mod record;
pub mod service;
pub mod storage;
pub mod write_cache;
pub mod writeback;

pub use bookie::Bookie;
pub use config::BookieConfig;
pub use disk::{DiskUsage, DiskUsageProbe, ManualDiskProbe, StatvfsProbe};
pub use error::{BookieError, JournalError, StartError, StorageError};
