//! The open cursors of one managed ledger, by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::cursor::ManagedCursor;

#[derive(Default)]
pub(crate) struct CursorSet {
    cursors: Mutex<BTreeMap<String, Arc<ManagedCursor>>>,
}

impl CursorSet {
    pub fn get(&self, name: &str) -> Option<Arc<ManagedCursor>> {
        self.cursors.lock().get(name).cloned()
    }

    /// Adds `cursor` unless one of its name is there already; returns the
    /// one that is there afterwards.
    pub fn insert_if_absent(&self, cursor: ManagedCursor) -> Arc<ManagedCursor> {
        self.cursors
            .lock()
            .entry(cursor.name().to_string())
            .or_insert_with(|| Arc::new(cursor))
            .clone()
    }

    /// Adds `cursor`, replacing one of the same name.
    pub fn insert(&self, cursor: ManagedCursor) {
        self.cursors
            .lock()
            .insert(cursor.name().to_string(), Arc::new(cursor));
    }

    pub fn remove(&self, name: &str) -> Option<Arc<ManagedCursor>> {
        self.cursors.lock().remove(name)
    }

    pub fn names(&self) -> Vec<String> {
        self.cursors.lock().keys().cloned().collect()
    }

    /// The cursors now, in name order.
    pub fn snapshot(&self) -> Vec<Arc<ManagedCursor>> {
        self.cursors.lock().values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.cursors.lock().len()
    }

    pub fn clear(&self) {
        self.cursors.lock().clear();
    }
}
