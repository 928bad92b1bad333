//! [`ManagedLedger`]: the public handle of one topic's log.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use magnetar_metadata::{Expected, MetadataError, PutOptions};
use tokio::sync::{oneshot, watch};

use super::ack_state::AckState;
use super::cursor::ManagedCursor;
use super::inner::{MlInner, Status};
use super::stored::{cursor_key, decode, encode, validate_name, StoredCursor};
use super::writer::WriterCommand;
use super::{Entry, InitialPosition, ManagedLedgerError, Position};

/// Counters of a managed ledger, for stats and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ManagedLedgerStats {
    /// Entries in the retained ledgers.
    pub entries: u64,
    /// Payload bytes in the retained ledgers.
    pub size_bytes: u64,
    /// Retained ledgers, the current one included.
    pub ledgers: usize,
    pub cursors: usize,
    pub last_confirmed: Option<Position>,
}

pub struct ManagedLedger {
    pub(crate) inner: Arc<MlInner>,
}

impl ManagedLedger {
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Appends `data`. Adds are ordered by call; the futures resolve in that
    /// order once the entry is durable on `ack_quorum` bookies.
    pub fn add_entry(
        &self,
        data: Bytes,
    ) -> BoxFuture<'static, Result<Position, ManagedLedgerError>> {
        if let Some(error) = self.inner.status_error() {
            return futures::future::ready(Err(error)).boxed();
        }
        let (reply, done) = oneshot::channel();
        if self
            .inner
            .commands
            .send(WriterCommand::Add { data, reply })
            .is_err()
        {
            return futures::future::ready(Err(self.stopped_error())).boxed();
        }
        let inner = self.inner.clone();
        async move {
            match done.await {
                Ok(result) => result,
                Err(_) => Err(inner.status_error().unwrap_or(ManagedLedgerError::Closed {
                    name: inner.name.clone(),
                })),
            }
        }
        .boxed()
    }

    fn stopped_error(&self) -> ManagedLedgerError {
        self.inner
            .status_error()
            .unwrap_or(ManagedLedgerError::Closed {
                name: self.inner.name.clone(),
            })
    }

    /// The last durable entry; `None` when no entry is retained.
    pub fn last_confirmed(&self) -> Option<Position> {
        self.inner.last_confirmed()
    }

    /// Changes whenever an add is confirmed; tailing readers wait on it.
    pub fn watch_last_confirmed(&self) -> watch::Receiver<Option<Position>> {
        self.inner.lac_tx.subscribe()
    }

    pub fn is_open(&self) -> bool {
        self.inner.status() == Status::Open
    }

    pub fn is_fenced(&self) -> bool {
        self.inner.status() == Status::Fenced
    }

    /// Opens (creating if needed, persisted at once) the durable cursor `name`.
    pub async fn open_cursor(
        &self,
        name: &str,
        initial: InitialPosition,
    ) -> Result<Arc<ManagedCursor>, ManagedLedgerError> {
        validate_name(name, false)?;
        if let Some(error) = self.inner.status_error() {
            return Err(error);
        }
        if let Some(cursor) = self.inner.cursors.lock().get(name) {
            return Ok(cursor.clone());
        }
        let key = cursor_key(&self.inner.name, name);
        let (acks, stored) = {
            let layout = self.inner.layout.read();
            let mark_delete = match initial {
                InitialPosition::Earliest => layout.first_offset() - 1,
                InitialPosition::Latest => layout.last_confirmed_offset(),
            };
            let stored = StoredCursor {
                mark_delete: layout.position_of(mark_delete),
                individually_acked: Vec::new(),
                properties: Default::default(),
            };
            (AckState::new(mark_delete), stored)
        };
        let put = self
            .inner
            .metadata
            .put(&key, encode(&stored), PutOptions::expect(Expected::Absent))
            .await;
        let cursor = match put {
            Ok(version) => ManagedCursor::new(
                self.inner.clone(),
                name,
                acks,
                stored.properties,
                Some(version),
            ),
            Err(MetadataError::BadVersion { .. }) => {
                // Created concurrently by another handle: adopt the stored state.
                let existing = self
                    .inner
                    .metadata
                    .get(&key)
                    .await?
                    .ok_or_else(|| self.inner.fenced())?;
                let parsed: StoredCursor = decode(&key, &existing.value)?;
                let acks = ManagedCursor::acks_from_stored(&self.inner.layout.read(), &parsed);
                ManagedCursor::new(
                    self.inner.clone(),
                    name,
                    acks,
                    parsed.properties,
                    Some(existing.version),
                )
            }
            Err(error) => return Err(error.into()),
        };
        tracing::info!(managed_ledger = %self.inner.name, cursor = name, "opened cursor");
        let mut cursors = self.inner.cursors.lock();
        Ok(cursors
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(cursor))
            .clone())
    }

    /// Removes the cursor and its stored state; its data no longer pins ledgers.
    pub async fn delete_cursor(&self, name: &str) -> Result<(), ManagedLedgerError> {
        let removed = self.inner.cursors.lock().remove(name);
        let key = cursor_key(&self.inner.name, name);
        let existed = match self.inner.metadata.get(&key).await? {
            Some(_) => {
                self.inner.metadata.delete(&key, Expected::Any).await?;
                true
            }
            None => false,
        };
        if removed.is_none() && !existed {
            return Err(ManagedLedgerError::NoSuchCursor(name.to_string()));
        }
        self.inner.request_trim();
        Ok(())
    }

    pub fn cursor_names(&self) -> Vec<String> {
        self.inner.cursors.lock().keys().cloned().collect()
    }

    pub fn cursor(&self, name: &str) -> Option<Arc<ManagedCursor>> {
        self.inner.cursors.lock().get(name).cloned()
    }

    pub async fn read_entry(&self, position: Position) -> Result<Entry, ManagedLedgerError> {
        self.inner.read_entry(position).await
    }

    /// Persists every cursor now.
    pub async fn flush_cursors(&self) -> Result<(), ManagedLedgerError> {
        for cursor in self.inner.cursor_snapshot() {
            cursor.flush().await?;
        }
        Ok(())
    }

    /// Settles pending adds, closes the current ledger (recording its final
    /// length), persists the cursors and stops the background tasks.
    /// Idempotent; on a fenced ledger it only stops the tasks.
    pub async fn close(&self) -> Result<(), ManagedLedgerError> {
        let (reply, done) = oneshot::channel();
        let writer_result = if self
            .inner
            .commands
            .send(WriterCommand::Close { reply })
            .is_ok()
        {
            done.await.unwrap_or(Ok(()))
        } else {
            Ok(())
        };
        let flush_result = if self.inner.status() == Status::Open {
            self.flush_cursors().await
        } else {
            Ok(())
        };
        self.inner.shutdown.cancel();
        {
            let mut status = self.inner.status.lock();
            if *status == Status::Open {
                *status = Status::Closed;
            }
        }
        self.inner.cursors.lock().clear();
        tracing::info!(managed_ledger = %self.inner.name, "closed managed ledger");
        writer_result.and(flush_result)
    }

    pub fn stats(&self) -> ManagedLedgerStats {
        let (entries, size_bytes, ledgers) = {
            let layout = self.inner.layout.read();
            let (entries, bytes) = layout.totals();
            (entries, bytes, layout.slots().len())
        };
        ManagedLedgerStats {
            entries,
            size_bytes,
            ledgers,
            cursors: self.inner.cursors.lock().len(),
            last_confirmed: self.last_confirmed(),
        }
    }

    /// Stores a managed-ledger property (CAS on the ledger list).
    pub async fn set_property(&self, key: &str, value: &str) -> Result<(), ManagedLedgerError> {
        let mut state = self.inner.list.lock().await;
        let mut list = state.list.clone();
        list.properties.insert(key.to_string(), value.to_string());
        self.inner.cas_list(&mut state, list).await
    }

    pub async fn properties(&self) -> std::collections::BTreeMap<String, String> {
        self.inner.list.lock().await.list.properties.clone()
    }
}
