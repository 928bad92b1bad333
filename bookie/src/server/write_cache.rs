//! The write cache: entries accepted since the last checkpoint, in memory.
//!
//! Two maps: `active` takes new adds; at a checkpoint it becomes the
//! immutable `flushing` snapshot that is written to entry logs while new
//! adds go to a fresh `active`. Reads look in both. If a flush fails, the
//! snapshot stays and is merged into the next one, so no entry is dropped
//! from memory before it is in the index.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

/// Entries keyed by `(ledger id, entry id)`, in index order.
pub type EntryMap = BTreeMap<(u64, i64), Bytes>;

#[derive(Default)]
struct CacheMaps {
    active: EntryMap,
    active_bytes: usize,
    flushing: Arc<EntryMap>,
}

/// In-memory entries not yet flushed to entry logs.
#[derive(Default)]
pub struct WriteCache {
    maps: RwLock<CacheMaps>,
}

impl WriteCache {
    pub fn put(&self, ledger_id: u64, entry_id: i64, body: Bytes) {
        let mut maps = self.maps.write();
        maps.active_bytes += body.len();
        if let Some(old) = maps.active.insert((ledger_id, entry_id), body) {
            maps.active_bytes -= old.len();
        }
    }

    pub fn get(&self, ledger_id: u64, entry_id: i64) -> Option<Bytes> {
        let maps = self.maps.read();
        maps.active
            .get(&(ledger_id, entry_id))
            .or_else(|| maps.flushing.get(&(ledger_id, entry_id)))
            .cloned()
    }

    /// Bytes of entry bodies in the active map.
    pub fn active_bytes(&self) -> usize {
        self.maps.read().active_bytes
    }

    /// Highest entry id cached for the ledger.
    pub fn last_entry(&self, ledger_id: u64) -> Option<i64> {
        let maps = self.maps.read();
        let range = (ledger_id, i64::MIN)..=(ledger_id, i64::MAX);
        let active = maps
            .active
            .range(range.clone())
            .next_back()
            .map(|(k, _)| k.1);
        let flushing = maps.flushing.range(range).next_back().map(|(k, _)| k.1);
        active.max(flushing)
    }

    /// Turns the active map into the flushing snapshot (merged with a
    /// snapshot left over by a failed flush) and returns it.
    pub fn begin_flush(&self) -> Arc<EntryMap> {
        let mut maps = self.maps.write();
        let active = std::mem::take(&mut maps.active);
        maps.active_bytes = 0;
        if maps.flushing.is_empty() {
            maps.flushing = Arc::new(active);
        } else {
            let mut merged = (*maps.flushing).clone();
            merged.extend(active);
            maps.flushing = Arc::new(merged);
        }
        maps.flushing.clone()
    }

    /// Drops the flushing snapshot once it is durably indexed.
    pub fn finish_flush(&self) {
        self.maps.write().flushing = Arc::new(EntryMap::new());
    }

    /// Forgets every cached entry of a deleted ledger.
    pub fn remove_ledger(&self, ledger_id: u64) {
        let mut maps = self.maps.write();
        let keys: Vec<_> = maps
            .active
            .range((ledger_id, i64::MIN)..=(ledger_id, i64::MAX))
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            if let Some(body) = maps.active.remove(&key) {
                maps.active_bytes -= body.len();
            }
        }
        if maps
            .flushing
            .range((ledger_id, i64::MIN)..=(ledger_id, i64::MAX))
            .next()
            .is_some()
        {
            let mut flushing = (*maps.flushing).clone();
            flushing.retain(|k, _| k.0 != ledger_id);
            maps.flushing = Arc::new(flushing);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_readable_while_flushing_and_a_failed_flush_is_merged() {
        let cache = WriteCache::default();
        cache.put(1, 0, Bytes::from_static(b"a"));
        cache.put(1, 1, Bytes::from_static(b"bb"));
        assert_eq!(cache.active_bytes(), 3);
        let snapshot = cache.begin_flush();
        assert_eq!(snapshot.len(), 2);
        cache.put(1, 2, Bytes::from_static(b"c"));
        assert_eq!(cache.get(1, 0).as_deref(), Some(&b"a"[..]));
        assert_eq!(cache.last_entry(1), Some(2));
        // The flush "failed": the next snapshot holds all three.
        let snapshot = cache.begin_flush();
        assert_eq!(snapshot.len(), 3);
        cache.finish_flush();
        assert_eq!(cache.get(1, 0), None);
        assert_eq!(cache.last_entry(1), None);
    }

    #[test]
    fn remove_ledger_drops_only_that_ledger() {
        let cache = WriteCache::default();
        cache.put(1, 0, Bytes::from_static(b"a"));
        cache.put(2, 0, Bytes::from_static(b"b"));
        cache.begin_flush();
        cache.put(1, 1, Bytes::from_static(b"c"));
        cache.remove_ledger(1);
        assert_eq!(cache.get(1, 0), None);
        assert_eq!(cache.get(1, 1), None);
        assert_eq!(cache.get(2, 0).as_deref(), Some(&b"b"[..]));
        assert_eq!(cache.active_bytes(), 0);
    }
}
