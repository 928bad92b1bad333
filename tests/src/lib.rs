//! End-to-end test harness: starts real `magnetar` processes (standalone,
//! broker, bookie, metadata) and a real etcd (alone or behind a bookie
//! cluster, see [`bookies`]), finds the Python interpreter
//! that has `pulsar-client`, and cleans up what it started.
//!
//! Processes announce readiness by printing one line to stdout:
//! `magnetar ready <role> <key>=<addr> ...` (see `cli/src/ready.rs`). The
//! harness waits for that line with a deadline, so tests never guess ports.

pub mod bookies;
pub mod process;
pub mod python;
pub mod standalone;

pub use bookies::{BookieCluster, BookieProcess};
pub use process::{magnetar_bin, MagnetarProcess, ReadyLine};
pub use python::{python, run_python};
pub use standalone::Standalone;
