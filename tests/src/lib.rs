//! End-to-end test harness: starts real `magnetar` processes (standalone,
//! broker, bookie, metadata) and a real etcd (alone or behind a bookie
//! cluster, see [`bookies`]; or under several brokers, see [`cluster`]),
//! finds the Python interpreter that has `pulsar-client`, runs its scripts
//! (one-shot, or a produce stream that runs while a test breaks things, see
//! [`stream`] and [`topic_stream`]), measures availability around a fault
//! ([`probe`]), checks what the bookies hold ([`verify`]), injects seeded
//! faults ([`faults`]: processes killed, paused or losing power, disks
//! filled, servers isolated or single links cut, see [`partition`] on a
//! test network of namespaces, [`netns`])
//! while `magnetar verify` runs ([`verify_command`]),
//! runs clusters whose internal links use TLS ([`internal_tls`]), and
//! cleans up what it started.
//!
//! Processes announce readiness by printing one line to stdout:
//! `magnetar ready <role> <key>=<addr> ...` (see `cli/src/ready.rs`). The
//! harness waits for that line with a deadline, so tests never guess ports
//! (except where a test must connect before the line, see
//! [`broker::BrokerProcess::spawn`]).

pub mod bookies;
pub mod broker;
pub mod certs;
pub mod cluster;
pub mod cluster_admin;
pub mod compose;
pub mod faults;
pub mod http;
pub mod internal_tls;
pub mod lossy_fs;
pub mod netns;
pub mod partition;
pub mod placement;
pub mod probe;
pub mod process;
pub mod python;
pub mod raft;
pub mod small_disk;
pub mod standalone;
pub mod stream;
pub mod topic_stream;
pub mod verify;
pub mod verify_command;
pub mod wait;

pub use bookies::{BookieCluster, BookieProcess};
pub use broker::{BrokerProcess, StartingBroker};
pub use cluster::{BrokerCluster, BrokerState};
pub use process::{magnetar_bin, run_magnetar, MagnetarProcess, ReadyLine, StartingProcess};
pub use python::{produce_consume, python, run_python, run_python_json, run_python_ok};
pub use raft::RaftGroup;
pub use standalone::Standalone;
pub use stream::StreamProducer;
pub use topic_stream::TopicStream;
