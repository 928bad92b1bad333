//! Fragments: the part of one segment a lost bookie was responsible for.
//!
//! A segment's ensemble stores entries `[first, last]`, where `last` is the
//! entry before the next segment (or the ledger's last entry once closed;
//! the last segment of a ledger that is not closed has no known end). With
//! striping, the bookie at ensemble index `k` holds entry `e` iff
//! `k ∈ {(e + i) mod E : i < Qw}`; those are the entries to copy. Any other
//! member of the entry's write set that is still alive holds a copy.

use std::collections::BTreeSet;

use crate::client::write_set::Quorum;
use crate::client::{BookieId, LedgerMetadata, LedgerState};
use crate::ledger::EntryId;

/// The entries of one segment that one lost bookie held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Position of the segment in the ledger's `segments`.
    pub segment_index: usize,
    pub first_entry: EntryId,
    /// Inclusive; `None` for the last segment of a ledger not yet closed.
    pub last_entry: Option<EntryId>,
    /// The segment's ensemble.
    pub ensemble: Vec<BookieId>,
    /// Index of the lost bookie in `ensemble`.
    pub lost_index: usize,
}

impl Fragment {
    pub fn lost_bookie(&self) -> &str {
        self.ensemble
            .get(self.lost_index)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Whether every entry of the fragment is known (not an open tail).
    pub fn is_complete(&self) -> bool {
        self.last_entry.is_some()
    }

    /// The entries the lost bookie held (none for an open tail).
    pub fn entries(&self, quorum: Quorum) -> impl Iterator<Item = EntryId> + '_ {
        let last = self.last_entry.unwrap_or(self.first_entry - 1);
        (self.first_entry..=last).filter(move |entry| quorum.holds(self.lost_index, *entry))
    }

    /// Members of `entry`'s write set that may serve a copy: not lost.
    pub fn sources(&self, quorum: Quorum, entry: EntryId, lost: &BTreeSet<BookieId>) -> Vec<&str> {
        quorum
            .write_set(entry)
            .into_iter()
            .filter_map(|index| self.ensemble.get(index))
            .filter(|bookie| !lost.contains(*bookie))
            .map(String::as_str)
            .collect()
    }
}

/// Every fragment of `metadata` held by a bookie in `lost`, in segment order.
pub fn lost_fragments(metadata: &LedgerMetadata, lost: &BTreeSet<BookieId>) -> Vec<Fragment> {
    let segments = &metadata.segments;
    let mut fragments = Vec::new();
    for (segment_index, segment) in segments.iter().enumerate() {
        let last_entry = match segments.get(segment_index + 1) {
            Some(next) => Some(next.first_entry_id - 1),
            None if metadata.state == LedgerState::Closed => Some(metadata.last_entry_id),
            None => None,
        };
        for (lost_index, bookie) in segment.ensemble.iter().enumerate() {
            if lost.contains(bookie) {
                fragments.push(Fragment {
                    segment_index,
                    first_entry: segment.first_entry_id,
                    last_entry,
                    ensemble: segment.ensemble.clone(),
                    lost_index,
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
    use crate::client::Segment;
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
        assert_eq!(
            (fragment.lost_bookie(), fragment.last_entry),
            ("b", Some(9))
        );
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
            .map(|f| {
                (
                    f.segment_index,
                    f.lost_bookie(),
                    f.first_entry,
                    f.last_entry,
                )
            })
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
}
