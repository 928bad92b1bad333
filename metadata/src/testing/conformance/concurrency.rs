//! Conformance cases for concurrent writers: CAS races and id allocation.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;

use super::within;
use crate::counter::next_id;
use crate::error::MetadataError;
use crate::store::{Expected, MetadataStore, PutOptions};

/// 16 tasks each increment one counter 25 times by read + CAS retry; no
/// increment may be lost or applied twice.
pub async fn cas_race_counts_exactly(store: Arc<dyn MetadataStore>) {
    const TASKS: u64 = 16;
    const INCREMENTS: u64 = 25;
    let key = "/conformance/race/counter";
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..INCREMENTS {
                    loop {
                        let current = store.get(key).await.unwrap();
                        let (value, expected) = match current {
                            Some(current) => {
                                let text = std::str::from_utf8(&current.value).unwrap().to_string();
                                (
                                    text.parse::<u64>().unwrap(),
                                    Expected::Version(current.version),
                                )
                            }
                            None => (0, Expected::Absent),
                        };
                        let next = Bytes::from((value + 1).to_string());
                        match store.put(key, next, PutOptions::expect(expected)).await {
                            Ok(_) => break,
                            Err(MetadataError::BadVersion { .. }) => tokio::task::yield_now().await,
                            Err(error) => panic!("increment failed: {error}"),
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        within("an incrementing task", task).await.unwrap();
    }
    let total = store.get(key).await.unwrap().expect("counter exists");
    assert_eq!(total.value, Bytes::from((TASKS * INCREMENTS).to_string()));
}

/// Concurrent allocators get distinct ids, each allocator sees its own ids
/// grow, and together they use a contiguous range.
pub async fn counter_is_monotonic_under_concurrency(store: Arc<dyn MetadataStore>) {
    const TASKS: usize = 8;
    const IDS: usize = 25;
    let key = "/conformance/counter/ids";
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut ids = Vec::with_capacity(IDS);
                for _ in 0..IDS {
                    ids.push(next_id(store.as_ref(), key).await.unwrap());
                }
                ids
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for task in tasks {
        let ids = within("an allocating task", task).await.unwrap();
        assert!(
            ids.windows(2).all(|pair| pair[0] < pair[1]),
            "one allocator's ids grow: {ids:?}"
        );
        all.extend(ids);
    }
    assert_eq!(all.len(), TASKS * IDS, "ids are never handed out twice");
    let expected: BTreeSet<u64> = (1..=(TASKS * IDS) as u64).collect();
    assert_eq!(all, expected, "ids start at 1 and leave no gaps");

    let after = next_id(store.as_ref(), key).await.unwrap();
    assert_eq!(after, (TASKS * IDS) as u64 + 1);
}
