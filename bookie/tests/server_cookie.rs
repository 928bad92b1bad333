//! Cookie checks and self-initialization against a metadata store.

mod server_common;

use std::sync::Arc;

use magnetar_bookie::node::{RunningBookie, StartOptions};
use magnetar_bookie::server::{BookieConfig, StartError};
use magnetar_metadata::{MemoryStore, MetadataStore};
use server_common::*;
use tokio::net::TcpListener;

async fn try_start(
    config: BookieConfig,
    store: &Arc<dyn MetadataStore>,
) -> Result<RunningBookie, StartError> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    RunningBookie::start(config, listener, StartOptions::with_metadata(store.clone())).await
}

fn config_with_id(dir: &std::path::Path, id: &str) -> BookieConfig {
    let mut config = test_config(dir);
    config.advertised_address = Some(id.to_string());
    config
}

#[tokio::test]
async fn first_start_initializes_and_restarts_pass_the_cookie_check() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let bookie = try_start(config_with_id(dir.path(), "bookie-a:3181"), &store)
        .await
        .unwrap();
    let instance = store
        .get("/bookies/instance-id")
        .await
        .unwrap()
        .expect("first bookie creates the instance id");
    assert!(store
        .get("/bookies/cookies/bookie-a:3181")
        .await
        .unwrap()
        .is_some());
    assert!(store
        .get("/bookies/available/bookie-a:3181")
        .await
        .unwrap()
        .is_some());
    assert!(dir.path().join("current/VERSION").exists());
    bookie.shutdown().await;
    assert!(store
        .get("/bookies/available/bookie-a:3181")
        .await
        .unwrap()
        .is_none());

    let again = try_start(config_with_id(dir.path(), "bookie-a:3181"), &store)
        .await
        .unwrap();
    again.shutdown().await;
    let unchanged = store.get("/bookies/instance-id").await.unwrap().unwrap();
    assert_eq!(
        unchanged.value, instance.value,
        "the instance id is created once"
    );
}

#[tokio::test]
async fn wiped_disk_changed_id_and_missing_remote_cookie_refuse_to_start() {
    init_tracing();
    let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let dir = tempfile::tempdir().unwrap();
    try_start(config_with_id(dir.path(), "bookie-b:3181"), &store)
        .await
        .unwrap()
        .shutdown()
        .await;

    tracing::info!("phase: local cookie gone (wiped disk) but registered remotely");
    let cookie = dir.path().join("current/VERSION");
    let saved = std::fs::read(&cookie).unwrap();
    std::fs::remove_file(&cookie).unwrap();
    let result = try_start(config_with_id(dir.path(), "bookie-b:3181"), &store).await;
    assert!(
        matches!(result, Err(StartError::CookieMismatch(_))),
        "{:?}",
        result.err()
    );
    std::fs::write(&cookie, &saved).unwrap();

    tracing::info!("phase: same disk under a different bookie id");
    let result = try_start(config_with_id(dir.path(), "bookie-c:3181"), &store).await;
    assert!(
        matches!(result, Err(StartError::CookieMismatch(_))),
        "{:?}",
        result.err()
    );

    tracing::info!("phase: remote cookie deleted");
    store
        .delete(
            "/bookies/cookies/bookie-b:3181",
            magnetar_metadata::Expected::Any,
        )
        .await
        .unwrap();
    let result = try_start(config_with_id(dir.path(), "bookie-b:3181"), &store).await;
    assert!(
        matches!(result, Err(StartError::CookieMismatch(_))),
        "{:?}",
        result.err()
    );

    tracing::info!("phase: a different cluster (fresh store) refuses the old disk");
    let other: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let result = try_start(config_with_id(dir.path(), "bookie-b:3181"), &other).await;
    assert!(
        matches!(result, Err(StartError::CookieMismatch(_))),
        "{:?}",
        result.err()
    );
}
