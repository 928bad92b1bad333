//! Fragments: the part of one segment that one ensemble member should hold
//! and does not — because the bookie is lost, or because the segment records
//! its index as a hole (the writer went on without it).
//!
//! A segment's ensemble stores entries `[first, last]`, where `last` is the
//! entry before the next segment (or the ledger's last entry once closed;
//! the last segment of a ledger that is not closed has no known end). With
//! striping, the bookie at ensemble index `k` holds entry `e` iff
//! `k ∈ {(e + i) mod E : i < Qw}`; those are the entries to copy. Any other
//! member of the entry's write set that is neither a hole nor lost holds a
//! copy. Segments are identified by `first_entry_id`: a writer marking a
//! hole may split a segment, which shifts the positions of later ones.

use std::collections::BTreeSet;

use crate::client::write_set::Quorum;
use crate::client::{BookieId, LedgerMetadata, LedgerState, Segment};
use crate::ledger::EntryId;

/// Why a fragment's entries are missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentKind {
    /// The bookie at `index` is lost.
    Lost,
    /// `index` is a hole of the segment: its bookie never got the entries.
    Hole,
}

/// The entries of one segment that the bookie at one ensemble index lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub kind: FragmentKind,
    /// Position of the segment in the ledger's `segments` when computed.
    pub segment_index: usize,
    /// Identifies the segment.
    pub first_entry: EntryId,
    /// Inclusive; `None` for the last segment of a ledger not yet closed.
    pub last_entry: Option<EntryId>,
    /// The segment's ensemble.
    pub ensemble: Vec<BookieId>,
    /// The segment's holes (ensemble indices).
    pub holes: Vec<usize>,
    /// Index in `ensemble` of the bookie that lacks the entries.
    pub index: usize,
}

impl Fragment {
    /// The bookie named at `index`: the lost one, or a hole's original.
    pub fn bookie(&self) -> &str {
        self.ensemble
            .get(self.index)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Whether every entry of the fragment is known (not an open tail).
    pub fn is_complete(&self) -> bool {
        self.last_entry.is_some()
    }

    /// The entries the bookie at `index` should hold (none for an open tail).
    pub fn entries(&self, quorum: Quorum) -> impl Iterator<Item = EntryId> + '_ {
        let last = self.last_entry.unwrap_or(self.first_entry - 1);
        (self.first_entry..=last).filter(move |entry| quorum.holds(self.index, *entry))
    }

    /// Members of `entry`'s write set that may serve a copy: neither holes
    /// nor lost.
    pub fn sources(&self, quorum: Quorum, entry: EntryId, lost: &BTreeSet<BookieId>) -> Vec<&str> {
        quorum
            .live_write_set(entry, &self.holes)
            .into_iter()
            .filter_map(|index| self.ensemble.get(index))
            .filter(|bookie| !lost.contains(*bookie))
            .map(String::as_str)
            .collect()
    }
}

/// The last entry of the segment at `position`: the one before the next
/// segment, or the ledger's last entry once closed; `None` for the last
/// segment of a ledger that is not closed (or a position out of range).
pub fn segment_end(metadata: &LedgerMetadata, position: usize) -> Option<EntryId> {
    let segments = &metadata.segments;
    if position >= segments.len() {
        return None;
    }
    match segments.get(position + 1) {
        Some(next) => Some(next.first_entry_id - 1),
        None if metadata.state == LedgerState::Closed => Some(metadata.last_entry_id),
        None => None,
    }
}

/// Every fragment of `metadata` held by a bookie in `lost`, in segment order.
/// Hole indices are skipped: their bookie holds nothing to lose (see
/// [`hole_fragments`]).
pub fn lost_fragments(metadata: &LedgerMetadata, lost: &BTreeSet<BookieId>) -> Vec<Fragment> {
    fragments(metadata, FragmentKind::Lost, |segment, index, bookie| {
        lost.contains(bookie) && !segment.is_hole(index)
    })
}

/// One fragment per hole of every segment, in segment order.
pub fn hole_fragments(metadata: &LedgerMetadata) -> Vec<Fragment> {
    fragments(metadata, FragmentKind::Hole, |segment, index, _| {
        segment.is_hole(index)
    })
}

fn fragments(
    metadata: &LedgerMetadata,
    kind: FragmentKind,
    wanted: impl Fn(&Segment, usize, &str) -> bool,
) -> Vec<Fragment> {
    let mut fragments = Vec::new();
    for (segment_index, segment) in metadata.segments.iter().enumerate() {
        let last_entry = segment_end(metadata, segment_index);
        for (index, bookie) in segment.ensemble.iter().enumerate() {
            if wanted(segment, index, bookie) {
                fragments.push(Fragment {
                    kind,
                    segment_index,
                    first_entry: segment.first_entry_id,
                    last_entry,
                    ensemble: segment.ensemble.clone(),
                    holes: segment.hole_indices(),
                    index,
                });
            }
        }
    }
    fragments
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;

    use super::*;
    use crate::ledger::LedgerOptions;

    fn set(ids: &[&str]) -> BTreeSet<BookieId> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    fn ledger(
        quorum: (u32, u32, u32),
        segments: &[(EntryId, &[&str])],
        closed_at: Option<EntryId>,
    ) -> LedgerMetadata {
        let options = LedgerOptions {
            ensemble_size: quorum.0,
            write_quorum: quorum.1,
            ack_quorum: quorum.2,
            password: Bytes::from_static(b"pw"),
            custom: BTreeMap::new(),
        };
        let mut metadata = LedgerMetadata::new_open(&options, vec![]);
        metadata.segments = segments
            .iter()
            .map(|(first, ensemble)| {
                Segment::new(*first, ensemble.iter().map(|b| b.to_string()).collect())
            })
            .collect();
        if let Some(last) = closed_at {
            metadata.state = LedgerState::Closed;
            metadata.last_entry_id = last;
        }
        metadata
    }

    #[test]
    fn a_striped_bookie_held_only_its_write_sets() {
        // E=3, Qw=2: e0→{0,1}, e1→{1,2}, e2→{2,0}. Bookie b (index 1) holds e ≡ 0, 1 (mod 3).
        let metadata = ledger((3, 2, 2), &[(0, &["a", "b", "c"])], Some(9));
        let fragments = lost_fragments(&metadata, &set(&["b"]));
        assert_eq!(fragments.len(), 1);
        let fragment = &fragments[0];
        assert_eq!((fragment.bookie(), fragment.last_entry), ("b", Some(9)));
        let held: Vec<EntryId> = fragment.entries(metadata.quorum()).collect();
        assert_eq!(held, vec![0, 1, 3, 4, 6, 7, 9]);
        let lost = set(&["b"]);
        assert_eq!(fragment.sources(metadata.quorum(), 0, &lost), vec!["a"]);
        assert_eq!(fragment.sources(metadata.quorum(), 1, &lost), vec!["c"]);
    }

    #[test]
    fn without_striping_a_bookie_held_every_entry() {
        let metadata = ledger((3, 3, 2), &[(0, &["a", "b", "c"])], Some(4));
        let fragments = lost_fragments(&metadata, &set(&["c"]));
        let held: Vec<EntryId> = fragments[0].entries(metadata.quorum()).collect();
        assert_eq!(held, vec![0, 1, 2, 3, 4]);
        assert_eq!(
            fragments[0].sources(metadata.quorum(), 2, &set(&["c"])),
            vec!["a", "b"]
        );
    }

    #[test]
    fn segments_bound_fragments_and_an_open_tail_has_no_end() {
        let segments: &[(EntryId, &[&str])] =
            &[(0, &["a", "b"]), (5, &["c", "b"]), (8, &["c", "d"])];
        let open = ledger((2, 2, 2), segments, None);
        let fragments = lost_fragments(&open, &set(&["b", "c"]));
        let ranges: Vec<_> = fragments
            .iter()
            .map(|f| (f.segment_index, f.bookie(), f.first_entry, f.last_entry))
            .collect();
        assert_eq!(
            ranges,
            vec![
                (0, "b", 0, Some(4)),
                (1, "c", 5, Some(7)),
                (1, "b", 5, Some(7)),
                (2, "c", 8, None),
            ]
        );
        assert!(!fragments[3].is_complete());
        assert_eq!(fragments[3].entries(open.quorum()).count(), 0);

        let closed = ledger((2, 2, 2), segments, Some(8));
        let tail = lost_fragments(&closed, &set(&["d"]));
        assert_eq!(tail[0].last_entry, Some(8));
        assert_eq!(
            tail[0].entries(closed.quorum()).collect::<Vec<_>>(),
            vec![8]
        );
    }

    #[test]
    fn an_empty_segment_has_nothing_to_copy() {
        let metadata = ledger((2, 2, 1), &[(0, &["a", "b"]), (3, &["a", "c"])], Some(2));
        let fragments = lost_fragments(&metadata, &set(&["c"]));
        assert_eq!(fragments[0].last_entry, Some(2));
        assert_eq!(fragments[0].entries(metadata.quorum()).count(), 0);
    }

    #[test]
    fn holes_are_not_lost_and_sources_skip_them() {
        // 3/3/2, a hole at index 2 (bookie c) in the second segment.
        let mut metadata = ledger(
            (3, 3, 2),
            &[(0, &["a", "b", "c"]), (5, &["a", "b", "c"])],
            Some(9),
        );
        metadata.segments[1].holes = vec![2];
        let lost = lost_fragments(&metadata, &set(&["c"]));
        assert_eq!(lost.len(), 1, "c lost only what it held: {lost:?}");
        assert_eq!((lost[0].first_entry, lost[0].last_entry), (0, Some(4)));

        let lost_a = lost_fragments(&metadata, &set(&["a"]));
        let second = &lost_a[1];
        assert_eq!(second.first_entry, 5);
        assert_eq!(
            second.sources(metadata.quorum(), 6, &set(&["a"])),
            vec!["b"],
            "the hole c is no source"
        );
    }

    #[test]
    fn hole_fragments_follow_striping_and_completeness() {
        // E=3, Qw=2: index 0 holds e with e mod 3 ∈ {0, 2}.
        let segments: &[(EntryId, &[&str])] = &[(0, &["a", "b", "c"]), (6, &["a", "b", "c"])];
        let mut open = ledger((3, 2, 1), segments, None);
        open.segments[0].holes = vec![0];
        open.segments[1].holes = vec![2];
        assert_eq!(open.hole_violation(), None);
        let fragments = hole_fragments(&open);
        let shape: Vec<_> = fragments
            .iter()
            .map(|f| (f.kind, f.first_entry, f.last_entry, f.index, f.bookie()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (FragmentKind::Hole, 0, Some(5), 0, "a"),
                (FragmentKind::Hole, 6, None, 2, "c"),
            ]
        );
        let quorum = open.quorum();
        let first = &fragments[0];
        assert_eq!(first.entries(quorum).collect::<Vec<_>>(), vec![0, 2, 3, 5]);
        // e0 → {0, 1}: only b may serve it; e2 → {2, 0}: only c.
        let nothing_lost = BTreeSet::new();
        assert_eq!(first.sources(quorum, 0, &nothing_lost), vec!["b"]);
        assert_eq!(first.sources(quorum, 2, &nothing_lost), vec!["c"]);
        assert_eq!(first.sources(quorum, 2, &set(&["c"])), Vec::<&str>::new());
        assert!(!fragments[1].is_complete(), "the open tail is the writer's");
        assert_eq!(fragments[1].entries(quorum).count(), 0);

        let mut closed = open.clone();
        closed.state = LedgerState::Closed;
        closed.last_entry_id = 7;
        let tail: Vec<_> = hole_fragments(&closed)
            .into_iter()
            .filter(|f| f.first_entry == 6)
            .map(|f| (f.index, f.entries(quorum).collect::<Vec<_>>()))
            .collect();
        // e6 → {0, 1}, e7 → {1, 2}: the hole at 2 misses only e7.
        assert_eq!(tail, vec![(2, vec![7])]);
        assert!(hole_fragments(&ledger((3, 2, 1), segments, Some(7))).is_empty());
    }

    #[test]
    fn segment_end_is_known_before_the_open_tail() {
        let segments: &[(EntryId, &[&str])] = &[(0, &["a", "b"]), (4, &["a", "c"])];
        let open = ledger((2, 2, 1), segments, None);
        assert_eq!(segment_end(&open, 0), Some(3));
        assert_eq!(segment_end(&open, 1), None);
        assert_eq!(segment_end(&open, 2), None);
        let closed = ledger((2, 2, 1), segments, Some(10));
        assert_eq!(segment_end(&closed, 1), Some(10));
    }
}
