//! [`Replicator`]: brings one marked ledger back to `Qw` copies per entry.
//!
//! Each step re-reads the metadata and recomputes what is left, so a step
//! that fails or races another worker is simply redone:
//!
//! 1. Lost bookies are those the marker names that the ledger still
//!    references and that are not registered now (one that came back has
//!    its data).
//! 2. Complete fragments (every segment of a closed ledger; every segment
//!    but the last of an open one) are re-replicated one at a time: pick a
//!    writable bookie outside the segment's ensemble, copy, swap (see
//!    `copy`).
//! 3. The last segment of a ledger that is not closed is still being
//!    written; its writer may replace the bookie itself. The worker leaves
//!    it for `open_ledger_rereplication_grace` from when it first saw it,
//!    then opens the ledger with recovery (fence and close) and goes on
//!    with the now complete fragment.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use magnetar_metadata::MetadataStore;

use super::config::AutoRecoveryConfig;
use super::copy::{swap_bookie, FragmentCopy};
use super::error::AutoRecoveryError;
use super::fragment::{lost_fragments, Fragment};
use crate::client::metadata::VersionedMetadata;
use crate::client::{placement, BookieId, LedgerClient};
use crate::digest;
use crate::ledger::{LedgerError, LedgerId, LedgerStore, OpenMode};

/// Upper bound on steps for one ledger in one attempt (each step replaces
/// one bookie in one segment, or recovers the ledger).
const MAX_STEPS: usize = 1024;

/// How a re-replication attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerOutcome {
    /// No segment references a lost bookie any more.
    Replicated,
    /// An open ledger's last segment waits for its grace period.
    Deferred,
    /// The ledger was deleted.
    Gone,
}

pub struct Replicator {
    client: LedgerClient,
    config: AutoRecoveryConfig,
    /// When this worker first saw each deferred open ledger.
    open_since: HashMap<LedgerId, Instant>,
}

impl Replicator {
    pub fn new(client: LedgerClient, config: AutoRecoveryConfig) -> Self {
        Replicator {
            client,
            config,
            open_since: HashMap::new(),
        }
    }

    fn store(&self) -> &Arc<dyn MetadataStore> {
        self.client.metadata_store().store()
    }

    /// Re-replicates what `ledger_id` lost of the bookies in `marked`.
    pub async fn replicate(
        &mut self,
        ledger_id: LedgerId,
        marked: &BTreeSet<BookieId>,
    ) -> Result<LedgerOutcome, AutoRecoveryError> {
        for _ in 0..MAX_STEPS {
            let current = match self.client.ledger_metadata(ledger_id).await {
                Ok(current) => current,
                Err(LedgerError::NoSuchLedger(_)) => {
                    self.open_since.remove(&ledger_id);
                    return Ok(LedgerOutcome::Gone);
                }
                Err(error) => return Err(error.into()),
            };
            let registered: BTreeSet<BookieId> = placement::available_bookies(self.store())
                .await?
                .into_iter()
                .map(|bookie| bookie.id)
                .collect();
            let lost: BTreeSet<BookieId> = current
                .metadata
                .referenced_bookies()
                .into_iter()
                .filter(|bookie| marked.contains(*bookie) && !registered.contains(*bookie))
                .map(str::to_string)
                .collect();
            let fragments = lost_fragments(&current.metadata, &lost);
            if fragments.is_empty() {
                self.open_since.remove(&ledger_id);
                return Ok(LedgerOutcome::Replicated);
            }
            if let Some(fragment) = fragments.iter().find(|fragment| fragment.is_complete()) {
                self.replicate_fragment(ledger_id, current, fragment, &lost)
                    .await?;
                continue;
            }
            // Only the open tail is left.
            let first_seen = *self.open_since.entry(ledger_id).or_insert_with(|| {
                tracing::info!(
                    ledger_id,
                    grace = ?self.config.open_ledger_rereplication_grace,
                    "open ledger lost a bookie of its last segment; leaving it to its writer for now"
                );
                Instant::now()
            });
            if first_seen.elapsed() < self.config.open_ledger_rereplication_grace {
                return Ok(LedgerOutcome::Deferred);
            }
            let password = current
                .metadata
                .password_bytes()
                .ok_or(AutoRecoveryError::BadPassword(ledger_id))?;
            tracing::info!(
                ledger_id,
                "open ledger past its grace period; fencing and closing it"
            );
            self.client
                .open(ledger_id, password, OpenMode::Recover)
                .await?;
        }
        Err(AutoRecoveryError::MetadataChanged(ledger_id))
    }

    async fn replicate_fragment(
        &self,
        ledger_id: LedgerId,
        current: VersionedMetadata,
        fragment: &Fragment,
        lost: &BTreeSet<BookieId>,
    ) -> Result<(), AutoRecoveryError> {
        let password = current
            .metadata
            .password_bytes()
            .ok_or(AutoRecoveryError::BadPassword(ledger_id))?;
        let writable = placement::writable_bookies(self.store()).await?;
        let excluded: Vec<BookieId> = fragment.ensemble.iter().chain(lost).cloned().collect();
        let replacement = placement::choose_bookies(&writable, 1, &excluded)?
            .pop()
            .ok_or(LedgerError::NotEnoughBookies {
                needed: 1,
                available: 0,
            })?;
        let copy = FragmentCopy {
            context: self.client.read_context(),
            ledger_id,
            master_key: digest::master_key(&password),
            parallelism: self.config.copy_parallelism,
        };
        let copied = copy.copy(&current, fragment, lost, &replacement).await?;
        swap_bookie(
            self.client.metadata_store(),
            ledger_id,
            current,
            fragment,
            &replacement,
        )
        .await?;
        tracing::info!(
            ledger_id,
            lost = fragment.lost_bookie(),
            %replacement,
            first_entry = fragment.first_entry,
            last_entry = ?fragment.last_entry,
            copied,
            "fragment re-replicated"
        );
        Ok(())
    }
}
