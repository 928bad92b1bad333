//! Compaction of a loaded topic (`crate::compaction` does the work): the
//! namespace's `compactionThreshold`, checked by the policy pass, starts a
//! run when the `__compaction` cursor's backlog exceeds it (0: never), as
//! Pulsar's `checkCompaction` does.

use crate::compaction::CompactionError;

use super::PersistentTopic;

impl PersistentTopic {
    /// Starts a compaction when the backlog not yet compacted exceeds the
    /// namespace's threshold; nothing while one runs.
    pub(super) fn compact_if_over_threshold(&self) {
        let Some(threshold) = self.limits().compaction_threshold.filter(|&t| t > 0) else {
            return;
        };
        let backlog = self.compaction().backlog_bytes();
        if backlog <= threshold || self.is_closing() {
            return;
        }
        match self.compaction().trigger() {
            Ok(()) => {
                tracing::info!(topic = %self.name(), backlog, threshold, "compaction threshold exceeded: compacting");
            }
            Err(CompactionError::AlreadyRunning) => {}
            Err(error) => {
                tracing::warn!(topic = %self.name(), %error, "compaction could not start");
            }
        }
    }
}
