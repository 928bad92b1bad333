//! Test support shared with other crates' tests (cargo feature `testing`):
//! a real-etcd harness ([`EtcdServer`]) and the backend conformance suite
//! ([`conformance`], instantiated per backend with
//! [`crate::metadata_conformance_tests!`]).

pub mod conformance;
mod etcd_server;

use std::any::Any;
use std::sync::Arc;

pub use etcd_server::{EtcdPlacement, EtcdServer, EtcdTlsFiles};

use crate::store::MetadataStore;

/// A store under test plus whatever must stay alive while it is used (an
/// etcd process, a Raft cluster). Dropping it tears everything down.
pub struct TestBackend {
    pub store: Arc<dyn MetadataStore>,
    _guard: Option<Box<dyn Any + Send>>,
}

impl TestBackend {
    pub fn new(store: Arc<dyn MetadataStore>) -> Self {
        TestBackend {
            store,
            _guard: None,
        }
    }

    /// Keeps `guard` alive as long as the backend.
    pub fn with_guard(store: Arc<dyn MetadataStore>, guard: impl Any + Send) -> Self {
        TestBackend {
            store,
            _guard: Some(Box::new(guard)),
        }
    }
}

/// Generates one `#[tokio::test]` per conformance case for a backend.
/// `$make` is an `async fn() -> TestBackend`; the calling crate needs
/// `tokio` as a (dev-)dependency.
///
/// ```ignore
/// async fn memory_backend() -> TestBackend { TestBackend::new(Arc::new(MemoryStore::new())) }
/// magnetar_metadata::metadata_conformance_tests!(memory_backend);
/// ```
#[macro_export]
macro_rules! metadata_conformance_tests {
    ($make:path) => {
        $crate::metadata_conformance_tests!(@cases $make;
            get_put_delete_and_versions,
            cas_on_absent_and_version,
            cas_race_counts_exactly,
            list_paginates_within_prefix,
            watch_delivers_changes_in_order,
            watch_resumes_from_revision,
            watch_single_key_ignores_siblings,
            session_expiry_deletes_ephemeral_keys,
            revoke_deletes_ephemeral_keys_immediately,
            leader_election_fails_over,
            counter_is_monotonic_under_concurrency,
            limits_and_key_validation,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let backend = $make().await;
                $crate::testing::conformance::$case(backend.store.clone()).await;
            }
        )*
    };
}
