//! The factory-wide cache of recently added entries, so tailing readers are
//! served from memory instead of the bookies.
//!
//! Keyed by [`Position`] alone: ledger ids are cluster-unique, so entries of
//! different managed ledgers never collide. Bounded by payload bytes; when an
//! insert goes over budget the oldest inserted entries are evicted down to
//! 90 % of it. Managed ledgers also evict everything below their slowest
//! cursor. The cache is an optimisation only: with a budget of 0 nothing is
//! kept and every read goes to the ledger store.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use parking_lot::Mutex;

use super::position::Position;
use crate::metrics;

const EVICTION_WATERMARK_PERCENT: usize = 90;

#[derive(Debug)]
pub struct EntryCache {
    budget_bytes: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    entries: BTreeMap<Position, Bytes>,
    /// Insertion order; may hold positions already removed by range eviction.
    order: VecDeque<Position>,
    bytes: usize,
}

impl EntryCache {
    pub fn new(budget_bytes: usize) -> Self {
        EntryCache {
            budget_bytes,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    pub fn insert(&self, position: Position, data: Bytes) {
        if self.budget_bytes == 0 || data.len() > self.budget_bytes {
            return;
        }
        let mut inner = self.inner.lock();
        if let Some(old) = inner.entries.insert(position, data.clone()) {
            inner.bytes -= old.len();
        } else {
            inner.order.push_back(position);
        }
        inner.bytes += data.len();
        if inner.bytes > self.budget_bytes {
            let target = self.budget_bytes * EVICTION_WATERMARK_PERCENT / 100;
            while inner.bytes > target {
                let Some(oldest) = inner.order.pop_front() else {
                    break;
                };
                if let Some(evicted) = inner.entries.remove(&oldest) {
                    inner.bytes -= evicted.len();
                }
            }
        }
        metrics::ENTRY_CACHE_BYTES.set(inner.bytes as i64);
    }

    pub fn get(&self, position: Position) -> Option<Bytes> {
        self.inner.lock().entries.get(&position).cloned()
    }

    /// Removes entries of `ledger_id` with entry id `<= up_to_entry`.
    pub fn evict_up_to(&self, ledger_id: u64, up_to_entry: i64) {
        let mut inner = self.inner.lock();
        let doomed: Vec<Position> = inner
            .entries
            .range(Position::new(ledger_id, i64::MIN)..=Position::new(ledger_id, up_to_entry))
            .map(|(p, _)| *p)
            .collect();
        for position in doomed {
            if let Some(evicted) = inner.entries.remove(&position) {
                inner.bytes -= evicted.len();
            }
        }
        if inner.entries.is_empty() {
            inner.order.clear();
        } else if inner.order.len() > 2 * inner.entries.len() + 64 {
            // Compact the insertion queue when it is mostly stale.
            let CacheInner { entries, order, .. } = &mut *inner;
            order.retain(|p| entries.contains_key(p));
        }
        metrics::ENTRY_CACHE_BYTES.set(inner.bytes as i64);
    }

    /// Removes every entry of `ledger_id`.
    pub fn evict_ledger(&self, ledger_id: u64) {
        self.evict_up_to(ledger_id, i64::MAX);
    }

    pub fn size_bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    pub fn len(&self) -> usize {
        self.inner.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_budget_evicting_oldest_first() {
        let cache = EntryCache::new(100);
        for i in 0..30 {
            cache.insert(Position::new(1, i), Bytes::from(vec![0u8; 10]));
            assert!(cache.size_bytes() <= 100);
        }
        assert!(cache.get(Position::new(1, 0)).is_none());
        assert!(cache.get(Position::new(1, 29)).is_some());
    }

    #[test]
    fn range_eviction_and_disabled_cache() {
        let cache = EntryCache::new(1000);
        for i in 0..5 {
            cache.insert(Position::new(2, i), Bytes::from_static(b"abc"));
        }
        cache.insert(Position::new(3, 0), Bytes::from_static(b"abc"));
        cache.evict_up_to(2, 2);
        assert_eq!(cache.len(), 3);
        cache.evict_ledger(2);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.size_bytes(), 3);

        let disabled = EntryCache::new(0);
        disabled.insert(Position::new(1, 0), Bytes::from_static(b"x"));
        assert!(disabled.is_empty());
    }
}
