//! Conformance cases for single-key reads and writes, CAS, listing and limits.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;

use crate::error::MetadataError;
use crate::store::{Expected, MetadataStore, PutOptions};
use crate::validate::{DEFAULT_MAX_VALUE_BYTES, MAX_KEY_BYTES};

pub async fn get_put_delete_and_versions(store: Arc<dyn MetadataStore>) {
    let key = "/conformance/kv/basic";
    assert_eq!(store.get(key).await.unwrap(), None);

    let v1 = store
        .put(key, Bytes::from("one"), PutOptions::ANY)
        .await
        .unwrap();
    assert!(v1 > 0);
    let read = store.get(key).await.unwrap().expect("key was just written");
    assert_eq!((read.value, read.version), (Bytes::from("one"), v1));

    let v2 = store
        .put(key, Bytes::from("two"), PutOptions::ANY)
        .await
        .unwrap();
    assert!(v2 > v1, "versions of one key grow: {v1} then {v2}");
    assert!(store.current_revision().await.unwrap() >= v2);

    let stale = store.delete(key, Expected::Version(v1)).await;
    assert!(
        matches!(stale, Err(MetadataError::BadVersion { .. })),
        "stale delete: {stale:?}"
    );
    store.delete(key, Expected::Version(v2)).await.unwrap();
    assert_eq!(store.get(key).await.unwrap(), None);

    // Deleting what is absent: fine unconditionally, a mismatch with a version.
    store.delete(key, Expected::Any).await.unwrap();
    store.delete(key, Expected::Absent).await.unwrap();
    let gone = store.delete(key, Expected::Version(v2)).await;
    assert!(
        matches!(gone, Err(MetadataError::BadVersion { .. })),
        "delete of absent key: {gone:?}"
    );

    let v3 = store
        .put(
            key,
            Bytes::from("three"),
            PutOptions::expect(Expected::Absent),
        )
        .await
        .unwrap();
    assert!(v3 > v2, "a recreated key never repeats a version");
}

pub async fn cas_on_absent_and_version(store: Arc<dyn MetadataStore>) {
    let key = "/conformance/kv/cas";
    let missing = store
        .put(
            key,
            Bytes::from("x"),
            PutOptions::expect(Expected::Version(1)),
        )
        .await;
    assert!(
        matches!(missing, Err(MetadataError::BadVersion { .. })),
        "version CAS on absent key: {missing:?}"
    );

    let v1 = store
        .put(key, Bytes::from("a"), PutOptions::expect(Expected::Absent))
        .await
        .unwrap();
    let taken = store
        .put(key, Bytes::from("b"), PutOptions::expect(Expected::Absent))
        .await;
    assert!(
        matches!(taken, Err(MetadataError::BadVersion { .. })),
        "absent CAS on existing key: {taken:?}"
    );
    let wrong = store
        .put(
            key,
            Bytes::from("b"),
            PutOptions::expect(Expected::Version(v1 + 1000)),
        )
        .await;
    assert!(
        matches!(wrong, Err(MetadataError::BadVersion { .. })),
        "wrong version: {wrong:?}"
    );
    assert_eq!(
        store.get(key).await.unwrap().map(|v| v.value),
        Some(Bytes::from("a")),
        "failed CAS wrote"
    );

    let v2 = store
        .put(
            key,
            Bytes::from("b"),
            PutOptions::expect(Expected::Version(v1)),
        )
        .await
        .unwrap();
    assert!(v2 > v1);
    let reused = store
        .put(
            key,
            Bytes::from("c"),
            PutOptions::expect(Expected::Version(v1)),
        )
        .await;
    assert!(
        matches!(reused, Err(MetadataError::BadVersion { .. })),
        "a version is good for one CAS: {reused:?}"
    );
}

pub async fn list_paginates_within_prefix(store: Arc<dyn MetadataStore>) {
    const KEYS: usize = 2500;
    const PAGE: usize = 1000;
    let prefix = "/conformance/list/items/";
    let inside: Vec<String> = (0..KEYS).map(|i| format!("{prefix}{i:05}")).collect();
    let outside = [
        "/conformance/list/items",
        "/conformance/list/items-x/1",
        "/conformance/list/other",
        "/conformance/list/itemt",
    ];
    let writes = inside.iter().map(String::as_str).chain(outside);
    futures::stream::iter(writes)
        .map(|key| {
            let store = store.clone();
            async move {
                store
                    .put(key, Bytes::from(key.to_string()), PutOptions::ANY)
                    .await
                    .unwrap()
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;

    let mut listed = Vec::new();
    let mut start_after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list(prefix, start_after.as_deref(), PAGE)
            .await
            .unwrap();
        pages += 1;
        assert!(
            page.entries.len() <= PAGE,
            "page of {} entries",
            page.entries.len()
        );
        for (key, versioned) in &page.entries {
            assert_eq!(
                versioned.value,
                Bytes::from(key.clone()),
                "value listed with {key}"
            );
        }
        listed.extend(page.entries.into_iter().map(|(key, _)| key));
        match page.next_start_after {
            Some(next) => start_after = Some(next),
            None => break,
        }
        assert!(pages <= KEYS / PAGE + 1, "pagination does not terminate");
    }
    assert_eq!(pages, KEYS.div_ceil(PAGE));
    assert_eq!(
        listed, inside,
        "every key under the prefix, in order, and nothing else"
    );

    let tail = store
        .list(prefix, Some(&inside[KEYS - 2]), PAGE)
        .await
        .unwrap();
    assert_eq!(tail.entries.len(), 1);
    assert_eq!(tail.next_start_after, None);

    // `list_all` walks the same pages (2,500 keys: three of them).
    let all: Vec<String> = store
        .list_all(prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(
        all, inside,
        "list_all: every key under the prefix, in order"
    );
}

pub async fn limits_and_key_validation(store: Arc<dyn MetadataStore>) {
    let key = "/conformance/limits/value";
    let largest = Bytes::from(vec![7u8; DEFAULT_MAX_VALUE_BYTES]);
    store.put(key, largest, PutOptions::ANY).await.unwrap();
    let too_large = Bytes::from(vec![7u8; DEFAULT_MAX_VALUE_BYTES + 1]);
    assert_eq!(
        store.put(key, too_large, PutOptions::ANY).await,
        Err(MetadataError::ValueTooLarge {
            size: DEFAULT_MAX_VALUE_BYTES + 1,
            limit: DEFAULT_MAX_VALUE_BYTES
        })
    );

    let too_long = format!("/{}", "k".repeat(MAX_KEY_BYTES));
    let longest = format!("/{}", "k".repeat(MAX_KEY_BYTES - 1));
    for bad in ["", "relative/key", "/nul\0key", too_long.as_str()] {
        let put = store.put(bad, Bytes::from("v"), PutOptions::ANY).await;
        assert!(
            matches!(put, Err(MetadataError::InvalidKey { .. })),
            "put {bad:?}: {put:?}"
        );
        let get = store.get(bad).await;
        assert!(
            matches!(get, Err(MetadataError::InvalidKey { .. })),
            "get {bad:?}: {get:?}"
        );
        let delete = store.delete(bad, Expected::Any).await;
        assert!(
            matches!(delete, Err(MetadataError::InvalidKey { .. })),
            "delete {bad:?}: {delete:?}"
        );
    }
    store
        .put(&longest, Bytes::from("v"), PutOptions::ANY)
        .await
        .unwrap();
}
