//! [`Replicator`]: brings one marked ledger back to `Qw` copies per entry.
//!
//! Each step re-reads the metadata and recomputes what is left, so a step
//! that fails or races another worker (or the ledger's writer) is simply
//! redone:
//!
//! 1. Lost bookies are those the marker names that the ledger still
//!    references and that are not registered now (one that came back has
//!    its data).
//! 2. Complete fragments (every segment of a closed ledger; every segment
//!    but the last of an open one) are repaired one at a time, lost bookies
//!    first, then holes: pick a target (see [`super::target`]), copy (see
//!    [`super::copy`]), then swap the lost bookie or fill the hole (see
//!    [`super::swap`]); if the metadata changed meanwhile, re-read and plan
//!    again. A fragment without a target is skipped; the attempt then ends
//!    with `NotEnoughBookies` and is retried later.
//! 3. The last segment of a ledger that is not closed is still being
//!    written; its writer replaces lost bookies and fills holes itself. The
//!    worker fences and recovers it only after a spare existed for the whole
//!    `open_ledger_rereplication_grace`, then goes on with the now complete
//!    fragments. Until then the attempt ends `Deferred`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use magnetar_metadata::MetadataStore;

use super::config::AutoRecoveryConfig;
use super::copy::FragmentCopy;
use super::error::AutoRecoveryError;
use super::fragment::{hole_fragments, lost_fragments, Fragment, FragmentKind};
use super::swap::{fill_hole, swap_bookie};
use super::target::{choose_target, spares, TailTimers};
use crate::client::metadata::VersionedMetadata;
use crate::client::{placement, BookieId, LedgerClient};
use crate::digest;
use crate::ledger::{LedgerError, LedgerId, LedgerStore, OpenMode};

/// Upper bound on steps for one ledger in one attempt (each step repairs
/// one fragment, or recovers the ledger).
const MAX_STEPS: usize = 1024;
/// Metadata changes racing a repair that are redone at once before the
/// attempt gives up (and is retried after `retry_interval`).
const MAX_RACES: usize = 3;

/// How a re-replication attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerOutcome {
    /// No segment references a lost bookie or has a hole any more.
    Replicated,
    /// An open ledger's last segment is left to its writer for now.
    Deferred,
    /// The ledger was deleted.
    Gone,
}

pub struct Replicator {
    client: LedgerClient,
    config: AutoRecoveryConfig,
    tails: TailTimers,
}

impl Replicator {
    pub fn new(client: LedgerClient, config: AutoRecoveryConfig) -> Self {
        Replicator {
            client,
            config,
            tails: TailTimers::default(),
        }
    }

    fn store(&self) -> &Arc<dyn MetadataStore> {
        self.client.metadata_store().store()
    }

    /// Re-replicates what `ledger_id` lost of the bookies in `marked`, and
    /// fills its holes.
    pub async fn replicate(
        &mut self,
        ledger_id: LedgerId,
        marked: &BTreeSet<BookieId>,
    ) -> Result<LedgerOutcome, AutoRecoveryError> {
        let mut races = 0;
        for _ in 0..MAX_STEPS {
            let current = match self.client.ledger_metadata(ledger_id).await {
                Ok(current) => current,
                Err(LedgerError::NoSuchLedger(_)) => {
                    self.tails.forget(ledger_id);
                    return Ok(LedgerOutcome::Gone);
                }
                Err(error) => return Err(error.into()),
            };
            let available = placement::available_bookies(self.store()).await?;
            let writable: Vec<BookieId> = available
                .iter()
                .filter(|bookie| !bookie.read_only)
                .map(|bookie| bookie.id.clone())
                .collect();
            let lost: BTreeSet<BookieId> = current
                .metadata
                .referenced_bookies()
                .into_iter()
                .filter(|bookie| {
                    marked.contains(*bookie) && !available.iter().any(|b| b.id == *bookie)
                })
                .map(str::to_string)
                .collect();
            let mut fragments = lost_fragments(&current.metadata, &lost);
            fragments.extend(hole_fragments(&current.metadata));
            if fragments.is_empty() {
                self.tails.forget(ledger_id);
                return Ok(LedgerOutcome::Replicated);
            }
            let (complete, tail): (Vec<Fragment>, Vec<Fragment>) =
                fragments.into_iter().partition(Fragment::is_complete);
            let planned = complete.iter().find_map(|fragment| {
                choose_target(fragment, &writable, &lost).map(|target| (fragment, target))
            });
            if let Some((fragment, target)) = planned {
                match self
                    .repair(ledger_id, current, fragment, &lost, &target)
                    .await
                {
                    Err(AutoRecoveryError::MetadataChanged(_)) if races < MAX_RACES => {
                        races += 1;
                        tracing::debug!(
                            ledger_id,
                            "metadata changed during a repair; planning again"
                        );
                    }
                    result => result?,
                }
                continue;
            }
            let short = (!complete.is_empty()).then_some(LedgerError::NotEnoughBookies {
                needed: 1,
                available: 0,
            });
            if tail.is_empty() {
                self.tails.forget(ledger_id);
            } else {
                let spare = tail
                    .iter()
                    .any(|fragment| !spares(fragment, &writable, &lost).is_empty());
                let grace = self.config.open_ledger_rereplication_grace;
                if self.tails.observe(ledger_id, spare, Instant::now(), grace) {
                    self.recover_tail(ledger_id, &current).await?;
                    continue;
                }
            }
            return match short {
                Some(error) => Err(error.into()),
                None => Ok(LedgerOutcome::Deferred),
            };
        }
        Err(AutoRecoveryError::MetadataChanged(ledger_id))
    }

    /// Fences and closes an open ledger whose tail had a spare for the
    /// whole grace period: its writer is gone or stuck.
    async fn recover_tail(
        &mut self,
        ledger_id: LedgerId,
        current: &VersionedMetadata,
    ) -> Result<(), AutoRecoveryError> {
        let password = current
            .metadata
            .password_bytes()
            .ok_or(AutoRecoveryError::BadPassword(ledger_id))?;
        tracing::info!(
            ledger_id,
            grace = ?self.config.open_ledger_rereplication_grace,
            "open ledger's last segment stayed under-replicated with a spare bookie available; fencing and closing it"
        );
        self.tails.forget(ledger_id);
        self.client
            .open(ledger_id, password, OpenMode::Recover)
            .await?;
        Ok(())
    }

    /// Copies `fragment` to `target`, then names `target` in the metadata.
    async fn repair(
        &self,
        ledger_id: LedgerId,
        current: VersionedMetadata,
        fragment: &Fragment,
        lost: &BTreeSet<BookieId>,
        target: &str,
    ) -> Result<(), AutoRecoveryError> {
        let password = current
            .metadata
            .password_bytes()
            .ok_or(AutoRecoveryError::BadPassword(ledger_id))?;
        let copy = FragmentCopy {
            context: self.client.read_context(),
            ledger_id,
            master_key: digest::master_key(&password),
            parallelism: self.config.copy_parallelism,
        };
        let copied = copy.copy(&current, fragment, lost, target).await?;
        let store = self.client.metadata_store();
        match fragment.kind {
            FragmentKind::Lost => {
                swap_bookie(store, ledger_id, current, fragment, target).await?;
            }
            FragmentKind::Hole => {
                fill_hole(store, ledger_id, current, fragment, target).await?;
            }
        }
        tracing::info!(
            ledger_id,
            kind = ?fragment.kind,
            bookie = fragment.bookie(),
            %target,
            first_entry = fragment.first_entry,
            last_entry = ?fragment.last_entry,
            copied,
            "fragment re-replicated"
        );
        Ok(())
    }
}
