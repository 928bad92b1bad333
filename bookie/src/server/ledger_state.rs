//! Per-ledger state a bookie keeps: master key, fenced flag, highest
//! piggybacked LAC and last entry id.
//!
//! Held in memory for every ledger stored locally; persisted into the index
//! at each checkpoint, and made durable before that by journal records
//! (master key on first sight, fence before the fencing read is answered).

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// What the bookie knows about one ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookieLedgerState {
    /// Empty until the first add or fence sets it.
    pub master_key: Vec<u8>,
    pub fenced: bool,
    /// Highest LAC piggybacked on any entry (or -1).
    pub lac: i64,
    /// Highest entry id stored (or -1).
    pub last_entry: i64,
}

impl Default for BookieLedgerState {
    fn default() -> Self {
        BookieLedgerState {
            master_key: Vec::new(),
            fenced: false,
            lac: -1,
            last_entry: -1,
        }
    }
}

/// Result of checking a request's master key against a ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// The key matches the recorded one.
    Matches,
    /// The ledger had no key yet: the caller must journal this new one.
    Recorded,
    /// The key differs from the recorded one.
    Mismatch,
}

/// All ledgers of this bookie, with the set changed since the last checkpoint.
#[derive(Default)]
pub struct LedgerTable {
    inner: Mutex<TableInner>,
}

#[derive(Default)]
struct TableInner {
    ledgers: HashMap<u64, BookieLedgerState>,
    dirty: HashSet<u64>,
}

impl LedgerTable {
    /// Builds the table from states loaded out of the index.
    pub fn from_loaded(loaded: impl IntoIterator<Item = (u64, BookieLedgerState)>) -> Self {
        let table = LedgerTable::default();
        table.inner.lock().ledgers.extend(loaded);
        table
    }

    pub fn get(&self, ledger_id: u64) -> Option<BookieLedgerState> {
        self.inner.lock().ledgers.get(&ledger_id).cloned()
    }

    /// Ledgers in the table.
    pub fn len(&self) -> usize {
        self.inner.lock().ledgers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn ledger_ids(&self) -> Vec<u64> {
        self.inner.lock().ledgers.keys().copied().collect()
    }

    /// Runs `change` on the ledger's state (created when missing) under the
    /// table lock, marks it dirty and returns what `change` returned.
    pub fn update<T>(&self, ledger_id: u64, change: impl FnOnce(&mut BookieLedgerState) -> T) -> T {
        let mut inner = self.inner.lock();
        let result = change(inner.ledgers.entry(ledger_id).or_default());
        inner.dirty.insert(ledger_id);
        result
    }

    /// Checks `key` against the ledger, recording it when none is set yet.
    pub fn check_key(state: &mut BookieLedgerState, key: &Bytes) -> KeyCheck {
        if state.master_key.is_empty() {
            state.master_key = key.to_vec();
            KeyCheck::Recorded
        } else if state.master_key == key.as_ref() {
            KeyCheck::Matches
        } else {
            KeyCheck::Mismatch
        }
    }

    /// Takes the dirty set and snapshots those ledgers for a checkpoint. On a
    /// failed checkpoint the caller gives them back with [`Self::mark_dirty`].
    pub fn take_dirty(&self) -> Vec<(u64, BookieLedgerState)> {
        let mut inner = self.inner.lock();
        let dirty = std::mem::take(&mut inner.dirty);
        dirty
            .into_iter()
            .filter_map(|id| inner.ledgers.get(&id).map(|s| (id, s.clone())))
            .collect()
    }

    pub fn mark_dirty(&self, ids: impl IntoIterator<Item = u64>) {
        self.inner.lock().dirty.extend(ids);
    }

    pub fn remove(&self, ledger_id: u64) {
        let mut inner = self.inner.lock();
        inner.ledgers.remove(&ledger_id);
        inner.dirty.remove(&ledger_id);
    }
}
