//! The metadata side of an ensemble change, as pure functions: how the
//! segments change when the writer replaces a failed bookie, leaves a hole
//! where it had none to replace it with, or fills a hole again.
//!
//! Rules (see docs/bookie.md, "Ensemble changes"):
//! - A replacement or a fill starts a segment at `LAC + 1`: entries up to
//!   the LAC are confirmed where the metadata already says, and every later
//!   entry is re-sent to the new bookie.
//! - A hole may start below `LAC + 1`: it only withdraws a claim. It starts
//!   at the first entry the failed bookie never acknowledged, so the
//!   metadata never names a bookie as the holder of an entry it lacks. The
//!   entries it withdraws are confirmed by `Qa` other members.
//! - No change may leave a write set with fewer than `Qa` live members.

use crate::client::metadata::{BookieId, LedgerMetadata, Segment};
use crate::ledger::EntryId;

/// Marks ensemble index `index` a hole for every entry from `from` on, in
/// every segment where `bookie` sits at that index, splitting the segment
/// that contains `from`. `None` when a write set would drop below `Qa` live
/// members.
pub fn mark_hole(
    metadata: &LedgerMetadata,
    index: usize,
    bookie: &str,
    from: EntryId,
) -> Option<LedgerMetadata> {
    let quorum = metadata.quorum();
    let mut segments = Vec::with_capacity(metadata.segments.len() + 1);
    for (position, segment) in metadata.segments.iter().enumerate() {
        let end = metadata
            .segments
            .get(position + 1)
            .map(|next| next.first_entry_id);
        let affected = segment.ensemble.get(index).map(String::as_str) == Some(bookie)
            && !segment.is_hole(index)
            && end.is_none_or(|end| end > from);
        if !affected {
            segments.push(segment.clone());
            continue;
        }
        if segment.first_entry_id < from {
            segments.push(segment.clone());
        }
        let mut holed = segment.clone();
        holed.first_entry_id = holed.first_entry_id.max(from);
        holed.holes.push(index as u32);
        holed.holes.sort_unstable();
        if !quorum.tolerates(&holed.hole_indices()) {
            return None;
        }
        segments.push(holed);
    }
    let mut next = metadata.clone();
    next.segments = segments;
    Some(next)
}

/// Puts `bookie` at `index` for entries from `first_entry` on (a replacement
/// of a failed bookie, or the fill of a hole), keeping the last segment's
/// other holes.
pub fn install_bookie(
    metadata: &LedgerMetadata,
    index: usize,
    bookie: &BookieId,
    first_entry: EntryId,
) -> LedgerMetadata {
    let mut next = metadata.clone();
    let last = metadata.segments.last().cloned().unwrap_or_else(|| {
        Segment::new(
            first_entry,
            vec![String::new(); metadata.ensemble_size as usize],
        )
    });
    let mut ensemble = last.ensemble;
    if let Some(slot) = ensemble.get_mut(index) {
        *slot = bookie.clone();
    }
    let holes = last
        .holes
        .into_iter()
        .filter(|&hole| hole as usize != index)
        .collect();
    next.set_ensemble_from(first_entry, ensemble, holes);
    next
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;
    use rand::Rng;

    use super::*;
    use crate::ledger::LedgerOptions;

    fn metadata(quorum: (u32, u32, u32), ensemble: &[&str]) -> LedgerMetadata {
        let options = LedgerOptions {
            ensemble_size: quorum.0,
            write_quorum: quorum.1,
            ack_quorum: quorum.2,
            password: Bytes::from_static(b"pw"),
            custom: BTreeMap::new(),
        };
        LedgerMetadata::new_open(&options, ensemble.iter().map(|b| b.to_string()).collect())
    }

    /// Which bookies the metadata names as holders of `entry`.
    fn holders(metadata: &LedgerMetadata, entry: EntryId) -> Vec<String> {
        let ensemble = metadata.ensemble_for(entry);
        metadata
            .live_write_set(entry)
            .into_iter()
            .map(|index| ensemble[index].clone())
            .collect()
    }

    #[test]
    fn a_hole_splits_the_segment_where_the_bookie_stopped() {
        let start = metadata((3, 3, 2), &["a", "b", "c"]);
        let holed = mark_hole(&start, 2, "c", 7).unwrap();
        assert_eq!(holed.segments.len(), 2);
        assert_eq!(holed.segments[1].first_entry_id, 7);
        assert_eq!(holed.segments[1].holes, vec![2]);
        assert_eq!(holders(&holed, 6), ["a", "b", "c"]);
        assert_eq!(holders(&holed, 7).len(), 2);
        assert!(holed.hole_violation().is_none());
        // A second live member lost: 3/3/2 cannot go on with one.
        assert!(mark_hole(&holed, 0, "a", 9).is_none());
    }

    #[test]
    fn a_hole_reaches_back_into_earlier_segments_of_the_same_bookie() {
        let mut start = metadata((3, 3, 2), &["a", "b", "c"]);
        start = install_bookie(&start, 0, &"d".to_string(), 5);
        let holed = mark_hole(&start, 2, "c", 3).unwrap();
        let firsts: Vec<_> = holed.segments.iter().map(|s| s.first_entry_id).collect();
        assert_eq!(firsts, vec![0, 3, 5]);
        assert_eq!(holed.segments[1].holes, vec![2]);
        assert_eq!(holed.segments[2].holes, vec![2]);
        assert_eq!(holders(&holed, 2), ["c", "a", "b"]);
        assert_eq!(holders(&holed, 4), ["b", "a"]);
    }

    #[test]
    fn a_fill_keeps_other_holes_and_starts_at_the_given_entry() {
        // 6/3/2: holes three apart never share a write set.
        let start = metadata((6, 3, 2), &["a", "b", "c", "d", "e", "f"]);
        let holed = mark_hole(&start, 1, "b", 0).unwrap();
        let holed = mark_hole(&holed, 4, "e", 4).unwrap();
        assert!(
            mark_hole(&holed, 2, "c", 6).is_none(),
            "set {{1,2,3}} would keep one"
        );
        let filled = install_bookie(&holed, 1, &"b".to_string(), 10);
        let last = filled.segments.last().unwrap();
        assert_eq!(last.first_entry_id, 10);
        assert_eq!(last.holes, vec![4]);
        assert_eq!(last.ensemble[1], "b");
        // In place when the last segment starts there.
        let again = install_bookie(&filled, 4, &"g".to_string(), 10);
        assert_eq!(again.segments.len(), filled.segments.len());
        assert!(again.segments.last().unwrap().holes.is_empty());
    }

    /// Random holes and fills: segments stay ordered, every write set keeps
    /// `Qa` named holders, and a hole never adds a holder to any entry.
    #[test]
    fn random_changes_only_withdraw_claims_below_the_change_point() {
        let mut rng = rand::thread_rng();
        for _ in 0..300 {
            let ensemble_size = rng.gen_range(2..6u32);
            let write = rng.gen_range(1..=ensemble_size);
            let ack = rng.gen_range(1..=write);
            let names: Vec<String> = (0..ensemble_size).map(|i| format!("b{i}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut current = metadata((ensemble_size, write, ack), &refs);
            let mut lac: EntryId = -1;
            let mut spare = 0;
            for _ in 0..8 {
                lac += rng.gen_range(0..5);
                let index = rng.gen_range(0..ensemble_size as usize);
                let bookie = current.last_ensemble()[index].clone();
                let before = current.clone();
                if rng.gen_bool(0.5) {
                    let from = rng.gen_range(before.last_segment_first_entry()..=lac + 1);
                    let Some(next) = mark_hole(&before, index, &bookie, from) else {
                        continue;
                    };
                    for entry in 0..lac + 10 {
                        let after = holders(&next, entry);
                        assert!(after.iter().all(|b| holders(&before, entry).contains(b)));
                        if entry < from {
                            assert_eq!(after, holders(&before, entry), "entry {entry} < {from}");
                        }
                    }
                    current = next;
                } else {
                    spare += 1;
                    let first = lac + 1;
                    let next = install_bookie(&before, index, &format!("s{spare}"), first);
                    for entry in 0..first {
                        assert_eq!(holders(&next, entry), holders(&before, entry));
                    }
                    current = next;
                }
                assert!(current
                    .segments
                    .windows(2)
                    .all(|pair| pair[0].first_entry_id < pair[1].first_entry_id));
                assert!(current.hole_violation().is_none());
            }
        }
    }
}
