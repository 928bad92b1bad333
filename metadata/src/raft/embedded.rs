//! [`EmbeddedRaft`]: a single-voter Raft group inside the current process,
//! for `magnetar standalone`. No network listener: the only voter commits
//! alone, so writes cost one synced RocksDB write, and the same durability
//! (log, snapshots, purge) as a replicated group applies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, ServerState};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::{
    Expected, ListPage, MetadataStore, PutOptions, Result, SessionId, Version, Versioned,
    WatchStream, WatchTarget,
};

use super::error::RaftBackendError;
use super::expiry::run_session_expiry;
use super::raft_store::RaftStore;
use super::startup::{start_node, RaftTuning};

/// The id of the only voter of an embedded group.
const EMBEDDED_NODE_ID: u64 = 1;

/// How long opening waits for the single voter to elect itself.
const LEADER_WAIT: Duration = Duration::from_secs(10);

/// A single-voter metadata store in this process. Dropping it stops the
/// expiry ticker; [`EmbeddedRaft::shutdown`] also stops Raft and closes the
/// storage (needed before reopening the same directory in one process).
pub struct EmbeddedRaft {
    store: RaftStore,
    stop: CancellationToken,
    expiry_task: parking_lot::Mutex<Option<JoinHandle<()>>>,
    data_dir: PathBuf,
}

impl EmbeddedRaft {
    /// Opens (creating if needed) the store in `data_dir` with default tuning.
    pub async fn open(data_dir: &Path) -> Result<Arc<dyn MetadataStore>, RaftBackendError> {
        let embedded = Self::start(data_dir, RaftTuning::default()).await?;
        Ok(Arc::new(embedded))
    }

    /// Opens the store with explicit tuning, returning the concrete handle.
    pub async fn start(
        data_dir: &Path,
        tuning: RaftTuning,
    ) -> Result<EmbeddedRaft, RaftBackendError> {
        let node = start_node(EMBEDDED_NODE_ID, data_dir, &tuning).await?;
        let members = BTreeMap::from([(
            EMBEDDED_NODE_ID,
            BasicNode {
                addr: String::new(),
            },
        )]);
        match node.raft().initialize(members).await {
            Ok(()) => {
                tracing::info!(data_dir = %data_dir.display(), "initialized embedded metadata group")
            }
            // Already initialized: a restart. Harmless.
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
            Err(RaftError::APIError(e)) => return Err(RaftBackendError::Config(e.to_string())),
            Err(RaftError::Fatal(fatal)) => return Err(fatal.into()),
        }
        node.raft()
            .wait(Some(LEADER_WAIT))
            .state(ServerState::Leader, "embedded voter elects itself")
            .await
            .map_err(|_| RaftBackendError::NoLeader(LEADER_WAIT))?;
        let stop = CancellationToken::new();
        let expiry_task = tokio::spawn(run_session_expiry(
            Arc::clone(&node),
            tuning.expiry_tick,
            stop.clone(),
        ));
        Ok(EmbeddedRaft {
            store: RaftStore::new(node),
            stop,
            expiry_task: parking_lot::Mutex::new(Some(expiry_task)),
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// The store (also usable through `self`, which implements the trait).
    pub fn store(&self) -> &RaftStore {
        &self.store
    }

    /// Stops the expiry ticker and Raft, closing the storage.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let task = self.expiry_task.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
        if let Err(error) = self.store.node().raft().shutdown().await {
            tracing::warn!(%error, data_dir = %self.data_dir.display(), "embedded raft did not stop cleanly");
        }
    }
}

impl Drop for EmbeddedRaft {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[async_trait]
impl MetadataStore for EmbeddedRaft {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        self.store.get(key).await
    }

    async fn put(&self, key: &str, value: Bytes, options: PutOptions) -> Result<Version> {
        self.store.put(key, value, options).await
    }

    async fn delete(&self, key: &str, expected: Expected) -> Result<()> {
        self.store.delete(key, expected).await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage> {
        self.store.list(prefix, start_after, limit).await
    }

    async fn watch(
        &self,
        target: WatchTarget,
        from_revision: Option<Version>,
    ) -> Result<WatchStream> {
        self.store.watch(target, from_revision).await
    }

    async fn current_revision(&self) -> Result<Version> {
        self.store.current_revision().await
    }

    async fn create_session(&self, ttl: Duration) -> Result<SessionId> {
        self.store.create_session(ttl).await
    }

    async fn keep_alive(&self, session: SessionId) -> Result<()> {
        self.store.keep_alive(session).await
    }

    async fn revoke_session(&self, session: SessionId) -> Result<()> {
        self.store.revoke_session(session).await
    }
}
