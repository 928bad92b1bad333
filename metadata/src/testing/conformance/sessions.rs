//! Conformance cases for sessions, ephemeral keys and leader election.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use super::within;
use crate::election::LeaderElection;
use crate::error::MetadataError;
use crate::session::Session;
use crate::store::{Expected, MetadataStore, PutOptions, WatchEvent, WatchTarget};

/// Shortest TTL every backend honours (etcd rounds leases up to whole
/// seconds and enforces a minimum of about two).
const SHORT_TTL: Duration = Duration::from_secs(1);
/// A TTL no case outlives.
const LONG_TTL: Duration = Duration::from_secs(60);

pub async fn session_expiry_deletes_ephemeral_keys(store: Arc<dyn MetadataStore>) {
    let prefix = "/conformance/expiry/";
    let session = store.create_session(SHORT_TTL).await.unwrap();
    let ephemeral = [format!("{prefix}a"), format!("{prefix}b")];
    for key in &ephemeral {
        store
            .put(
                key,
                Bytes::from("eph"),
                PutOptions::ephemeral(Expected::Absent, session),
            )
            .await
            .unwrap();
    }
    let persistent = format!("{prefix}persistent");
    store
        .put(&persistent, Bytes::from("stays"), PutOptions::ANY)
        .await
        .unwrap();
    let from = store.current_revision().await.unwrap() + 1;
    let mut stream = store
        .watch(WatchTarget::Prefix(prefix.to_string()), Some(from))
        .await
        .unwrap();

    // No keep-alives: the session must expire and take its keys with it.
    let mut deleted = BTreeSet::new();
    let mut revisions = Vec::new();
    while deleted.len() < ephemeral.len() {
        match within("ephemeral keys to be deleted on expiry", stream.next()).await {
            Some(Ok(WatchEvent::Delete { key, revision })) => {
                deleted.insert(key);
                revisions.push(revision);
            }
            other => panic!("expected a delete event, got {other:?}"),
        }
    }
    assert_eq!(deleted, ephemeral.iter().cloned().collect());
    // etcd removes all of a lease's keys in one revision; the Raft and
    // memory backends use one revision per key. The contract is only that
    // watchers see every delete, in non-decreasing revision order.
    assert!(
        revisions.windows(2).all(|w| w[0] <= w[1]),
        "delete events out of order: {revisions:?}"
    );
    for key in &ephemeral {
        assert_eq!(store.get(key).await.unwrap(), None);
    }
    assert!(
        store.get(&persistent).await.unwrap().is_some(),
        "persistent keys survive"
    );

    assert_eq!(
        store.keep_alive(session).await,
        Err(MetadataError::SessionExpired(session))
    );
    let late = store
        .put(
            &format!("{prefix}late"),
            Bytes::from("x"),
            PutOptions::ephemeral(Expected::Any, session),
        )
        .await;
    assert_eq!(late, Err(MetadataError::SessionExpired(session)));
}

pub async fn revoke_deletes_ephemeral_keys_immediately(store: Arc<dyn MetadataStore>) {
    let key = "/conformance/revoke/owned";
    let session = Session::open(store.clone(), LONG_TTL).await.unwrap();
    store
        .put(
            key,
            Bytes::from("mine"),
            PutOptions::ephemeral(Expected::Absent, session.id()),
        )
        .await
        .unwrap();
    // Keep-alives run in the background; the key stays while the session lives.
    store.keep_alive(session.id()).await.unwrap();
    assert!(store.get(key).await.unwrap().is_some());

    let id = session.id();
    session.close().await.unwrap();
    assert_eq!(
        store.get(key).await.unwrap(),
        None,
        "revoke deletes ephemeral keys before returning"
    );
    assert_eq!(
        store.keep_alive(id).await,
        Err(MetadataError::SessionExpired(id))
    );
}

pub async fn leader_election_fails_over(store: Arc<dyn MetadataStore>) {
    let election_key = "/conformance/election/leader";
    let election = LeaderElection::new(store.clone());
    let first_session = Session::open(store.clone(), LONG_TTL).await.unwrap();
    let second_session = Session::open(store.clone(), LONG_TTL).await.unwrap();

    let first = within(
        "the first campaign",
        election.campaign(election_key, Bytes::from("first"), &first_session),
    )
    .await
    .unwrap();
    assert_eq!(
        election.leader(election_key).await.unwrap(),
        Some(Bytes::from("first"))
    );

    let contender = {
        let election = election.clone();
        tokio::spawn(async move {
            let leadership = election
                .campaign(election_key, Bytes::from("second"), &second_session)
                .await;
            (leadership, second_session)
        })
    };
    // The second candidate must wait while the first holds the key.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!contender.is_finished(), "two leaders at once");
    assert!(!first.is_lost());

    let first_lost = first.lost();
    first_session.close().await.unwrap();
    within("the first leader to see it lost leadership", first_lost).await;
    assert!(first.is_lost());

    let (second, second_session) = within("the second campaign", contender).await.unwrap();
    let second = second.unwrap();
    assert!(
        second.version() > first.version(),
        "leadership versions grow"
    );
    assert_eq!(
        election.leader(election_key).await.unwrap(),
        Some(Bytes::from("second"))
    );
    assert!(!second.is_lost());

    second.resign().await.unwrap();
    assert_eq!(election.leader(election_key).await.unwrap(), None);
    second_session.close().await.unwrap();
}
