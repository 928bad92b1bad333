//! The conformance suite: behaviour every [`MetadataStore`] backend must
//! show identically. Each case is a public async function taking the store;
//! [`crate::metadata_conformance_tests!`] turns them into tests, and
//! [`run_all`] runs them in sequence.
//!
//! Cases use disjoint key prefixes under `/conformance/`, so they can share
//! one store, and never assume the store's revision starts at any value.

mod concurrency;
mod kv;
mod sessions;
mod watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use concurrency::{cas_race_counts_exactly, counter_is_monotonic_under_concurrency};
pub use kv::{
    cas_on_absent_and_version, get_put_delete_and_versions, limits_and_key_validation,
    list_paginates_within_prefix,
};
pub use sessions::{
    leader_election_fails_over, revoke_deletes_ephemeral_keys_immediately,
    session_expiry_deletes_ephemeral_keys,
};
pub use watch::{
    watch_delivers_changes_in_order, watch_resumes_from_revision, watch_single_key_ignores_siblings,
};

use crate::store::MetadataStore;

/// Upper bound for anything a case waits on.
pub const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// Runs every case against `store`, one after another.
pub async fn run_all(store: Arc<dyn MetadataStore>) {
    get_put_delete_and_versions(store.clone()).await;
    cas_on_absent_and_version(store.clone()).await;
    cas_race_counts_exactly(store.clone()).await;
    list_paginates_within_prefix(store.clone()).await;
    watch_delivers_changes_in_order(store.clone()).await;
    watch_resumes_from_revision(store.clone()).await;
    watch_single_key_ignores_siblings(store.clone()).await;
    session_expiry_deletes_ephemeral_keys(store.clone()).await;
    revoke_deletes_ephemeral_keys_immediately(store.clone()).await;
    leader_election_fails_over(store.clone()).await;
    counter_is_monotonic_under_concurrency(store.clone()).await;
    limits_and_key_validation(store).await;
}

/// Awaits `future`, failing the test with `what` if it takes over [`WAIT_LIMIT`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT_LIMIT, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT_LIMIT:?} waiting for {what}"),
    }
}
