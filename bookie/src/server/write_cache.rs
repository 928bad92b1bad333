//! The write cache: entries accepted since the last checkpoint, in memory.
//!
//! Two maps: `active` takes new adds; at a checkpoint it becomes the
//! immutable `flushing` snapshot that is written to entry logs while new
//! adds go to a fresh `active`. Reads look in both. If a flush fails, the
//! snapshot stays and is merged into the next one, so no entry is dropped
//! from memory before it is in the index.
//!
//! The cache is bounded: [`WriteCache::wait_for_room`] holds an add back
//! while both maps together hold twice the `half` size (the active map full
//! and a flush under way), until a flush finishes or `max_throttle` passes,
//! as BookKeeper's DbLedgerStorage does with its two write cache halves.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::sync::Notify;

use super::error::WriteCacheFull;

/// Entries keyed by `(ledger id, entry id)`, in index order.
pub type EntryMap = BTreeMap<(u64, i64), Bytes>;

#[derive(Default)]
struct CacheMaps {
    active: EntryMap,
    active_bytes: usize,
    flushing: Arc<EntryMap>,
    flushing_bytes: usize,
}

/// In-memory entries not yet flushed to entry logs.
pub struct WriteCache {
    maps: RwLock<CacheMaps>,
    /// A flush is asked for once the active map holds this many bytes; adds
    /// wait while both maps hold twice this.
    half: usize,
    max_throttle: Duration,
    /// Signalled when a flush finishes: the flushed half is free again.
    room: Notify,
    /// Wakes the checkpoint loop early.
    flush_wanted: Notify,
}

impl WriteCache {
    /// An empty cache of two `half`-byte halves, whose adds wait at most
    /// `max_throttle` for room.
    pub fn new(half: usize, max_throttle: Duration) -> Self {
        WriteCache {
            maps: RwLock::default(),
            half,
            max_throttle,
            room: Notify::new(),
            flush_wanted: Notify::new(),
        }
    }

    /// Waits until the cache has room for more adds: at once while both
    /// maps hold less than twice `half`; else until a flush finishes, at
    /// most `max_throttle`. Asks for a flush once the active map is full.
    /// Returns how long it waited. The caller then puts what it admits, so
    /// the cache can pass its bound by one caller's adds (an add batch).
    pub async fn wait_for_room(&self) -> Result<Duration, WriteCacheFull> {
        if self.active_bytes() >= self.half {
            self.flush_wanted.notify_one();
        }
        let limit = self.half.saturating_mul(2);
        if self.total_bytes() < limit {
            return Ok(Duration::ZERO);
        }
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.max_throttle;
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            // Registered before the check, so a flush finishing in between
            // is not missed.
            room.as_mut().enable();
            if self.total_bytes() < limit {
                return Ok(started.elapsed());
            }
            self.flush_wanted.notify_one();
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return Err(WriteCacheFull {
                    waited: started.elapsed(),
                });
            }
        }
    }

    /// Resolves once an add found the active map full (at once if one did
    /// since the last call).
    pub async fn flush_wanted(&self) {
        self.flush_wanted.notified().await
    }

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

    /// Bytes of entry bodies in the cache: the active map and the snapshot
    /// being flushed.
    pub fn total_bytes(&self) -> usize {
        let maps = self.maps.read();
        maps.active_bytes + maps.flushing_bytes
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
        maps.flushing_bytes += std::mem::take(&mut maps.active_bytes);
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
        {
            let mut maps = self.maps.write();
            maps.flushing = Arc::new(EntryMap::new());
            maps.flushing_bytes = 0;
        }
        self.room.notify_waiters();
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
            maps.flushing_bytes = flushing.values().map(Bytes::len).sum();
            maps.flushing = Arc::new(flushing);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_readable_while_flushing_and_a_failed_flush_is_merged() {
        let cache = WriteCache::new(1 << 20, Duration::from_secs(1));
        cache.put(1, 0, Bytes::from_static(b"a"));
        cache.put(1, 1, Bytes::from_static(b"bb"));
        assert_eq!(cache.active_bytes(), 3);
        let snapshot = cache.begin_flush();
        assert_eq!(snapshot.len(), 2);
        assert_eq!((cache.active_bytes(), cache.total_bytes()), (0, 3));
        cache.put(1, 2, Bytes::from_static(b"c"));
        assert_eq!(cache.total_bytes(), 4);
        assert_eq!(cache.get(1, 0).as_deref(), Some(&b"a"[..]));
        assert_eq!(cache.last_entry(1), Some(2));
        // The flush "failed": the next snapshot holds all three.
        let snapshot = cache.begin_flush();
        assert_eq!(snapshot.len(), 3);
        assert_eq!((cache.active_bytes(), cache.total_bytes()), (0, 4));
        cache.finish_flush();
        assert_eq!(cache.total_bytes(), 0);
        assert_eq!(cache.get(1, 0), None);
        assert_eq!(cache.last_entry(1), None);
    }

    #[test]
    fn remove_ledger_drops_only_that_ledger() {
        let cache = WriteCache::new(1 << 20, Duration::from_secs(1));
        cache.put(1, 0, Bytes::from_static(b"a"));
        cache.put(2, 0, Bytes::from_static(b"b"));
        cache.begin_flush();
        cache.put(1, 1, Bytes::from_static(b"c"));
        cache.remove_ledger(1);
        assert_eq!(cache.get(1, 0), None);
        assert_eq!(cache.get(1, 1), None);
        assert_eq!(cache.get(2, 0).as_deref(), Some(&b"b"[..]));
        assert_eq!((cache.active_bytes(), cache.total_bytes()), (0, 1));
    }

    #[tokio::test]
    async fn adds_wait_while_both_halves_are_full_until_a_flush_finishes() {
        let cache = Arc::new(WriteCache::new(8, Duration::from_secs(30)));
        cache.put(1, 0, Bytes::from_static(b"12345678"));
        // The active half is full: room yet, and a flush is asked for.
        assert_eq!(cache.wait_for_room().await.unwrap(), Duration::ZERO);
        tokio::time::timeout(Duration::from_secs(1), cache.flush_wanted())
            .await
            .expect("a flush is asked for");
        cache.begin_flush();
        cache.put(1, 1, Bytes::from_static(b"abcdefgh"));
        assert_eq!(cache.total_bytes(), 16);
        // Both halves full: the next add waits for the flush to finish.
        let waiter = tokio::spawn({
            let cache = cache.clone();
            async move { cache.wait_for_room().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "an add got in past a full cache");
        cache.finish_flush();
        let waited = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the flush made room")
            .unwrap()
            .unwrap();
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
        assert_eq!(cache.total_bytes(), 8);
    }

    #[tokio::test]
    async fn an_add_is_refused_when_no_flush_makes_room_in_time() {
        let cache = WriteCache::new(4, Duration::from_millis(100));
        cache.put(1, 0, Bytes::from_static(b"1234"));
        cache.begin_flush();
        cache.put(1, 1, Bytes::from_static(b"5678"));
        let full = cache.wait_for_room().await.unwrap_err();
        assert!(full.waited >= Duration::from_millis(100), "{full:?}");
        // A failed flush merges the halves and frees nothing: still full.
        cache.begin_flush();
        assert!(cache.wait_for_room().await.is_err());
        cache.finish_flush();
        assert_eq!(cache.wait_for_room().await.unwrap(), Duration::ZERO);
    }
}
