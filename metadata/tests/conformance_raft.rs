//! The conformance suite against the embedded Raft backend: the in-process
//! single voter (`magnetar standalone`) and a 3-voter group reached through
//! `RaftClientStore` over gRPC.

use std::sync::Arc;
use std::time::Duration;

use magnetar_metadata::raft::test_group::{test_tuning, RaftTestGroup};
use magnetar_metadata::raft::EmbeddedRaft;
use magnetar_metadata::testing::TestBackend;

async fn embedded_backend() -> TestBackend {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedRaft::start(dir.path(), test_tuning())
        .await
        .expect("open embedded raft");
    TestBackend::with_guard(Arc::new(store), dir)
}

async fn three_node_backend() -> TestBackend {
    let group = RaftTestGroup::start(3, test_tuning())
        .await
        .expect("start group");
    group
        .wait_for_leader(None, Duration::from_secs(15))
        .await
        .expect("a leader is elected");
    let store = group.client();
    TestBackend::with_guard(Arc::new(store), group)
}

mod embedded {
    use super::*;
    magnetar_metadata::metadata_conformance_tests!(embedded_backend);
}

mod three_nodes {
    use super::*;
    magnetar_metadata::metadata_conformance_tests!(three_node_backend);
}
