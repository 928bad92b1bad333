//! Positions and entries: the coordinates of a message in a managed ledger.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A position in a managed ledger: `(ledger_id, entry_id)`, ordered
/// lexicographically. `(L, -1)` means "before the first entry of ledger L".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    pub ledger_id: u64,
    pub entry_id: i64,
}

impl Position {
    pub const fn new(ledger_id: u64, entry_id: i64) -> Self {
        Position {
            ledger_id,
            entry_id,
        }
    }

    /// The position just before the first entry of `ledger_id`.
    pub const fn before_ledger(ledger_id: u64) -> Self {
        Position {
            ledger_id,
            entry_id: -1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ledger_id, self.entry_id)
    }
}

/// One stored entry: `data` is exactly what `add_entry` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub position: Position,
    pub data: Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_by_ledger_then_entry() {
        let before = Position::before_ledger(7);
        assert!(before < Position::new(7, 0));
        assert!(Position::new(7, 99) < Position::new(8, -1));
        assert_eq!(Position::new(3, 4).to_string(), "3:4");
    }
}
