//! The stateless broker: the Pulsar binary protocol server, topics,
//! producers, consumers and dispatch, on top of managed ledgers stored in
//! bookies and coordinated through the metadata store.
//!
//! - [`service`]: [`BrokerService`], the entry point that wires it together.
//! - [`server`]: listener and per-connection protocol handling.
//! - [`topic`]: topic names, the topic registry, subscriptions, ownership.
//! - [`producer`], [`consumer`], [`dispatch`]: the publish and delivery paths.
//! - [`managed_ledger`]: the durable log behind every topic.

pub mod consumer;
pub mod dispatch;
pub mod managed_ledger;
pub mod metrics;
pub mod node;
pub mod producer;
pub mod server;
pub mod service;
pub mod topic;

pub use service::{BrokerService, BrokerServiceConfig, BrokerServiceError, BrokerServiceHandle};
pub mod namespace;
pub mod admin;
