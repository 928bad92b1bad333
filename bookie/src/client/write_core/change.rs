//! Ensemble changes of a [`WriterCore`], one at a time and inline.
//!
//! When a bookie of the current ensemble fails:
//! 1. it is quarantined in the client's [`BookieDirectory`], so no ledger of
//!    this client picks it again until it registers anew;
//! 2. a healthy writable bookie outside the ensemble's live members, if any,
//!    **replaces** it from `LAC + 1` on, and every pending add of its index is
//!    re-sent to the replacement;
//! 3. else, with `delayed_ensemble_change` and while every write set keeps
//!    `Qa` live members, its index becomes a **hole** from the first of the
//!    trailing entries it never acknowledged (see [`WriterCore::hole_start`]):
//!    adds go on to the rest of each write set, and its acks no longer count;
//! 4. else the writer fails with `NotEnoughBookies`.
//!
//! While the last segment has holes, the writer task calls
//! [`WriterCore::fill_holes`] on a backoff timer (1×, doubling to 10× the
//! configured interval): a hole is **filled** from `LAC + 1` on by its
//! original bookie once it registered again, else by any healthy bookie
//! outside the live members. Holes in earlier segments are auto-recovery's.
//!
//! [`BookieDirectory`]: crate::client::directory::BookieDirectory

use rand::seq::SliceRandom;
use tokio::time::Instant;

use super::{WriteMode, WriterCore};
use crate::client::ensemble_change;
use crate::client::metadata::{BookieId, CasStep, LedgerMetadata, LedgerState};
use crate::ledger::{EntryId, LedgerError, WriterHealth};

impl WriterCore {
    /// Reacts to a failed add at `index` of the current ensemble. See the
    /// module doc.
    pub(super) async fn handle_bookie_failure(&mut self, index: usize, reason: &str) {
        let failed = self.bookie_at(index);
        if failed.is_empty() || self.is_hole(index) {
            return;
        }
        self.context.directory.quarantine(&failed);
        let candidates = self.replacement_candidates().await;
        let chosen = candidates.choose(&mut rand::thread_rng()).cloned();
        let result = match chosen {
            Some(replacement) => {
                tracing::warn!(ledger_id = self.ledger_id, bookie = %failed, reason, replacement = %replacement, "bookie failed, replacing it");
                let first_entry = self.progress.lac() + 1;
                self.install(index, &failed, replacement, first_entry).await
            }
            None if self.context.config.delayed_ensemble_change => {
                self.leave_hole(index, &failed, reason).await
            }
            None => Err(LedgerError::NotEnoughBookies {
                needed: 1,
                available: 0,
            }),
        };
        if let Err(error) = result {
            self.fail(error);
        }
    }

    /// When the writer task should call [`WriterCore::fill_holes`]; `None`
    /// while the current ensemble has no holes.
    pub fn fill_due(&self) -> Option<Instant> {
        self.next_fill.map(|(at, _)| at)
    }

    /// Puts bookies back into the current ensemble's holes where healthy
    /// ones are available; re-arms the timer with a longer wait otherwise.
    pub async fn fill_holes(&mut self) {
        let holes = self.metadata.metadata.last_holes();
        if self.failure.is_some() || holes.is_empty() {
            self.next_fill = None;
            return;
        }
        let mut candidates = self.replacement_candidates().await;
        for index in holes {
            let original = self.bookie_at(index);
            let chosen = match candidates.iter().position(|b| *b == original) {
                Some(position) => candidates.swap_remove(position),
                None if candidates.is_empty() => break,
                None => candidates.swap_remove(0),
            };
            let first_entry = self.progress.lac() + 1;
            if let Err(error) = self
                .install(index, &original, chosen.clone(), first_entry)
                .await
            {
                return self.fail(error);
            }
            tracing::info!(ledger_id = self.ledger_id, bookie = %chosen, index, first_entry, "hole filled: new entries have all their copies again");
        }
        let base = self.context.config.hole_fill_interval;
        self.next_fill = match self.next_fill {
            _ if self.metadata.metadata.last_holes().is_empty() => None,
            Some((_, wait)) => {
                let wait = (wait * 2).min(base * 10);
                Some((Instant::now() + wait, wait))
            }
            None => Some((Instant::now() + base, base)),
        };
    }

    pub(super) fn is_hole(&self, index: usize) -> bool {
        self.metadata
            .metadata
            .segments
            .last()
            .is_some_and(|segment| segment.is_hole(index))
    }

    /// Healthy writable bookies that are not live members of the current
    /// ensemble. A failed listing counts as none.
    async fn replacement_candidates(&mut self) -> Vec<BookieId> {
        let live = self.live_members();
        let (directory, ledger_id) = (self.context.directory.clone(), self.ledger_id);
        match directory.healthy_writable().await {
            Ok(healthy) => healthy.into_iter().filter(|b| !live.contains(b)).collect(),
            Err(error) => {
                tracing::debug!(ledger_id, %error, "cannot list bookies");
                Vec::new()
            }
        }
    }

    fn live_members(&self) -> Vec<BookieId> {
        let ensemble = self.metadata.metadata.last_ensemble();
        (0..ensemble.len())
            .filter(|&index| !self.is_hole(index))
            .map(|index| ensemble[index].clone())
            .collect()
    }

    /// Puts `bookie` at `index` (in place of `previous`) from `first_entry`
    /// on, and re-sends the pending adds of that index to it.
    async fn install(
        &mut self,
        index: usize,
        previous: &str,
        bookie: BookieId,
        first_entry: EntryId,
    ) -> Result<(), LedgerError> {
        let ledger_id = self.ledger_id;
        self.change_ensemble(|current| {
            if current.last_ensemble().get(index).map(String::as_str) != Some(previous) {
                return Err(LedgerError::Fenced(ledger_id));
            }
            Ok(ensemble_change::install_bookie(
                current,
                index,
                &bookie,
                first_entry,
            ))
        })
        .await?;
        self.forget_index(index);
        for (entry_id, body) in self.queue.reset_index(index) {
            self.send(entry_id, index, body);
        }
        self.confirm_completed();
        Ok(())
    }

    /// Marks `index` a hole from the first entry its bookie did not
    /// acknowledge; its acks are discarded and nothing is re-sent.
    async fn leave_hole(
        &mut self,
        index: usize,
        failed: &str,
        reason: &str,
    ) -> Result<(), LedgerError> {
        let ledger_id = self.ledger_id;
        let quorum = self.metadata.metadata.quorum();
        let from = self.hole_start(index);
        let live_after = self.live_members().len().saturating_sub(1);
        self.change_ensemble(|current| {
            let last = current.segments.last();
            if current.last_ensemble().get(index).map(String::as_str) != Some(failed)
                || last.is_some_and(|segment| segment.is_hole(index))
            {
                return Err(LedgerError::Fenced(ledger_id));
            }
            ensemble_change::mark_hole(current, index, failed, from).ok_or(
                LedgerError::NotEnoughBookies {
                    needed: quorum.ack,
                    available: live_after,
                },
            )
        })
        .await?;
        tracing::warn!(
            ledger_id,
            bookie = %failed,
            reason,
            from_entry = from,
            "bookie failed and no healthy bookie can replace it: writing on without it while the ack quorum holds"
        );
        self.forget_index(index);
        self.queue.reset_index(index);
        self.confirm_completed();
        let base = self.context.config.hole_fill_interval;
        self.next_fill = Some((Instant::now() + base, base));
        Ok(())
    }

    /// Where a hole at `index` may start: `LAC + 1`, lowered over the
    /// confirmed entries of its write sets that its bookie never
    /// acknowledged, as long as it acknowledged none after them. Withdrawing
    /// the claim on an entry the bookie did acknowledge could leave that
    /// entry with fewer than `Qa` named holders (its confirmation may have
    /// counted this ack), so the hole never reaches below such an entry; the
    /// unacknowledged entries below it stay claimed (an over-claim only
    /// costs a read a fall-through to the next replica).
    fn hole_start(&self, index: usize) -> EntryId {
        let quorum = self.metadata.metadata.quorum();
        let unanswered = &self.unanswered[index];
        let mut from = self.progress.lac() + 1;
        let Some(&lowest) = unanswered.first() else {
            return from;
        };
        let mut entry = from - 1;
        while entry >= lowest {
            if quorum.holds(index, entry) && !unanswered.contains(&entry) {
                break;
            }
            from = entry;
            entry -= 1;
        }
        from
    }

    /// A change of `index` invalidates everything in flight to it.
    fn forget_index(&mut self, index: usize) {
        self.generation[index] += 1;
        self.unanswered[index].clear();
    }

    /// Writes the metadata `plan` derives from the current one: by CAS while
    /// the ledger is `OPEN` (normal mode), locally until close (recovery).
    /// Nothing is confirmed meanwhile: the caller runs inline in the task.
    async fn change_ensemble(
        &mut self,
        plan: impl Fn(&LedgerMetadata) -> Result<LedgerMetadata, LedgerError>,
    ) -> Result<(), LedgerError> {
        match self.mode {
            WriteMode::Recovery => self.metadata.metadata = plan(&self.metadata.metadata)?,
            WriteMode::Normal => {
                let ledger_id = self.ledger_id;
                self.metadata = self
                    .context
                    .metadata_store
                    .update(ledger_id, self.metadata.clone(), |current| {
                        match current.state {
                            LedgerState::Open => Ok(CasStep::Write(plan(current)?)),
                            LedgerState::InRecovery => Err(LedgerError::Fenced(ledger_id)),
                            LedgerState::Closed => Err(LedgerError::Closed(ledger_id)),
                        }
                    })
                    .await?;
            }
        }
        self.publish_health();
        Ok(())
    }

    /// Publishes the current holes to the writer handle.
    pub(super) fn publish_health(&self) {
        let ensemble = self.metadata.metadata.last_ensemble();
        let missing_bookies = self
            .metadata
            .metadata
            .last_holes()
            .into_iter()
            .filter_map(|index| ensemble.get(index).cloned())
            .collect();
        *self.progress.health.lock() = WriterHealth { missing_bookies };
    }
}
