//! [`ManagedLedger`]: the public handle of one topic's log.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::{oneshot, watch};

use super::config::{InitialPosition, Retention};
use super::confirmed::ConfirmedLog;
use super::cursor::ManagedCursor;
use super::cursor_context::CursorContext;
use super::cursor_set::CursorSet;
use super::error::ManagedLedgerError;
use super::list::LedgerList;
use super::position::{Entry, Position};
use super::read::EntryReader;
use super::status::{MlStatus, Status};
use super::stored::validate_name;
use super::writability::Writability;
use super::writer::MlCommand;

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

/// The handle of an open managed ledger. Adds go to its writer task; reads,
/// cursors and stats read the [`ConfirmedLog`] the writer task publishes.
pub struct ManagedLedger {
    status: Arc<MlStatus>,
    commands: mpsc::UnboundedSender<MlCommand>,
    log: Arc<ConfirmedLog>,
    list: Arc<LedgerList>,
    reads: Arc<EntryReader>,
    cursors: Arc<CursorSet>,
    cursor_context: Arc<CursorContext>,
}

impl ManagedLedger {
    /// The handle over the parts the factory assembled; the writer task
    /// listens on the other end of `commands`.
    pub(crate) fn new(
        status: Arc<MlStatus>,
        commands: mpsc::UnboundedSender<MlCommand>,
        log: Arc<ConfirmedLog>,
        list: Arc<LedgerList>,
        reads: Arc<EntryReader>,
        cursors: Arc<CursorSet>,
        cursor_context: Arc<CursorContext>,
    ) -> Self {
        ManagedLedger {
            status,
            commands,
            log,
            list,
            reads,
            cursors,
            cursor_context,
        }
    }

    pub fn name(&self) -> &str {
        self.status.name()
    }

    /// Appends `data`. Adds are ordered by call; the futures resolve in that
    /// order once the entry is durable on `ack_quorum` bookies.
    pub fn add_entry(
        &self,
        data: Bytes,
    ) -> BoxFuture<'static, Result<Position, ManagedLedgerError>> {
        if let Some(error) = self.status.error() {
            return futures::future::ready(Err(error)).boxed();
        }
        if self.status.terminated().is_some() {
            return futures::future::ready(Err(self.status.terminated_error())).boxed();
        }
        let (reply, done) = oneshot::channel();
        if self
            .commands
            .unbounded_send(MlCommand::Add { data, reply })
            .is_err()
        {
            return futures::future::ready(Err(self.status.stopped())).boxed();
        }
        let status = self.status.clone();
        async move {
            match done.await {
                Ok(result) => result,
                Err(_) => Err(status.stopped()),
            }
        }
        .boxed()
    }

    /// The last durable entry; `None` when no entry is retained.
    pub fn last_confirmed(&self) -> Option<Position> {
        self.log.last_confirmed()
    }

    /// Changes whenever an add is confirmed; tailing readers wait on it.
    pub fn watch_last_confirmed(&self) -> watch::Receiver<Option<Position>> {
        self.log.watch_last_confirmed()
    }

    /// Terminates the log: adds accepted before settle first, every later
    /// add fails with `Terminated`, and the position of the last entry
    /// (`(L, -1)` when there is none) is stored with the ledger list, so it
    /// holds across restarts. Terminating again returns the same position.
    pub async fn terminate(&self) -> Result<Position, ManagedLedgerError> {
        if let Some(position) = self.status.terminated() {
            return Ok(position);
        }
        if let Some(error) = self.status.error() {
            return Err(error);
        }
        let (reply, done) = oneshot::channel();
        if self
            .commands
            .unbounded_send(MlCommand::Terminate { reply })
            .is_err()
        {
            return Err(self.status.stopped());
        }
        done.await.unwrap_or_else(|_| Err(self.status.stopped()))
    }

    /// The last entry for good, once terminated.
    pub fn terminated_at(&self) -> Option<Position> {
        self.status.terminated()
    }

    pub fn is_terminated(&self) -> bool {
        self.status.terminated().is_some()
    }

    pub fn is_open(&self) -> bool {
        self.status.get() == Status::Open
    }

    pub fn is_fenced(&self) -> bool {
        self.status.get() == Status::Fenced
    }

    /// Whether adds can be written now (writable, degraded or not writable),
    /// and why not.
    pub fn writability(&self) -> Writability {
        self.status.writability()
    }

    /// Opens (creating if needed, persisted at once) the durable cursor `name`.
    pub async fn open_cursor(
        &self,
        name: &str,
        initial: InitialPosition,
    ) -> Result<Arc<ManagedCursor>, ManagedLedgerError> {
        validate_name(name, false)?;
        if let Some(error) = self.status.error() {
            return Err(error);
        }
        if let Some(cursor) = self.cursors.get(name) {
            return Ok(cursor);
        }
        let cursor = ManagedCursor::create(&self.cursor_context, name, initial).await?;
        tracing::info!(managed_ledger = %self.name(), cursor = name, "opened cursor");
        Ok(self.cursors.insert_if_absent(cursor))
    }

    /// Opens a non-durable cursor (a reader) whose first read is the first
    /// entry at or after `start`. It is never stored and never holds back
    /// trimming; [`Self::close_non_durable_cursor`] forgets it.
    pub fn open_non_durable_cursor(
        &self,
        name: &str,
        start: Position,
    ) -> Result<Arc<ManagedCursor>, ManagedLedgerError> {
        validate_name(name, false)?;
        if let Some(error) = self.status.error() {
            return Err(error);
        }
        if self.cursors.get(name).is_some() {
            return Err(ManagedLedgerError::InvalidName {
                name: name.to_string(),
                reason: "a subscription or reader of this name exists",
            });
        }
        let cursor = ManagedCursor::non_durable(&self.cursor_context, name, start);
        Ok(self.cursors.insert_if_absent(cursor))
    }

    /// Forgets a non-durable cursor (its reader closed); durable ones stay.
    pub fn close_non_durable_cursor(&self, name: &str) {
        if let Some(cursor) = self.cursors.get(name) {
            if !cursor.is_durable() {
                self.cursors.remove(name);
            }
        }
    }

    /// The first entry whose publish time is at or after `publish_time`
    /// (milliseconds), by binary search over the retained entries, which
    /// assumes publish times grow along the log; one past the last entry
    /// when every entry is older.
    pub async fn find_by_publish_time(
        &self,
        publish_time: u64,
    ) -> Result<Position, ManagedLedgerError> {
        let (mut low, mut high) = {
            let layout = self.log.layout();
            (layout.first_offset(), layout.last_confirmed_offset() + 1)
        };
        while low < high {
            let middle = low + (high - low) / 2;
            let position = self.log.layout().position_of(middle);
            let entry = self.reads.read_entry(position).await?;
            let published =
                magnetar_proto::pulsar::decode_metadata(&entry.data).map_or(0, |m| m.publish_time);
            if published < publish_time {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        Ok(self.log.layout().position_of(low))
    }

    /// Removes the cursor and its stored state; its data no longer pins ledgers.
    pub async fn delete_cursor(&self, name: &str) -> Result<(), ManagedLedgerError> {
        let removed = self.cursors.remove(name);
        if let Some(cursor) = &removed {
            cursor.retire().await;
        }
        let existed = self.cursor_context.delete_stored(name).await?;
        if removed.is_none() && !existed {
            return Err(ManagedLedgerError::NoSuchCursor(name.to_string()));
        }
        self.cursor_context.request_trim();
        Ok(())
    }

    pub fn cursor_names(&self) -> Vec<String> {
        self.cursors.names()
    }

    pub fn cursor(&self, name: &str) -> Option<Arc<ManagedCursor>> {
        self.cursors.get(name)
    }

    pub async fn read_entry(&self, position: Position) -> Result<Entry, ManagedLedgerError> {
        self.reads.read_entry(position).await
    }

    /// Up to `max` stored entries after `after`, up to and including
    /// `upto`, oldest first; trimmed entries are passed over.
    pub async fn read_after(
        &self,
        after: Position,
        upto: Position,
        max: usize,
    ) -> Result<Vec<Entry>, ManagedLedgerError> {
        let (from, to) = {
            let layout = self.log.layout();
            (
                (layout.clamped_offset_of(after) + 1).max(layout.first_offset()),
                layout
                    .clamped_offset_of(upto)
                    .min(layout.last_confirmed_offset()),
            )
        };
        let mut entries = Vec::new();
        let mut offset = from;
        while offset <= to && entries.len() < max {
            let position = self.log.layout().position_of(offset);
            entries.push(self.reads.read_entry(position).await?);
            offset += 1;
        }
        Ok(entries)
    }

    /// Persists every cursor now.
    pub async fn flush_cursors(&self) -> Result<(), ManagedLedgerError> {
        for cursor in self.cursors.snapshot() {
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
            .commands
            .unbounded_send(MlCommand::Close { reply })
            .is_ok()
        {
            done.await.unwrap_or(Ok(()))
        } else {
            Ok(())
        };
        let flush_result = if self.status.get() == Status::Open {
            self.flush_cursors().await
        } else {
            Ok(())
        };
        self.status.close();
        self.cursors.clear();
        tracing::info!(managed_ledger = %self.name(), "closed managed ledger");
        writer_result.and(flush_result)
    }

    pub fn stats(&self) -> ManagedLedgerStats {
        let (entries, size_bytes, ledgers) = {
            let layout = self.log.layout();
            let (entries, bytes) = layout.totals();
            (entries, bytes, layout.slots().len())
        };
        ManagedLedgerStats {
            entries,
            size_bytes,
            ledgers,
            cursors: self.cursors.len(),
            last_confirmed: self.last_confirmed(),
        }
    }

    /// Applies a retention (a namespace's policy); trimming follows it
    /// from the next maintenance pass.
    pub fn set_retention(&self, retention: Retention) {
        if self.cursor_context.trim().retention() != retention {
            self.cursor_context.trim().set_retention(retention);
        }
    }

    pub fn retention(&self) -> Retention {
        self.cursor_context.trim().retention()
    }

    /// The `n`-th retained entry counted from the oldest (`from_end`
    /// false) or from the newest (true), 1 being the first; `None` when
    /// there are fewer.
    pub fn nth_entry(&self, n: u64, from_end: bool) -> Option<Position> {
        let layout = self.log.layout();
        let (first, last) = (layout.first_offset(), layout.last_confirmed_offset());
        let n = i64::try_from(n).ok().filter(|&n| n >= 1)?;
        let offset = if from_end {
            last.checked_sub(n - 1)?
        } else {
            first.checked_add(n - 1)?
        };
        (first..=last)
            .contains(&offset)
            .then(|| layout.position_of(offset))
    }

    /// The retained ledgers, oldest first: `(ledger id, confirmed
    /// entries, confirmed bytes)`.
    pub fn ledgers(&self) -> Vec<(u64, i64, u64)> {
        self.log
            .layout()
            .slots()
            .iter()
            .map(|slot| (slot.ledger_id, slot.entries, slot.size))
            .collect()
    }

    /// Stores a managed-ledger property (CAS on the ledger list).
    pub async fn set_property(&self, key: &str, value: &str) -> Result<(), ManagedLedgerError> {
        let mut list_guard = self.list.lock().await;
        let mut list = list_guard.current().clone();
        list.properties.insert(key.to_string(), value.to_string());
        list_guard.cas(list).await
    }

    pub async fn properties(&self) -> BTreeMap<String, String> {
        self.list.lock().await.current().properties.clone()
    }
}
