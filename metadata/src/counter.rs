//! Cluster-wide monotonic id allocation (ledger ids, producer ids, …) by a
//! compare-and-swap loop on one counter key.
//!
//! The key holds the last id handed out, as decimal text. An allocation
//! reads it, then writes `last + count` with `Expected::Version` of what it
//! read; the write succeeds for exactly one of any concurrent allocators.
//! Ids are never reused: the counter only grows, and a successful CAS is
//! durable in the store before its ids are returned. Ids start at 1.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;

use crate::error::MetadataError;
use crate::store::{Expected, MetadataStore, PutOptions, Result};

/// Attempts before giving up under extreme contention.
const MAX_ATTEMPTS: u32 = 1000;

/// Allocates the next id from the counter at `key`.
pub async fn next_id(store: &dyn MetadataStore, key: &str) -> Result<u64> {
    allocate_range(store, key, 1).await.map(|ids| ids.start)
}

/// Allocates `count` consecutive ids (at least one) from the counter at `key`.
pub async fn allocate_range(
    store: &dyn MetadataStore,
    key: &str,
    count: u64,
) -> Result<Range<u64>> {
    let count = count.max(1);
    for attempt in 0..MAX_ATTEMPTS {
        let (last, expected) = match store.get(key).await? {
            Some(current) => (
                parse_counter(key, &current.value)?,
                Expected::Version(current.version),
            ),
            None => (0, Expected::Absent),
        };
        let end = last.checked_add(count).ok_or_else(|| {
            MetadataError::QuotaExceeded(format!("id counter {key} is exhausted"))
        })?;
        match store
            .put(
                key,
                Bytes::from(end.to_string()),
                PutOptions::expect(expected),
            )
            .await
        {
            Ok(_) => return Ok(last + 1..end + 1),
            Err(MetadataError::BadVersion { .. }) => backoff(attempt).await,
            Err(error) => return Err(error),
        }
    }
    Err(MetadataError::BadVersion {
        key: key.to_string(),
    })
}

fn parse_counter(key: &str, value: &[u8]) -> Result<u64> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| MetadataError::Corrupt {
            key: key.to_string(),
            reason: "id counter is not a decimal integer".to_string(),
        })
}

/// Yields on early conflicts, then sleeps a small random time so that
/// contending allocators spread out.
async fn backoff(attempt: u32) {
    if attempt < 3 {
        tokio::task::yield_now().await;
    } else {
        let max_ms = u64::from(attempt.min(20));
        let pause = rand::thread_rng().gen_range(0..=max_ms);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    #[test]
    fn counters_parse_as_decimal() {
        assert_eq!(parse_counter("/c", b"42").unwrap(), 42);
        assert!(matches!(
            parse_counter("/c", b"x"),
            Err(MetadataError::Corrupt { .. })
        ));
    }

    #[tokio::test]
    async fn ranges_are_consecutive_and_disjoint() {
        let store = MemoryStore::new();
        assert_eq!(next_id(&store, "/ids").await.unwrap(), 1);
        assert_eq!(allocate_range(&store, "/ids", 10).await.unwrap(), 2..12);
        assert_eq!(next_id(&store, "/ids").await.unwrap(), 12);
        store
            .put("/bad", Bytes::from("nope"), PutOptions::ANY)
            .await
            .unwrap();
        assert!(matches!(
            next_id(&store, "/bad").await,
            Err(MetadataError::Corrupt { .. })
        ));
    }
}
