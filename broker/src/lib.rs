//! The stateless broker: the Pulsar binary protocol server, topics,
//! producers, consumers and dispatch, on top of managed ledgers stored in
//! bookies and coordinated through the metadata store.
//!
//! Modules, bottom up. Each imports only modules listed above it (none
//! imports one below it or on its own line):
//!
//! 1. [`metrics`]: the process-wide Prometheus registry and its metrics.
//! 2. [`managed_ledger`]: the durable log behind every topic, and its
//!    cursors. [`namespace`]: topic names, namespaces, bundles, policies and
//!    bundle ownership in the metadata store.
//! 3. [`wire`]: low-level helpers for talking to a client: the sending half
//!    of a connection, message ids, broker request ids, error codes.
//! 4. [`consumer`], [`producer`]: one per `SUBSCRIBE` / `PRODUCER`.
//! 5. [`dispatch`]: one task per subscription, cursor to consumers.
//! 6. [`topic`]: the per-topic object, subscriptions, the topic registry
//!    and the ownership check.
//! 7. [`context`]: the settings and state every connection shares.
//! 8. [`server`]: the listener and per-connection protocol handling.
//! 9. [`service`]: [`BrokerService`], which builds the context and runs the
//!    server. [`admin`]: the HTTP admin API, `/health` and `/metrics`.
//! 10. [`node`]: one broker process wired together: metadata session,
//!     namespace service, protocol service and admin HTTP.

pub mod metrics;

pub mod managed_ledger;
pub mod namespace;

pub mod wire;

pub mod consumer;
pub mod producer;

pub mod dispatch;

pub mod topic;

pub mod context;

pub mod server;

pub mod admin;
pub mod service;

pub mod node;

pub use context::BrokerServiceConfig;
pub use service::{BrokerService, BrokerServiceError, BrokerServiceHandle};
