//! Journal replay on restart: re-applies every record after the checkpoint
//! mark, and cuts off torn or corrupt tails.
//!
//! A record that is truncated or fails its CRC ends the replay of its file:
//! the rest of that file is logged (file, offset, bytes) and truncated away,
//! so it can never be served nor confuse a later replay. An all-zero record
//! header ends it quietly: that is the unused rest of a preallocated file
//! (whatever follows it was never acknowledged, since every acknowledged
//! byte precedes the fsync that covered it). Applying records is
//! idempotent (the cache is keyed by ledger and entry; fence and master key
//! are set-once), so replaying the same range twice gives the same state.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

use super::files::{journal_file_path, list_journal_files};
use super::JournalPosition;
use crate::server::record::Record;

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    pub records: u64,
    pub dropped_bytes: u64,
    /// Id for the next journal file: greater than every existing one.
    pub next_file_id: u64,
}

/// Replays every journal file under `dir` from `mark` on, calling `apply`
/// for each good record in journal order.
pub fn replay_journal(
    dir: &Path,
    mark: JournalPosition,
    max_body_len: usize,
    mut apply: impl FnMut(Record),
) -> io::Result<ReplaySummary> {
    let ids = list_journal_files(dir)?;
    let mut summary = ReplaySummary {
        next_file_id: mark.file_id + 1,
        ..ReplaySummary::default()
    };
    for id in ids {
        summary.next_file_id = summary.next_file_id.max(id + 1);
        if id < mark.file_id {
            continue;
        }
        let start = if id == mark.file_id { mark.offset } else { 0 };
        let path = journal_file_path(dir, id);
        let outcome =
            crate::server::record::scan_records(&path, start, max_body_len, |record, _| {
                summary.records += 1;
                apply(record);
            })?;
        if outcome.zero_filled {
            tracing::debug!(
                file = %path.display(),
                offset = outcome.valid_end,
                "journal file ends in preallocated space"
            );
        } else if outcome.dropped_bytes > 0 {
            tracing::warn!(
                file = %path.display(),
                offset = outcome.valid_end,
                bytes = outcome.dropped_bytes,
                reason = %outcome.reason.as_ref().map(ToString::to_string).unwrap_or_default(),
                "dropping torn or corrupt journal tail"
            );
            let file = OpenOptions::new().write(true).open(&path)?;
            file.set_len(outcome.valid_end)?;
            file.sync_all()?;
            summary.dropped_bytes += outcome.dropped_bytes;
        }
    }
    Ok(summary)
}
