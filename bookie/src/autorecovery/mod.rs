//! Auto-recovery: bringing ledgers back to `Qw` copies per entry after a
//! bookie is lost for good.
//!
//! Two roles, both run inside bookie processes (see [`spawn`]):
//!
//! - the [`auditor::Auditor`], elected cluster-wide, notices bookies whose
//!   registration has been gone longer than `lost_bookie_recovery_delay` and
//!   marks every ledger referencing them under-replicated, and every ledger
//!   whose metadata records holes (a writer that went on without a bookie
//!   also marks its ledger itself: [`marker::mark_ledger_holes`]);
//! - a [`worker::ReplicationWorker`] in every process takes marked ledgers
//!   one at a time under a lock, copies the missing entries from surviving
//!   replicas to a replacement (or back to a hole's bookie) and rewrites the
//!   ledger metadata.
//!
//! Files: [`marker`] (the marker format; the keys are in [`crate::keys`]), [`missing`] (which bookies
//! are lost, pure), [`fragment`] (which entries a lost bookie or a hole
//! lacks, pure), [`target`] (where copies go; when an open tail may be
//! fenced, pure), [`copy`] (one fragment), [`swap`] (the metadata change
//! after a copy), [`replicate`] (one ledger), [`notice`], [`lock`],
//! [`worker`], [`auditor`], [`config`], [`error`]. `docs/bookie.md`
//! describes the keys and the timing.

pub mod auditor;
pub mod config;
pub mod copy;
pub mod error;
pub mod fragment;
pub mod lock;
pub mod marker;
pub mod missing;
pub mod notice;
pub mod replicate;
pub mod swap;
pub mod target;
pub mod worker;

#[cfg(test)]
mod hole_harness;
#[cfg(test)]
mod hole_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use magnetar_metadata::MetadataStore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::AutoRecoveryConfig;
pub use error::AutoRecoveryError;
pub use marker::{mark_ledger_holes, UnderReplicatedMarker};

use crate::client::{ClientConfig, LedgerClient};

/// Starts an auditor candidate and a replication worker for the process
/// identified by `node_id` (a bookie id). Both stop when `cancel` fires,
/// resigning leadership and releasing locks. `session_ttl` bounds how long
/// a dead process keeps the auditor role or a lock.
pub fn spawn(
    store: Arc<dyn MetadataStore>,
    node_id: &str,
    config: AutoRecoveryConfig,
    session_ttl: Duration,
    cancel: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let auditor = auditor::Auditor::new(
        store.clone(),
        node_id.to_string(),
        config.clone(),
        session_ttl,
    );
    let client_config = ClientConfig {
        tls: config.client_tls.clone(),
        ..ClientConfig::default()
    };
    let client = LedgerClient::new(store, client_config);
    let worker = worker::ReplicationWorker::new(client, node_id.to_string(), config, session_ttl);
    vec![
        tokio::spawn(auditor.run(cancel.clone())),
        tokio::spawn(worker.run(cancel)),
    ]
}
