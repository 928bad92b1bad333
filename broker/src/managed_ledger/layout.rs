//! The in-memory shape of a managed ledger's ledger list, and the mapping
//! between [`Position`]s and dense *offsets*.
//!
//! Why offsets: cursor algebra needs "the successor of a position", and the
//! successor of the last entry of ledger L is the first entry of the next
//! ledger. Giving every retained entry a dense `i64` offset (ledger base +
//! entry id) turns that into `offset + 1`, so the ack state is plain integer
//! range arithmetic. Offsets are an in-memory view only: they are recomputed
//! from the ledger list on every open, and never persisted (persisted state
//! always uses positions). Trimming removes slots from the front but never
//! changes the bases of the ones that remain.

use super::position::Position;

/// One ledger of the list, with its first offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerSlot {
    pub ledger_id: u64,
    /// Offset of entry 0 of this ledger.
    pub base: i64,
    /// Confirmed entries (final for every ledger but the last).
    pub entries: i64,
    /// Confirmed payload bytes.
    pub size: u64,
}

/// Ordered ledgers of one managed ledger; the last one is the current ledger.
#[derive(Debug, Clone, Default)]
pub struct LedgerLayout {
    slots: Vec<LedgerSlot>,
}

impl LedgerLayout {
    /// Builds the layout from `(ledger_id, entries, size)` in list order.
    pub fn from_ledgers(ledgers: impl IntoIterator<Item = (u64, i64, u64)>) -> Self {
        let mut layout = LedgerLayout::default();
        for (ledger_id, entries, size) in ledgers {
            layout.push_ledger(ledger_id);
            if let Some(last) = layout.slots.last_mut() {
                last.entries = entries.max(0);
                last.size = size;
            }
        }
        layout
    }

    pub fn slots(&self) -> &[LedgerSlot] {
        &self.slots
    }

    pub fn current(&self) -> Option<&LedgerSlot> {
        self.slots.last()
    }

    /// Appends a new (empty) current ledger after the existing ones.
    pub fn push_ledger(&mut self, ledger_id: u64) {
        let base = self.slots.last().map_or(0, |s| s.base + s.entries);
        self.slots.push(LedgerSlot {
            ledger_id,
            base,
            entries: 0,
            size: 0,
        });
    }

    /// Records a confirmed entry of the current ledger.
    pub fn record_add(&mut self, entry_id: i64, bytes: u64) {
        if let Some(last) = self.slots.last_mut() {
            last.entries = last.entries.max(entry_id + 1);
            last.size += bytes;
        }
    }

    /// Removes the given ledgers (never the current one).
    pub fn remove_ledgers(&mut self, ids: &[u64]) {
        let current = self.current().map(|s| s.ledger_id);
        self.slots
            .retain(|s| Some(s.ledger_id) == current || !ids.contains(&s.ledger_id));
    }

    /// Offset of the first retained entry (which may not be written yet).
    pub fn first_offset(&self) -> i64 {
        self.slots.first().map_or(0, |s| s.base)
    }

    /// Offset of the last confirmed entry (`first_offset() - 1` when nothing is retained).
    pub fn last_confirmed_offset(&self) -> i64 {
        match self.slots.last() {
            Some(s) => s.base + s.entries - 1,
            None => -1,
        }
    }

    /// Exact offset of a position, `None` if it names no retained or
    /// confirmed entry. `(L, -1)` maps to the offset before L's first entry.
    pub fn offset_of(&self, position: Position) -> Option<i64> {
        let index = self
            .slots
            .binary_search_by_key(&position.ledger_id, |s| s.ledger_id)
            .ok()?;
        let slot = &self.slots[index];
        if position.entry_id < -1 || position.entry_id >= slot.entries {
            return None;
        }
        Some(slot.base + position.entry_id)
    }

    /// Offset of a persisted position, clamped into the retained range: a
    /// position in a trimmed ledger maps to "before everything retained".
    pub fn clamped_offset_of(&self, position: Position) -> i64 {
        if let Some(offset) = self.offset_of(position) {
            return offset;
        }
        let before_first = self.first_offset() - 1;
        match self
            .slots
            .iter()
            .position(|s| s.ledger_id > position.ledger_id)
        {
            Some(0) => before_first,
            Some(next) => self.slots[next].base - 1,
            None => match self.slots.last() {
                Some(last) if last.ledger_id == position.ledger_id => {
                    last.base + position.entry_id.clamp(-1, last.entries - 1)
                }
                _ => self.last_confirmed_offset(),
            },
        }
    }

    /// The offset of the first entry at or after `position`, which may be
    /// one past the last confirmed entry. A position in a trimmed ledger
    /// maps to the first retained entry; `(L, -1)` to L's first entry.
    pub fn first_offset_at_or_after(&self, position: Position) -> i64 {
        let index = self
            .slots
            .partition_point(|s| s.ledger_id < position.ledger_id);
        match self.slots.get(index) {
            Some(slot) if slot.ledger_id == position.ledger_id => {
                slot.base + position.entry_id.clamp(0, slot.entries)
            }
            Some(slot) => slot.base,
            None => self.last_confirmed_offset() + 1,
        }
    }

    /// The position of an offset. Offsets before the first retained entry map
    /// to `(first ledger, -1)`; offsets past the end land in the current ledger.
    pub fn position_of(&self, offset: i64) -> Position {
        let Some(first) = self.slots.first() else {
            return Position::before_ledger(0);
        };
        if offset < first.base {
            return Position::before_ledger(first.ledger_id);
        }
        // The last slot whose base is <= offset; empty ledgers share the
        // base of their successor, so this picks the ledger holding `offset`.
        let index = self.slots.partition_point(|s| s.base <= offset) - 1;
        let slot = &self.slots[index];
        Position::new(slot.ledger_id, offset - slot.base)
    }

    /// Total confirmed entries and bytes across retained ledgers.
    pub fn totals(&self) -> (u64, u64) {
        self.slots
            .iter()
            .fold((0, 0), |(e, b), s| (e + s.entries as u64, b + s.size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> LedgerLayout {
        // ledger 3: 2 entries, ledger 5: empty, ledger 9: 3 entries (current).
        LedgerLayout::from_ledgers([(3, 2, 20), (5, 0, 0), (9, 3, 30)])
    }

    #[test]
    fn offsets_are_dense_across_ledgers() {
        let l = layout();
        assert_eq!(l.offset_of(Position::new(3, 0)), Some(0));
        assert_eq!(l.offset_of(Position::new(3, 1)), Some(1));
        assert_eq!(l.offset_of(Position::new(9, 0)), Some(2));
        assert_eq!(l.offset_of(Position::new(9, -1)), Some(1));
        assert_eq!(l.offset_of(Position::new(9, 3)), None);
        assert_eq!(l.offset_of(Position::new(4, 0)), None);
        assert_eq!(l.last_confirmed_offset(), 4);
        assert_eq!(l.totals(), (5, 50));
    }

    #[test]
    fn first_offset_at_or_after_rounds_up_into_retained_entries() {
        let l = layout();
        let at = |ledger, entry| l.first_offset_at_or_after(Position::new(ledger, entry));
        assert_eq!(at(3, 1), 1, "an exact position");
        assert_eq!(at(3, -1), 0, "before a ledger's first entry");
        assert_eq!(
            at(3, 7),
            2,
            "past a closed ledger's end: the next ledger's first"
        );
        assert_eq!(at(1, 0), 0, "a trimmed ledger: the first retained entry");
        assert_eq!(at(4, 0), 2, "between ledgers: the next retained entry");
        assert_eq!(at(5, 0), 2, "an empty ledger: the next retained entry");
        assert_eq!(at(9, 99), 5, "past the end: one past the last entry");
        assert_eq!(at(12, 0), 5);
    }

    #[test]
    fn positions_round_trip_and_skip_empty_ledgers() {
        let l = layout();
        for offset in 0..=4 {
            assert_eq!(l.offset_of(l.position_of(offset)), Some(offset));
        }
        assert_eq!(l.position_of(2), Position::new(9, 0));
        assert_eq!(l.position_of(-1), Position::new(3, -1));
    }

    #[test]
    fn clamping_maps_trimmed_positions_before_first_retained() {
        let mut l = layout();
        l.remove_ledgers(&[3, 9]);
        assert_eq!(l.slots().len(), 2, "the current ledger is never removed");
        assert_eq!(l.clamped_offset_of(Position::new(3, 1)), 1);
        assert_eq!(l.clamped_offset_of(Position::new(9, 7)), 4);
        assert_eq!(l.position_of(1), Position::new(5, -1));
    }
}
