//! Broker.

pub mod managed_ledger;
pub mod metrics;
