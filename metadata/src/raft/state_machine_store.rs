//! openraft's state-machine storage for the metadata group: applies
//! committed entries to the shared [`AppliedState`], builds snapshots from
//! the serialized [`crate::state_machine::KvStateMachine`] and keeps the
//! latest one in a [`SnapshotFile`].
//!
//! Durability order:
//! - A built snapshot is on disk (tmp → fsync → rename → fsync dir) before
//!   `build_snapshot` returns; openraft purges log entries only after that,
//!   so every purged entry is covered by a durable snapshot.
//! - An installed snapshot (received from the leader) is written to disk
//!   before it replaces the in-memory state, so a crash right after install
//!   restarts from it rather than from an older state with a purged log.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder,
    StorageIOError, StoredMembership,
};

use crate::state_machine::KvStateMachine;

use super::applied_state::{AppliedInner, AppliedState};
use super::snapshot_file::SnapshotFile;
use super::types::{
    ApplyResponse, LogEntry, MetaLogId, MetaMembership, MetaSnapshotMeta, MetaStorageError,
    TypeConfig,
};

/// The state-machine half of the node's storage. Cloning shares everything.
#[derive(Clone)]
pub struct StateMachineStore {
    state: Arc<AppliedState>,
    file: SnapshotFile,
    /// Distinguishes snapshots built at the same log index.
    snapshot_seq: Arc<AtomicU64>,
}

impl StateMachineStore {
    /// Restores the applied state from the snapshot file, if there is one.
    // openraft's `StorageError`, by value as its storage traits return it.
    #[allow(clippy::result_large_err)]
    pub fn open(file: SnapshotFile) -> Result<Self, MetaStorageError> {
        let inner = match file
            .load::<MetaSnapshotMeta>()
            .map_err(|e| snapshot_error(ErrorVerb::Read, &e))?
        {
            None => AppliedInner::default(),
            Some((meta, data)) => {
                tracing::info!(snapshot_id = %meta.snapshot_id, "restoring metadata state from snapshot");
                restore(&meta, &data)?
            }
        };
        Ok(StateMachineStore {
            state: Arc::new(AppliedState::new(inner)),
            file,
            snapshot_seq: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The shared applied state (for reads and watches).
    pub fn state(&self) -> Arc<AppliedState> {
        Arc::clone(&self.state)
    }
}

#[allow(clippy::result_large_err)] // openraft's `StorageError`, as in `open`
fn restore(meta: &MetaSnapshotMeta, data: &[u8]) -> Result<AppliedInner, MetaStorageError> {
    let kv: KvStateMachine =
        serde_json::from_slice(data).map_err(|e| snapshot_error(ErrorVerb::Read, &e))?;
    Ok(AppliedInner {
        kv,
        last_applied: meta.last_log_id,
        membership: meta.last_membership.clone(),
    })
}

fn snapshot_error(verb: ErrorVerb, e: &(dyn std::error::Error + 'static)) -> MetaStorageError {
    StorageIOError::new(
        ErrorSubject::Snapshot(None),
        verb,
        AnyError::from_dyn(e, None),
    )
    .into()
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, MetaStorageError> {
        let (data, last_applied, membership) = self
            .state
            .read(|inner| {
                serde_json::to_vec(&inner.kv)
                    .map(|data| (data, inner.last_applied, inner.membership.clone()))
            })
            .map_err(|e| snapshot_error(ErrorVerb::Write, &e))?;
        let seq = self.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match last_applied {
            Some(log_id) => format!("{}-{}-{seq}", log_id.leader_id, log_id.index),
            None => format!("none-{seq}"),
        };
        let meta = MetaSnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        let file = self.file.clone();
        let (meta, data) =
            tokio::task::spawn_blocking(move || file.save(&meta, &data).map(|()| (meta, data)))
                .await
                .map_err(|e| snapshot_error(ErrorVerb::Write, &e))?
                .map_err(|e| snapshot_error(ErrorVerb::Write, &e))?;
        tracing::info!(snapshot_id = %meta.snapshot_id, bytes = data.len(), "metadata snapshot persisted");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<MetaLogId>, MetaMembership), MetaStorageError> {
        Ok(self
            .state
            .read(|inner| (inner.last_applied, inner.membership.clone())))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyResponse>, MetaStorageError>
    where
        I: IntoIterator<Item = LogEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut responses = Vec::new();
        for entry in entries {
            let response = match entry.payload {
                EntryPayload::Blank => {
                    self.state.apply_other(entry.log_id, None);
                    ApplyResponse(Vec::new())
                }
                EntryPayload::Membership(membership) => {
                    let stored = StoredMembership::new(Some(entry.log_id), membership);
                    self.state.apply_other(entry.log_id, Some(stored));
                    ApplyResponse(Vec::new())
                }
                EntryPayload::Normal(batch) => ApplyResponse(
                    batch
                        .0
                        .into_iter()
                        .map(|command| self.state.apply_command(entry.log_id, command))
                        .collect(),
                ),
            };
            responses.push(response);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, MetaStorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &MetaSnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), MetaStorageError> {
        let data = snapshot.into_inner();
        let restored = restore(meta, &data)?;
        let file = self.file.clone();
        let meta_copy = meta.clone();
        // On disk before it replaces the in-memory state (see module docs).
        tokio::task::spawn_blocking(move || file.save(&meta_copy, &data))
            .await
            .map_err(|e| snapshot_error(ErrorVerb::Write, &e))?
            .map_err(|e| snapshot_error(ErrorVerb::Write, &e))?;
        tracing::info!(snapshot_id = %meta.snapshot_id, "installed metadata snapshot from leader");
        self.state.replace(restored);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, MetaStorageError> {
        let file = self.file.clone();
        let loaded = tokio::task::spawn_blocking(move || file.load::<MetaSnapshotMeta>())
            .await
            .map_err(|e| snapshot_error(ErrorVerb::Read, &e))?
            .map_err(|e| snapshot_error(ErrorVerb::Read, &e))?;
        Ok(loaded.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
