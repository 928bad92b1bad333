//! The auditor: one per cluster, elected through
//! `magnetar_metadata::election` on `/underreplication/auditor`.
//!
//! While it leads it keeps [`MissingBookies`] current from the bookie
//! registrations (a watch on `/bookies/available/` wakes it at once, a tick
//! re-lists them so a missed event costs at most one tick) and runs a
//! *ledger check* — scan every `/ledgers/<id>`, mark each ledger that
//! references a lost bookie or whose metadata records holes (open or
//! closed) — when:
//!
//! - it becomes auditor (a bookie may have died before; bookies referenced
//!   but unregistered start their recovery delay then);
//! - a bookie registers (a new one, or one coming back): ledgers with holes
//!   may now be filled;
//! - a bookie has been gone for `lost_bookie_recovery_delay`;
//! - `periodic_check_interval` has passed since the last check.
//!
//! Marking is idempotent, so a new auditor redoing work is harmless.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use magnetar_metadata::{
    LeaderElection, Leadership, MetadataStore, Session, WatchStream, WatchTarget,
};
use tokio_util::sync::CancellationToken;

use super::config::AutoRecoveryConfig;
use super::error::AutoRecoveryError;
use super::marker::mark_ledger_with;
use super::missing::MissingBookies;
use crate::client::placement;
use crate::client::{BookieId, LedgerMetadata};
use crate::keys::{ledger_of_key, AUDITOR_ELECTION_KEY, AVAILABLE_BOOKIES_PREFIX, LEDGERS_PREFIX};

const LIST_PAGE: usize = 500;
/// Pause after a failed campaign or session.
const CAMPAIGN_RETRY: Duration = Duration::from_secs(1);

pub struct Auditor {
    store: Arc<dyn MetadataStore>,
    auditor_id: String,
    config: AutoRecoveryConfig,
    session_ttl: Duration,
}

impl Auditor {
    pub fn new(
        store: Arc<dyn MetadataStore>,
        auditor_id: String,
        config: AutoRecoveryConfig,
        session_ttl: Duration,
    ) -> Self {
        Auditor {
            store,
            auditor_id,
            config,
            session_ttl,
        }
    }

    /// Campaigns, audits while leading, campaigns again after losing
    /// leadership; resigns when cancelled.
    pub async fn run(self, cancel: CancellationToken) {
        let election = LeaderElection::new(self.store.clone());
        let mut session: Option<Session> = None;
        while !cancel.is_cancelled() {
            if session.as_ref().is_none_or(Session::is_expired) {
                match Session::open(self.store.clone(), self.session_ttl).await {
                    Ok(open) => session = Some(open),
                    Err(error) => {
                        tracing::warn!(%error, "auditor cannot open a metadata session");
                        self.pause(&cancel).await;
                        continue;
                    }
                }
            }
            let Some(live) = session.as_ref() else {
                continue;
            };
            let value = Bytes::from(self.auditor_id.clone());
            let leadership = tokio::select! {
                _ = cancel.cancelled() => break,
                result = election.campaign(AUDITOR_ELECTION_KEY, value, live) => result,
            };
            let leadership = match leadership {
                Ok(leadership) => leadership,
                Err(error) => {
                    tracing::warn!(%error, "auditor campaign failed");
                    self.pause(&cancel).await;
                    continue;
                }
            };
            tracing::info!(auditor = %self.auditor_id, "became auditor");
            tokio::select! {
                _ = cancel.cancelled() => {
                    if let Err(error) = leadership.resign().await {
                        tracing::debug!(%error, "auditor resignation failed; the session close ends it");
                    }
                    break;
                }
                _ = leadership.lost() => tracing::warn!("auditor lost its leadership"),
                _ = self.lead(&leadership) => {}
            }
        }
        if let Some(open) = session {
            if let Err(error) = open.close().await {
                tracing::debug!(%error, "closing the auditor session failed");
            }
        }
    }

    async fn pause(&self, cancel: &CancellationToken) {
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = tokio::time::sleep(CAMPAIGN_RETRY) => {}
        }
    }

    /// The leader's loop; returns only if leadership is found lost.
    async fn lead(&self, leadership: &Leadership) {
        let delay = self.config.lost_bookie_recovery_delay;
        let tick = (delay / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
        let mut bookies = MissingBookies::default();
        let mut registered = BTreeSet::new();
        let mut watch: Option<WatchStream> = None;
        let mut check_now = true;
        let mut last_check = Instant::now();
        while !leadership.is_lost() {
            if watch.is_none() {
                watch = self
                    .store
                    .watch(
                        WatchTarget::Prefix(AVAILABLE_BOOKIES_PREFIX.to_string()),
                        None,
                    )
                    .await
                    .map_err(|error| tracing::debug!(%error, "cannot watch bookie registrations"))
                    .ok();
            }
            match self.refresh_available(&mut bookies, &mut registered).await {
                Ok(joined) => {
                    let now = Instant::now();
                    check_now |= joined
                        || bookies.audit_due(now, delay)
                        || now.duration_since(last_check) >= self.config.periodic_check_interval;
                    if check_now {
                        match self.check_ledgers(&mut bookies).await {
                            Ok(marked) => {
                                tracing::info!(marked, "ledger check done");
                                check_now = false;
                                last_check = Instant::now();
                            }
                            Err(error) => tracing::warn!(%error, "ledger check failed; retrying"),
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot list bookie registrations"),
            }
            let changed = async {
                match watch.as_mut() {
                    Some(stream) => match stream.next().await {
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => watch = None,
                    },
                    None => futures::future::pending().await,
                }
            };
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(tick) => {}
            }
        }
    }

    /// Lists the registrations into `bookies`; returns whether a bookie
    /// registered that was not in `registered` (which is then updated).
    async fn refresh_available(
        &self,
        bookies: &mut MissingBookies,
        registered: &mut BTreeSet<BookieId>,
    ) -> Result<bool, AutoRecoveryError> {
        let before = bookies.lost(Instant::now(), Duration::ZERO);
        let available: BTreeSet<BookieId> = placement::available_bookies(&self.store)
            .await?
            .into_iter()
            .map(|bookie| bookie.id)
            .collect();
        let joined = available.difference(registered).count();
        if joined > 0 && !registered.is_empty() {
            tracing::info!(
                joined,
                "bookies registered; checking ledgers for holes to fill"
            );
        }
        registered.clone_from(&available);
        bookies.observe_available(available, Instant::now());
        let after = bookies.lost(Instant::now(), Duration::ZERO);
        for gone in after.difference(&before) {
            tracing::info!(bookie = %gone, delay = ?self.config.lost_bookie_recovery_delay, "bookie gone; waiting before marking its ledgers");
        }
        Ok(joined > 0)
    }

    /// Scans every ledger and marks those referencing a lost bookie or
    /// having holes; returns how many markers changed.
    async fn check_ledgers(
        &self,
        bookies: &mut MissingBookies,
    ) -> Result<usize, AutoRecoveryError> {
        let started = Instant::now();
        let lost = bookies.lost(started, self.config.lost_bookie_recovery_delay);
        let mut marked = 0;
        let mut start_after: Option<String> = None;
        loop {
            let page = self
                .store
                .list(LEDGERS_PREFIX, start_after.as_deref(), LIST_PAGE)
                .await?;
            for (key, versioned) in &page.entries {
                let Some(ledger_id) = ledger_of_key(key) else {
                    continue;
                };
                let metadata = match LedgerMetadata::parse(key, &versioned.value) {
                    Ok(metadata) => metadata,
                    Err(error) => {
                        tracing::warn!(ledger_id, %error, "skipping unreadable ledger metadata");
                        continue;
                    }
                };
                let mut missing = BTreeSet::new();
                for bookie in metadata.referenced_bookies() {
                    bookies.observe_referenced(bookie, started);
                    if lost.contains(bookie) {
                        missing.insert(bookie.to_string());
                    }
                }
                let holes = metadata.has_holes();
                if (!missing.is_empty() || holes)
                    && mark_ledger_with(&self.store, ledger_id, &missing, holes).await?
                {
                    tracing::info!(ledger_id, ?missing, holes, "ledger marked under-replicated");
                    marked += 1;
                }
            }
            match page.next_start_after {
                Some(next) => start_after = Some(next),
                None => break,
            }
        }
        bookies.mark_audited(&lost);
        Ok(marked)
    }
}
