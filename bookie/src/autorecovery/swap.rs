//! The metadata change that ends a fragment's re-replication, after every
//! entry was copied to the target (see [`super::copy`]):
//!
//! - [`swap_bookie`]: a lost bookie is replaced by the target;
//! - [`fill_hole`]: the target takes the hole's index (often the hole's
//!   original bookie, back again) and the index stops being a hole.
//!
//! Both are CAS loops whose step is a pure decision ([`swap_decision`],
//! [`fill_decision`]). The segment is looked up by its first entry, and only
//! if its last entry is known and not later than when the copy was planned:
//! the last segment of a ledger that is not closed is never touched (its
//! writer owns it), and a segment shortened by a later split is fine (the
//! target holds a superset). Anything else that changed makes the step fail
//! with `MetadataChanged`; the caller re-reads and plans again.

use super::error::AutoRecoveryError;
use super::fragment::{segment_end, Fragment};
use crate::client::metadata::{CasStep, LedgerMetadataStore, VersionedMetadata};
use crate::client::LedgerMetadata;
use crate::ledger::LedgerId;

/// What a CAS step decides for one fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write this metadata.
    Write(LedgerMetadata),
    /// The metadata already names the target.
    AlreadyDone,
    /// The segment is no longer as planned.
    Changed,
}

/// Position of the fragment's segment, if it is still there with a known
/// end no later than the fragment's.
fn locate(metadata: &LedgerMetadata, fragment: &Fragment) -> Option<usize> {
    let position = metadata
        .segments
        .iter()
        .position(|segment| segment.first_entry_id == fragment.first_entry)?;
    let end = segment_end(metadata, position)?;
    let copied = fragment.last_entry?;
    (end <= copied).then_some(position)
}

/// Replaces the lost bookie at the fragment's index by `replacement`.
pub fn swap_decision(
    metadata: &LedgerMetadata,
    fragment: &Fragment,
    replacement: &str,
) -> Decision {
    let Some(position) = locate(metadata, fragment) else {
        return Decision::Changed;
    };
    let segment = &metadata.segments[position];
    let elsewhere = segment.ensemble.iter().any(|bookie| bookie == replacement);
    match segment.ensemble.get(fragment.index) {
        Some(bookie) if bookie == fragment.bookie() && !elsewhere => {
            let mut next = metadata.clone();
            next.segments[position].ensemble[fragment.index] = replacement.to_string();
            Decision::Write(next)
        }
        Some(bookie) if bookie == replacement => Decision::AlreadyDone,
        _ => Decision::Changed,
    }
}

/// Puts `target` at the hole's index and removes the hole, if the index is
/// still a hole naming the same bookie.
pub fn fill_decision(metadata: &LedgerMetadata, fragment: &Fragment, target: &str) -> Decision {
    let Some(position) = locate(metadata, fragment) else {
        return Decision::Changed;
    };
    let segment = &metadata.segments[position];
    let index = fragment.index;
    let elsewhere = segment
        .ensemble
        .iter()
        .enumerate()
        .any(|(other, bookie)| other != index && bookie == target);
    let holder = segment.ensemble.get(index);
    if segment.is_hole(index) && holder.is_some_and(|b| b == fragment.bookie()) && !elsewhere {
        let mut next = metadata.clone();
        let filled = &mut next.segments[position];
        filled.ensemble[index] = target.to_string();
        filled.holes.retain(|&hole| hole as usize != index);
        Decision::Write(next)
    } else if !segment.is_hole(index) && holder.is_some_and(|b| b == target) {
        Decision::AlreadyDone
    } else {
        Decision::Changed
    }
}

async fn apply(
    store: &LedgerMetadataStore,
    ledger_id: LedgerId,
    current: VersionedMetadata,
    decide: impl Fn(&LedgerMetadata) -> Decision,
) -> Result<VersionedMetadata, AutoRecoveryError> {
    let mut changed = false;
    let updated = store
        .update(ledger_id, current, |metadata| {
            Ok(match decide(metadata) {
                Decision::Write(next) => CasStep::Write(next),
                Decision::AlreadyDone => CasStep::Done,
                Decision::Changed => {
                    changed = true;
                    CasStep::Done
                }
            })
        })
        .await?;
    if changed {
        return Err(AutoRecoveryError::MetadataChanged(ledger_id));
    }
    Ok(updated)
}

/// Replaces the lost bookie of `fragment` by `replacement` in the stored
/// metadata (CAS).
pub async fn swap_bookie(
    store: &LedgerMetadataStore,
    ledger_id: LedgerId,
    current: VersionedMetadata,
    fragment: &Fragment,
    replacement: &str,
) -> Result<VersionedMetadata, AutoRecoveryError> {
    apply(store, ledger_id, current, |metadata| {
        swap_decision(metadata, fragment, replacement)
    })
    .await
}

/// Fills the hole of `fragment` with `target` in the stored metadata (CAS).
pub async fn fill_hole(
    store: &LedgerMetadataStore,
    ledger_id: LedgerId,
    current: VersionedMetadata,
    fragment: &Fragment,
    target: &str,
) -> Result<VersionedMetadata, AutoRecoveryError> {
    apply(store, ledger_id, current, |metadata| {
        fill_decision(metadata, fragment, target)
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use bytes::Bytes;

    use super::*;
    use crate::autorecovery::fragment::{hole_fragments, lost_fragments};
    use crate::client::{LedgerState, Segment};
    use crate::ledger::LedgerOptions;

    /// 3/3/2 over a, b, c: segment 0..4 with hole 2, segment 5.. with hole 1.
    fn holed(closed_at: Option<i64>) -> LedgerMetadata {
        let options = LedgerOptions {
            ensemble_size: 3,
            write_quorum: 3,
            ack_quorum: 2,
            password: Bytes::from_static(b"pw"),
            custom: BTreeMap::new(),
        };
        let mut metadata = LedgerMetadata::new_open(&options, vec![]);
        let ensemble: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        metadata.segments = vec![
            Segment {
                first_entry_id: 0,
                ensemble: ensemble.clone(),
                holes: vec![2],
            },
            Segment {
                first_entry_id: 5,
                ensemble,
                holes: vec![1],
            },
        ];
        if let Some(last) = closed_at {
            metadata.state = LedgerState::Closed;
            metadata.last_entry_id = last;
        }
        metadata
    }

    #[test]
    fn a_fill_names_the_target_and_removes_only_that_hole() {
        let metadata = holed(None);
        let fragment = &hole_fragments(&metadata)[0];
        let Decision::Write(next) = fill_decision(&metadata, fragment, "c") else {
            panic!("the original bookie fills its hole");
        };
        assert!(next.segments[0].holes.is_empty());
        assert_eq!(next.segments[0].ensemble, ["a", "b", "c"]);
        assert_eq!(
            next.segments[1].holes,
            vec![1],
            "the open tail is untouched"
        );
        assert_eq!(fill_decision(&next, fragment, "c"), Decision::AlreadyDone);

        let Decision::Write(elsewhere) = fill_decision(&metadata, fragment, "d") else {
            panic!("a spare fills the hole");
        };
        assert_eq!(elsewhere.segments[0].ensemble, ["a", "b", "d"]);
        assert_eq!(
            fill_decision(&metadata, fragment, "a"),
            Decision::Changed,
            "a bookie never appears twice in an ensemble"
        );
    }

    #[test]
    fn the_open_tail_and_moved_segments_are_never_written() {
        let open = holed(None);
        let tail = &hole_fragments(&open)[1];
        assert_eq!(fill_decision(&open, tail, "b"), Decision::Changed);

        let closed = holed(Some(9));
        let tail = &hole_fragments(&closed)[1];
        assert!(matches!(
            fill_decision(&closed, tail, "b"),
            Decision::Write(_)
        ));
        // The ledger grew past the planned end (cannot happen once closed,
        // but the check must hold): refused.
        let mut longer = closed.clone();
        longer.last_entry_id = 12;
        assert_eq!(fill_decision(&longer, tail, "b"), Decision::Changed);
        // A split that shortened the segment is fine: the target holds more.
        let mut split = closed.clone();
        split.segments.push(Segment {
            first_entry_id: 8,
            ensemble: split.segments[1].ensemble.clone(),
            holes: vec![1],
        });
        assert!(matches!(
            fill_decision(&split, tail, "b"),
            Decision::Write(_)
        ));

        // Another bookie took the index: the hole is no longer the one planned.
        let head = &hole_fragments(&closed)[0];
        let mut replaced = closed.clone();
        replaced.segments[0].ensemble[2] = "x".into();
        assert_eq!(fill_decision(&replaced, head, "c"), Decision::Changed);
        // Shifted positions do not matter: segments are found by first entry.
        let mut shifted = closed.clone();
        shifted.segments.insert(
            1,
            Segment {
                first_entry_id: 3,
                ensemble: ["a", "b", "c"].map(String::from).to_vec(),
                holes: vec![2],
            },
        );
        let Decision::Write(next) = fill_decision(&shifted, tail, "b") else {
            panic!("the tail moved to position 2 and is still filled");
        };
        assert!(next.segments[2].holes.is_empty());
        assert_eq!(next.segments[1].holes, vec![2]);
    }

    #[test]
    fn a_swap_replaces_the_lost_bookie_once() {
        let closed = holed(Some(9));
        let lost: BTreeSet<String> = ["a".to_string()].into();
        let fragment = &lost_fragments(&closed, &lost)[1];
        let Decision::Write(next) = swap_decision(&closed, fragment, "d") else {
            panic!("a is replaced");
        };
        assert_eq!(next.segments[1].ensemble, ["d", "b", "c"]);
        assert_eq!(next.segments[1].holes, vec![1], "holes are kept");
        assert_eq!(swap_decision(&next, fragment, "d"), Decision::AlreadyDone);
        assert_eq!(swap_decision(&closed, fragment, "b"), Decision::Changed);
        let open = holed(None);
        let tail = &lost_fragments(&open, &lost)[1];
        assert_eq!(swap_decision(&open, tail, "d"), Decision::Changed);
    }
}
