//! The conformance suite against the in-memory backend.

use std::sync::Arc;

use magnetar_metadata::testing::TestBackend;
use magnetar_metadata::MemoryStore;

async fn memory_backend() -> TestBackend {
    TestBackend::new(Arc::new(MemoryStore::new()))
}

magnetar_metadata::metadata_conformance_tests!(memory_backend);
