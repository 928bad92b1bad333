//! Conformance cases for watches: ordering, resuming and targeting.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;

use super::within;
use crate::store::{Expected, MetadataStore, PutOptions, WatchEvent, WatchStream, WatchTarget};

/// What a change looks like without its revision.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Put(String),
    Delete(String),
}

fn change_of(event: &WatchEvent) -> Change {
    match event {
        WatchEvent::Put { key, .. } => Change::Put(key.clone()),
        WatchEvent::Delete { key, .. } => Change::Delete(key.clone()),
    }
}

async fn take_events(stream: &mut WatchStream, count: usize) -> Vec<WatchEvent> {
    let mut events = Vec::with_capacity(count);
    while events.len() < count {
        let next = within("a watch event", stream.next()).await;
        match next {
            Some(Ok(event)) => events.push(event),
            Some(Err(error)) => panic!("watch failed after {} events: {error}", events.len()),
            None => panic!("watch ended after {} events", events.len()),
        }
    }
    events
}

pub async fn watch_delivers_changes_in_order(store: Arc<dyn MetadataStore>) {
    let prefix = "/conformance/watch/order/";
    let mut stream = store
        .watch(WatchTarget::Prefix(prefix.to_string()), None)
        .await
        .unwrap();

    let mut expected = Vec::new();
    let mut put_versions = Vec::new();
    let mut live = std::collections::BTreeSet::new();
    for i in 0..30 {
        let key = format!("{prefix}{}", i % 7);
        if i % 3 == 2 {
            store.delete(&key, Expected::Any).await.unwrap();
            // Only deleting a live key is a change.
            if live.remove(&key) {
                expected.push(Change::Delete(key));
            }
        } else {
            let version = store
                .put(&key, Bytes::from(format!("v{i}")), PutOptions::ANY)
                .await
                .unwrap();
            put_versions.push(version);
            live.insert(key.clone());
            expected.push(Change::Put(key));
        }
    }
    store
        .put(
            "/conformance/watch/outside",
            Bytes::from("x"),
            PutOptions::ANY,
        )
        .await
        .unwrap();

    let events = take_events(&mut stream, expected.len()).await;
    assert_eq!(events.iter().map(change_of).collect::<Vec<_>>(), expected);
    assert!(
        events
            .windows(2)
            .all(|pair| pair[0].revision() < pair[1].revision()),
        "revisions increase: {events:?}"
    );
    let seen_versions: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, WatchEvent::Put { .. }))
        .map(WatchEvent::revision)
        .collect();
    assert_eq!(
        seen_versions, put_versions,
        "put events carry the versions the puts returned"
    );
}

pub async fn watch_resumes_from_revision(store: Arc<dyn MetadataStore>) {
    let prefix = "/conformance/watch/resume/";
    let start = store.current_revision().await.unwrap() + 1;
    let key = |i: usize| format!("{prefix}{i:02}");
    for i in 0..10 {
        store
            .put(&key(i), Bytes::from("v"), PutOptions::ANY)
            .await
            .unwrap();
    }

    // A watch from a past revision replays history.
    let mut first = store
        .watch(WatchTarget::Prefix(prefix.to_string()), Some(start))
        .await
        .unwrap();
    let seen = take_events(&mut first, 5).await;
    let last_seen = seen.last().map(WatchEvent::revision).unwrap();
    drop(first);

    for i in 10..20 {
        store
            .put(&key(i), Bytes::from("v"), PutOptions::ANY)
            .await
            .unwrap();
    }
    store.delete(&key(0), Expected::Any).await.unwrap();

    let mut resumed = store
        .watch(WatchTarget::Prefix(prefix.to_string()), Some(last_seen + 1))
        .await
        .unwrap();
    let rest = take_events(&mut resumed, 16).await;
    let all: Vec<Change> = seen.iter().chain(rest.iter()).map(change_of).collect();
    let mut expected: Vec<Change> = (0..20).map(|i| Change::Put(key(i))).collect();
    expected.push(Change::Delete(key(0)));
    assert_eq!(all, expected, "nothing lost or repeated across the resume");
}

pub async fn watch_single_key_ignores_siblings(store: Arc<dyn MetadataStore>) {
    let key = "/conformance/watch/key/a";
    let mut stream = store
        .watch(WatchTarget::Key(key.to_string()), None)
        .await
        .unwrap();
    store
        .put(
            "/conformance/watch/key/ab",
            Bytes::from("x"),
            PutOptions::ANY,
        )
        .await
        .unwrap();
    store
        .put(
            "/conformance/watch/key/b",
            Bytes::from("x"),
            PutOptions::ANY,
        )
        .await
        .unwrap();
    let version = store
        .put(key, Bytes::from("mine"), PutOptions::ANY)
        .await
        .unwrap();
    let events = take_events(&mut stream, 1).await;
    assert_eq!(
        events,
        vec![WatchEvent::Put {
            key: key.to_string(),
            value: Bytes::from("mine"),
            version
        }]
    );
}
