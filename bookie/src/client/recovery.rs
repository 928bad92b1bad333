//! Ledger recovery: how a new owner takes a ledger away from its writer and
//! closes it at a last entry every reader will agree on.
//!
//! 1. CAS the metadata `OPEN → IN_RECOVERY`. From now on the old writer's
//!    ensemble changes fail (they require `OPEN`).
//! 2. Fence: a fencing `ReadEntry(-1)` with the master key to every bookie of
//!    the last ensemble's live members (holes are never written, so they
//!    need no fence), until each write set has `live - Qa + 1` definitive
//!    answers. No write set then holds `Qa` unfenced live bookies, so the old
//!    writer can never complete another add.
//! 3. Start from `LAC0 = max(highest LAC in the last entries' headers, first
//!    entry of the last segment - 1)`; every entry up to `LAC0` was confirmed.
//! 4. Read forward from `LAC0 + 1`, asking each entry's whole write set:
//!    found → re-add the body verbatim with `RECOVERY | HIGH_PRIORITY` to its
//!    live write set (`Qa` acks; idempotent, so concurrent recoverers do not
//!    conflict); `live - Qa + 1` "no entry" → end of the ledger; anything
//!    else → recovery fails and can be retried.
//! 5. Once every re-add is acked, CAS `IN_RECOVERY → CLOSED` at the last
//!    re-added entry (with any local ensemble change). A recoverer losing
//!    that CAS to another one accepts the `CLOSED` state it finds.
//!
//! Only segments from the last one on are recovery's to write: a replication
//! worker may rewrite earlier, complete segments while recovery runs, and
//! the close keeps those changes.
//!
//! Every entry ever confirmed to the old writer is on `Qa` live bookies of
//! its write set, so at most `live - Qa` of them can say "no entry":
//! recovery never ends before it.

use bytes::Bytes;

use crate::client::metadata::{CasStep, LedgerState, Segment, VersionedMetadata};
use crate::client::read::{self, ReadContext};
use crate::client::write_core::{CoreContext, WriteMode, WriterCore};
use crate::digest;
use crate::ledger::{EntryId, LedgerError, LedgerId, RecoveryFault};

/// Recovers and closes `ledger_id` (a no-op when already closed); returns the
/// closed metadata. The caller has checked the password.
pub async fn recover_ledger(
    core_context: &CoreContext,
    read_context: &ReadContext,
    ledger_id: LedgerId,
    password: &Bytes,
) -> Result<VersionedMetadata, LedgerError> {
    let store = &core_context.metadata_store;
    let current = store.read(ledger_id).await?;
    let current = store
        .update(ledger_id, current, |metadata| match metadata.state {
            LedgerState::Open => {
                let mut next = metadata.clone();
                next.state = LedgerState::InRecovery;
                Ok(CasStep::Write(next))
            }
            LedgerState::InRecovery | LedgerState::Closed => Ok(CasStep::Done),
        })
        .await?;
    if current.metadata.state == LedgerState::Closed {
        return Ok(current);
    }
    let metadata = current.metadata.clone();
    let master_key = digest::master_key(password);

    let reported_lac =
        read::read_last_entries(read_context, ledger_id, &metadata, Some(master_key.clone()))
            .await?;
    let start_lac = reported_lac.max(metadata.last_segment_first_entry() - 1);
    let start_length = if start_lac >= 0 {
        read::read_entry(read_context, ledger_id, &metadata, start_lac)
            .await?
            .decoded
            .length
            .max(0) as u64
    } else {
        0
    };
    tracing::info!(ledger_id, start_lac, start_length, "recovering ledger");

    let mut core = WriterCore::new(
        ledger_id,
        WriteMode::Recovery,
        core_context.clone(),
        master_key,
        current,
        start_lac,
        start_length,
    );
    let mut next: EntryId = start_lac + 1;
    loop {
        let found = {
            let read = read::read_for_recovery(read_context, ledger_id, &metadata, next);
            tokio::pin!(read);
            loop {
                tokio::select! {
                    found = &mut read => break found?,
                    outcome = core.next_outcome() => core.handle_outcome(outcome).await,
                }
                if let Some(error) = core.failure() {
                    return Err(error.clone());
                }
            }
        };
        let Some(entry) = found else { break };
        core.push_body(next, entry.body, entry.decoded.length.max(0) as u64)?;
        next += 1;
    }
    core.drain().await?;

    let progress = core.progress();
    let (last_entry_id, length) = (progress.lac(), progress.length());
    let recovered_from = metadata.last_segment_first_entry();
    let recovered_segments = core.metadata().metadata.segments.clone();
    let closed = store
        .update(ledger_id, core.metadata().clone(), |stored| {
            match stored.state {
                LedgerState::InRecovery => {
                    let mut next = stored.clone();
                    next.state = LedgerState::Closed;
                    next.last_entry_id = last_entry_id;
                    next.length = length;
                    next.segments =
                        segments_at_close(&stored.segments, &recovered_segments, recovered_from);
                    Ok(CasStep::Write(next))
                }
                LedgerState::Closed => Ok(CasStep::Done),
                LedgerState::Open => Err(LedgerError::RecoveryFailed {
                    ledger_id,
                    fault: RecoveryFault::Reopened,
                }),
            }
        })
        .await?;
    tracing::info!(
        ledger_id,
        last_entry_id = closed.metadata.last_entry_id,
        length = closed.metadata.length,
        "ledger recovered and closed"
    );
    Ok(closed)
}

/// The segments written at close: the stored ones before the segment
/// recovery started in (a replication worker may have changed them
/// meanwhile), then recovery's own view from there on (with its local
/// ensemble changes).
fn segments_at_close(
    stored: &[Segment],
    recovered: &[Segment],
    recovered_from: EntryId,
) -> Vec<Segment> {
    stored
        .iter()
        .filter(|segment| segment.first_entry_id < recovered_from)
        .chain(
            recovered
                .iter()
                .filter(|segment| segment.first_entry_id >= recovered_from),
        )
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(first_entry_id: EntryId, ensemble: &[&str]) -> Segment {
        Segment::new(
            first_entry_id,
            ensemble.iter().map(|b| b.to_string()).collect(),
        )
    }

    #[test]
    fn close_keeps_rereplicated_earlier_segments_and_recovery_changes() {
        // A worker replaced `x` by `d` in the first segment while recovery,
        // starting in the segment at 10, replaced `c` from entry 12 on.
        let stored = [segment(0, &["a", "d"]), segment(10, &["b", "c"])];
        let recovered = [
            segment(0, &["a", "x"]),
            segment(10, &["b", "c"]),
            segment(12, &["b", "e"]),
        ];
        assert_eq!(
            segments_at_close(&stored, &recovered, 10),
            vec![
                segment(0, &["a", "d"]),
                segment(10, &["b", "c"]),
                segment(12, &["b", "e"])
            ]
        );
    }
}
