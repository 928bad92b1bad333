//! The replication worker: takes marked ledgers one at a time and
//! re-replicates them.
//!
//! A round lists `/underreplication/ledgers/`, and for each marker (in
//! random order, so workers spread out) tries the ledger's lock, runs the
//! [`Replicator`], deletes the marker on success — only if it is unchanged
//! since it was read, so a bookie the auditor added meanwhile is not
//! forgotten — and releases the lock. Between rounds it waits for a new
//! marker (a watch) or `retry_interval`, whichever comes first; failed and
//! deferred ledgers are therefore retried every `retry_interval`.
//!
//! No spare bookie (`NotEnoughBookies`) is a condition, not a fault: it is
//! logged at debug level, plus one info line per ledger per minute.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use magnetar_metadata::{
    Expected, MetadataError, MetadataStore, Session, WatchEvent, WatchStream, WatchTarget,
};
use rand::seq::SliceRandom;
use tokio_util::sync::CancellationToken;

use super::config::AutoRecoveryConfig;
use super::error::AutoRecoveryError;
use super::lock::LedgerLock;
use super::marker::UnderReplicatedMarker;
use super::notice::Notices;
use super::replicate::{LedgerOutcome, Replicator};
use crate::client::LedgerClient;
use crate::keys::{ledger_of_marker, marker_key, MARKERS_PREFIX};
use crate::ledger::{LedgerError, LedgerId};

/// Pause after a failure to open a session.
const SESSION_RETRY: Duration = Duration::from_secs(1);
/// At most one info line per ledger this often while no spare bookie exists.
const NO_SPARE_NOTICE: Duration = Duration::from_secs(60);

pub struct ReplicationWorker {
    store: Arc<dyn MetadataStore>,
    worker_id: String,
    config: AutoRecoveryConfig,
    session_ttl: Duration,
    replicator: Replicator,
    no_spare: Notices,
}

impl ReplicationWorker {
    pub fn new(
        client: LedgerClient,
        worker_id: String,
        config: AutoRecoveryConfig,
        session_ttl: Duration,
    ) -> Self {
        ReplicationWorker {
            store: client.metadata_store().store().clone(),
            worker_id,
            replicator: Replicator::new(client, config.clone()),
            config,
            session_ttl,
            no_spare: Notices::new(NO_SPARE_NOTICE),
        }
    }

    /// Runs rounds until cancelled; closes its session (releasing any lock).
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut session: Option<Session> = None;
        while !cancel.is_cancelled() {
            if session.as_ref().is_none_or(Session::is_expired) {
                match Session::open(self.store.clone(), self.session_ttl).await {
                    Ok(open) => session = Some(open),
                    Err(error) => {
                        tracing::warn!(%error, "replication worker cannot open a metadata session");
                        tokio::select! {
                            _ = cancel.cancelled() => break,
                            _ = tokio::time::sleep(SESSION_RETRY) => continue,
                        }
                    }
                }
            }
            let Some(live) = session.as_ref() else {
                continue;
            };
            let watch = self.watch_markers().await;
            tokio::select! {
                _ = cancel.cancelled() => break,
                result = self.round(live) => if let Err(error) = result {
                    tracing::warn!(%error, "replication round failed; retrying");
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = live.expired() => {}
                _ = wait_for_new_marker(watch) => {}
                _ = tokio::time::sleep(self.config.retry_interval) => {}
            }
        }
        if let Some(open) = session {
            if let Err(error) = open.close().await {
                tracing::debug!(%error, "closing the replication worker session failed");
            }
        }
    }

    /// A watch on markers from now on, opened before a round lists them so
    /// a marker written during the round wakes the next one.
    async fn watch_markers(&self) -> Option<WatchStream> {
        let revision = self.store.current_revision().await.ok()?;
        self.store
            .watch(
                WatchTarget::Prefix(MARKERS_PREFIX.to_string()),
                Some(revision + 1),
            )
            .await
            .ok()
    }

    /// One pass over the markers.
    async fn round(&mut self, session: &Session) -> Result<(), MetadataError> {
        let mut ledgers = self.marked_ledgers().await?;
        ledgers.shuffle(&mut rand::thread_rng());
        for ledger_id in ledgers {
            if session.is_expired() {
                return Err(MetadataError::SessionExpired(session.id()));
            }
            let Some(lock) =
                LedgerLock::try_acquire(&self.store, session.id(), ledger_id, &self.worker_id)
                    .await?
            else {
                continue;
            };
            let span = tracing::info_span!("rereplicate", ledger_id);
            let result = tracing::Instrument::instrument(self.process(ledger_id), span).await;
            if let Err(error) = result {
                self.report(ledger_id, &error);
            }
            lock.release().await;
        }
        Ok(())
    }

    fn report(&mut self, ledger_id: LedgerId, error: &AutoRecoveryError) {
        if matches!(
            error,
            AutoRecoveryError::Ledger(LedgerError::NotEnoughBookies { .. })
        ) {
            if self.no_spare.allow(ledger_id, Instant::now()) {
                tracing::info!(ledger_id, %error, "no spare bookie to re-replicate to; will retry");
            } else {
                tracing::debug!(ledger_id, %error, "no spare bookie to re-replicate to; will retry");
            }
        } else {
            tracing::warn!(ledger_id, %error, "re-replication failed; will retry");
        }
    }

    async fn marked_ledgers(&self) -> Result<Vec<LedgerId>, MetadataError> {
        Ok(self
            .store
            .list_all(MARKERS_PREFIX)
            .await?
            .iter()
            .filter_map(|(key, _)| ledger_of_marker(key))
            .collect())
    }

    /// Re-replicates one locked ledger and settles its marker.
    async fn process(&mut self, ledger_id: LedgerId) -> Result<(), AutoRecoveryError> {
        let key = marker_key(ledger_id);
        // Read under the lock: the marker may be gone (another worker finished).
        let Some(stored) = self.store.get(&key).await? else {
            return Ok(());
        };
        let marker = UnderReplicatedMarker::decode(&key, &stored.value)?;
        match self
            .replicator
            .replicate(ledger_id, &marker.missing)
            .await?
        {
            LedgerOutcome::Deferred => Ok(()),
            outcome @ (LedgerOutcome::Replicated | LedgerOutcome::Gone) => {
                match self
                    .store
                    .delete(&key, Expected::Version(stored.version))
                    .await
                {
                    Ok(()) => {
                        tracing::info!(ledger_id, ?outcome, missing = ?marker.missing, "ledger fully replicated");
                        Ok(())
                    }
                    // The auditor added a bookie meanwhile: the next round handles it.
                    Err(MetadataError::BadVersion { .. }) => Ok(()),
                    Err(error) => Err(error.into()),
                }
            }
        }
    }
}

/// Resolves when a marker is written; never resolves without a watch (the
/// caller's retry timer covers that case).
async fn wait_for_new_marker(watch: Option<WatchStream>) {
    let Some(mut watch) = watch else {
        return futures::future::pending().await;
    };
    while let Some(event) = watch.next().await {
        match event {
            Ok(WatchEvent::Put { .. }) => return,
            Ok(WatchEvent::Delete { .. }) => continue,
            Err(_) => break,
        }
    }
    futures::future::pending().await
}
