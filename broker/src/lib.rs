//! The stateless broker: the Pulsar binary protocol server, topics,
//! producers, consumers and dispatch, on top of managed ledgers stored in
//! bookies and coordinated through the metadata store.
//!
//! Modules, bottom up. Each imports only modules listed above it (none
//! imports one below it or on its own line):
//!
//! 1. [`metrics`]: the process-wide Prometheus registry and its metrics;
//!    [`traffic`]: a topic's message counters, which feed them. [`fault`]:
//!    deliberate faults for the test suite (feature `fault-injection`).
//!    [`metadata_metrics`]: the metadata store wrapped to time its
//!    operations.
//! 2. [`managed_ledger`]: the durable log behind every topic, and its
//!    cursors. [`namespace`]: topic names, namespaces, bundles, policies and
//!    bundle ownership in the metadata store.
//! 3. [`schema`]: the schema registry (versions per topic, compatibility).
//!    [`compaction`]: topic compaction (the compacted ledger, its runs and
//!    the compacted view readers see). [`security`]: TLS, authentication
//!    providers and authorization (which reads namespace policies).
//! 4. [`wire`]: low-level helpers for talking to a client: the sending half
//!    of a connection, message ids, broker request ids, error codes.
//! 5. [`consumer`], [`producer`]: one per `SUBSCRIBE` / `PRODUCER`.
//! 6. [`dispatch`]: one task per subscription, cursor to consumers.
//!    [`replication`]: one task per topic and remote cluster, cursor to
//!    the remote cluster's broker.
//! 7. [`topic`]: the per-topic object, subscriptions, the catalog of which
//!    topics exist, the topic registry and the ownership check.
//! 8. [`cluster`]: brokers together: the broker registry, load reports,
//!    the load manager (placement, shedding, splits), lookups with
//!    redirects, graceful unload, and membership across sessions.
//! 9. [`context`]: the settings and state every connection shares.
//! 10. [`server`]: the listener and per-connection protocol handling.
//! 11. [`service`]: [`BrokerService`], which builds the context and runs the
//!     server. [`admin`]: the HTTP admin API, `/health` and `/metrics`.
//! 12. [`console`]: the web console at `/ui`, a client of the admin API
//!     served beside it.
//! 13. [`node`]: one broker process wired together: metadata session,
//!     namespace service, cluster membership, protocol service and admin
//!     HTTP.

pub mod fault;
pub mod metadata_metrics;
pub mod metrics;
pub mod traffic;

pub mod managed_ledger;
pub mod namespace;

pub mod compaction;
pub mod schema;
pub mod security;

pub mod wire;

pub mod consumer;
pub mod producer;

pub mod dispatch;
pub mod replication;

pub mod topic;

pub mod cluster;

pub mod context;

pub mod server;

pub mod admin;
pub mod service;

pub mod console;

pub mod node;

pub use context::BrokerServiceConfig;
pub use service::{BrokerService, BrokerServiceError, BrokerServiceHandle};
