//! The Magnetar proxy: one address in front of every broker of a cluster,
//! for clients that cannot reach the brokers themselves (a host in front of
//! a container network, a load balancer's single port).
//!
//! It works as Pulsar's proxy does, so the official clients need no option:
//! - a connection whose `CONNECT` names no broker is a *lookup* connection.
//!   The proxy answers `LOOKUP` itself, following the brokers' redirects, and
//!   tells the client to connect through the proxy
//!   (`proxy_through_service_url`). Partition metadata, topic lists and
//!   schema reads are forwarded to any broker;
//! - a connection whose `CONNECT` carries `proxy_to_broker_url` is a
//!   *tunnel*: the proxy connects to that broker, relays the handshake and
//!   then copies bytes both ways without decoding them;
//! - its HTTP port serves `/health` and `/metrics` and forwards everything
//!   else (the admin API) to a broker, following redirects between brokers.
//!
//! It learns the brokers from the broker registry in the metadata store and
//! only ever connects to a registered broker, so it is not an open relay.
//!
//! Modules, bottom up. Each imports only modules listed above it:
//!
//! 1. [`error`]: [`ProxyError`]. [`metrics`]: the proxy's Prometheus metrics.
//! 2. [`commands`]: request ids of the commands the proxy forwards.
//! 3. [`directory`]: the live brokers, read from the registry.
//! 4. [`upstream`]: multiplexed protocol connections to brokers.
//! 5. [`lookup`]: the commands a lookup connection answers.
//! 6. [`tunnel`]: a client connection spliced to its broker.
//! 7. [`connection`]: the listener and the first `CONNECT` of each client.
//! 8. [`http`]: health, metrics and the admin API forwarder.
//! 9. [`node`]: a proxy process wired together.

pub mod error;
pub mod metrics;

pub mod commands;

pub mod directory;

pub mod upstream;

pub mod lookup;

pub mod tunnel;

pub mod connection;

pub mod http;

pub mod node;

pub use error::ProxyError;
pub use node::{ProxyConfig, ProxyNode};
