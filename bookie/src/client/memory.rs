//! [`MemoryLedgerStore`]: an in-memory [`LedgerStore`] for unit tests of the
//! layers above the ledger client (managed ledger, cursors, dispatch).
//!
//! It keeps the semantics callers rely on, without bookies:
//! - entry ids are assigned when `append` is called and futures complete in
//!   entry order (here: immediately, every append is "durable" at once);
//! - `open(.., OpenMode::Recover)` fences the ledger and closes it at its last
//!   entry: the old writer's later appends fail with [`LedgerError::Fenced`],
//!   and its `close` succeeds only if it agrees on the last entry;
//! - non-recovering readers never read beyond the LAC they observed;
//! - a wrong password is [`LedgerError::Unauthorized`], ids are never reused.
//!
//! Failure injection ([`MemoryLedgerStore::fail_next_append`],
//! [`MemoryLedgerStore::set_bookies_available`]) lets tests drive error paths.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::{self, BoxFuture, FutureExt};
use parking_lot::Mutex;

use crate::ledger::{
    ClosedLedger, EntryId, LedgerError, LedgerId, LedgerOptions, LedgerReader, LedgerStore,
    LedgerWriter, OpenMode,
};

/// Largest payload accepted, the same limit as the real client.
pub const MEMORY_ENTRY_SIZE_LIMIT: usize = crate::client::config::DEFAULT_MAX_ENTRY_SIZE;

/// An in-memory ledger store. Cheap to clone; clones share the ledgers.
#[derive(Clone, Default)]
pub struct MemoryLedgerStore {
    state: Arc<Mutex<StoreState>>,
}

#[derive(Default)]
struct StoreState {
    next_id: LedgerId,
    ledgers: BTreeMap<LedgerId, MemoryLedger>,
    bookies_unavailable: bool,
    next_append_failure: Option<LedgerError>,
}

struct MemoryLedger {
    options: LedgerOptions,
    entries: Vec<Bytes>,
    length: u64,
    closed: Option<ClosedLedger>,
    /// Set by a recovering open: the writer may no longer append.
    fenced: bool,
}

impl MemoryLedger {
    fn last_entry_id(&self) -> EntryId {
        self.entries.len() as EntryId - 1
    }

    fn close_at_tail(&mut self, ledger_id: LedgerId) -> ClosedLedger {
        let closed = ClosedLedger {
            ledger_id,
            last_entry_id: self.last_entry_id(),
            length: self.length,
        };
        *self.closed.get_or_insert(closed)
    }
}

impl MemoryLedgerStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ids of the ledgers that exist (not deleted), ascending.
    pub fn ledger_ids(&self) -> Vec<LedgerId> {
        self.state.lock().ledgers.keys().copied().collect()
    }

    /// Whether the ledger exists.
    pub fn contains(&self, ledger_id: LedgerId) -> bool {
        self.state.lock().ledgers.contains_key(&ledger_id)
    }

    /// Number of entries stored in the ledger (confirmed or not: here they are the same).
    pub fn entry_count(&self, ledger_id: LedgerId) -> Option<usize> {
        self.state
            .lock()
            .ledgers
            .get(&ledger_id)
            .map(|ledger| ledger.entries.len())
    }

    /// The custom properties the ledger was created with.
    pub fn custom_metadata(&self, ledger_id: LedgerId) -> Option<BTreeMap<String, String>> {
        self.state
            .lock()
            .ledgers
            .get(&ledger_id)
            .map(|ledger| ledger.options.custom.clone())
    }

    /// Makes the next append (on any ledger) fail with `error`. Like a real
    /// unrecoverable add failure, the writer that sees it stops accepting
    /// appends (they fail with the same error).
    pub fn fail_next_append(&self, error: LedgerError) {
        self.state.lock().next_append_failure = Some(error);
    }

    /// With `false`, `create` fails with [`LedgerError::NotEnoughBookies`]
    /// as if no bookie were registered.
    pub fn set_bookies_available(&self, available: bool) {
        self.state.lock().bookies_unavailable = !available;
    }
}

#[async_trait]
impl LedgerStore for MemoryLedgerStore {
    async fn create(&self, options: LedgerOptions) -> Result<Arc<dyn LedgerWriter>, LedgerError> {
        options.validate()?;
        let mut state = self.state.lock();
        if state.bookies_unavailable {
            return Err(LedgerError::NotEnoughBookies {
                needed: options.ensemble_size as usize,
                available: 0,
            });
        }
        let ledger_id = state.next_id;
        state.next_id += 1;
        state.ledgers.insert(
            ledger_id,
            MemoryLedger {
                options,
                entries: Vec::new(),
                length: 0,
                closed: None,
                fenced: false,
            },
        );
        Ok(Arc::new(MemoryWriter {
            state: self.state.clone(),
            ledger_id,
            failure: Mutex::new(None),
        }))
    }

    async fn open(
        &self,
        ledger_id: LedgerId,
        password: Bytes,
        mode: OpenMode,
    ) -> Result<Arc<dyn LedgerReader>, LedgerError> {
        let mut state = self.state.lock();
        let ledger = state
            .ledgers
            .get_mut(&ledger_id)
            .ok_or(LedgerError::NoSuchLedger(ledger_id))?;
        if ledger.options.password != password {
            return Err(LedgerError::Unauthorized(ledger_id));
        }
        let (closed, lac) = match mode {
            OpenMode::Recover => {
                ledger.fenced = true;
                let closed = ledger.close_at_tail(ledger_id);
                (Some(closed), closed.last_entry_id)
            }
            OpenMode::NoRecovery => (ledger.closed, ledger.last_entry_id()),
        };
        Ok(Arc::new(MemoryReader {
            state: self.state.clone(),
            ledger_id,
            view: Mutex::new(ReaderView { closed, lac }),
        }))
    }

    async fn writable_bookies(&self) -> Result<usize, LedgerError> {
        Ok(if self.state.lock().bookies_unavailable {
            0
        } else {
            usize::MAX
        })
    }

    async fn delete(&self, ledger_id: LedgerId) -> Result<(), LedgerError> {
        match self.state.lock().ledgers.remove(&ledger_id) {
            Some(_) => Ok(()),
            None => Err(LedgerError::NoSuchLedger(ledger_id)),
        }
    }
}

/// The writer of one in-memory ledger.
struct MemoryWriter {
    state: Arc<Mutex<StoreState>>,
    ledger_id: LedgerId,
    /// Sticky error after an injected failure.
    failure: Mutex<Option<LedgerError>>,
}

impl MemoryWriter {
    fn append_now(&self, payload: Bytes) -> Result<EntryId, LedgerError> {
        if let Some(error) = self.failure.lock().clone() {
            return Err(error);
        }
        if payload.len() > MEMORY_ENTRY_SIZE_LIMIT {
            return Err(LedgerError::EntryTooLarge {
                size: payload.len(),
                limit: MEMORY_ENTRY_SIZE_LIMIT,
            });
        }
        let mut state = self.state.lock();
        if let Some(error) = state.next_append_failure.take() {
            *self.failure.lock() = Some(error.clone());
            return Err(error);
        }
        let ledger = state
            .ledgers
            .get_mut(&self.ledger_id)
            .ok_or(LedgerError::NoSuchLedger(self.ledger_id))?;
        if ledger.fenced {
            return Err(LedgerError::Fenced(self.ledger_id));
        }
        if ledger.closed.is_some() {
            return Err(LedgerError::Closed(self.ledger_id));
        }
        ledger.length += payload.len() as u64;
        ledger.entries.push(payload);
        Ok(ledger.last_entry_id())
    }

    fn with_ledger<T>(&self, default: T, read: impl FnOnce(&MemoryLedger) -> T) -> T {
        self.state
            .lock()
            .ledgers
            .get(&self.ledger_id)
            .map(read)
            .unwrap_or(default)
    }
}

#[async_trait]
impl LedgerWriter for MemoryWriter {
    fn id(&self) -> LedgerId {
        self.ledger_id
    }

    fn append(&self, payload: Bytes) -> BoxFuture<'static, Result<EntryId, LedgerError>> {
        future::ready(self.append_now(payload)).boxed()
    }

    fn last_add_confirmed(&self) -> EntryId {
        self.with_ledger(-1, MemoryLedger::last_entry_id)
    }

    fn length(&self) -> u64 {
        self.with_ledger(0, |ledger| ledger.length)
    }

    async fn close(&self) -> Result<ClosedLedger, LedgerError> {
        let mut state = self.state.lock();
        let ledger = state
            .ledgers
            .get_mut(&self.ledger_id)
            .ok_or(LedgerError::NoSuchLedger(self.ledger_id))?;
        // A recoverer closed it at the tail; every append of this writer was
        // confirmed, so the last entry ids agree and the close is accepted,
        // exactly like the real client's "CLOSED with the same last entry" rule.
        Ok(ledger.close_at_tail(self.ledger_id))
    }
}

struct ReaderView {
    closed: Option<ClosedLedger>,
    lac: EntryId,
}

/// A read handle on an in-memory ledger.
struct MemoryReader {
    state: Arc<Mutex<StoreState>>,
    ledger_id: LedgerId,
    view: Mutex<ReaderView>,
}

#[async_trait]
impl LedgerReader for MemoryReader {
    fn id(&self) -> LedgerId {
        self.ledger_id
    }

    fn closed(&self) -> Option<ClosedLedger> {
        self.view.lock().closed
    }

    fn readable_up_to(&self) -> EntryId {
        let view = self.view.lock();
        view.closed
            .map(|closed| closed.last_entry_id)
            .unwrap_or(view.lac)
    }

    fn confirmed_up_to(&self, entry_id: EntryId) {
        let mut view = self.view.lock();
        view.lac = view.lac.max(entry_id);
    }

    async fn refresh_lac(&self) -> Result<EntryId, LedgerError> {
        let (closed, lac) = {
            let state = self.state.lock();
            let ledger = state
                .ledgers
                .get(&self.ledger_id)
                .ok_or(LedgerError::NoSuchLedger(self.ledger_id))?;
            (ledger.closed, ledger.last_entry_id())
        };
        let mut view = self.view.lock();
        view.lac = view.lac.max(lac);
        if view.closed.is_none() {
            view.closed = closed;
        }
        Ok(view.lac)
    }

    async fn read(&self, first: EntryId, last: EntryId) -> Result<Vec<Bytes>, LedgerError> {
        let readable = self.readable_up_to();
        if last > readable {
            return Err(LedgerError::BeyondLac {
                entry_id: last,
                lac: readable,
            });
        }
        if first < 0 {
            return Err(LedgerError::NoSuchEntry {
                ledger_id: self.ledger_id,
                entry_id: first,
            });
        }
        let state = self.state.lock();
        let ledger = state
            .ledgers
            .get(&self.ledger_id)
            .ok_or(LedgerError::NoSuchLedger(self.ledger_id))?;
        (first..=last)
            .map(|entry_id| {
                ledger
                    .entries
                    .get(entry_id as usize)
                    .cloned()
                    .ok_or(LedgerError::NoSuchEntry {
                        ledger_id: self.ledger_id,
                        entry_id,
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(password: &'static [u8]) -> LedgerOptions {
        LedgerOptions {
            ensemble_size: 3,
            write_quorum: 2,
            ack_quorum: 2,
            password: Bytes::from_static(password),
            custom: BTreeMap::new(),
        }
    }

    #[tokio::test]
    async fn appends_are_numbered_in_call_order_and_readable_after_close() {
        let store = MemoryLedgerStore::new();
        let writer = store.create(options(b"pw")).await.unwrap();
        let pending: Vec<_> = (0..5)
            .map(|i| writer.append(Bytes::from(vec![i as u8; i + 1])))
            .collect();
        let ids = futures::future::try_join_all(pending).await.unwrap();
        assert_eq!(ids, vec![0, 1, 2, 3, 4]);
        assert_eq!(writer.length(), 15);
        let closed = writer.close().await.unwrap();
        assert_eq!(closed.last_entry_id, 4);
        assert!(matches!(
            writer.append(Bytes::new()).await,
            Err(LedgerError::Closed(_))
        ));

        let reader = store
            .open(writer.id(), Bytes::from_static(b"pw"), OpenMode::NoRecovery)
            .await
            .unwrap();
        assert_eq!(reader.closed(), Some(closed));
        let entries = reader.read(1, 2).await.unwrap();
        assert_eq!(
            entries,
            vec![Bytes::from(vec![1u8; 2]), Bytes::from(vec![2u8; 3])]
        );
    }

    #[tokio::test]
    async fn recovery_fences_the_old_writer() {
        let store = MemoryLedgerStore::new();
        let writer = store.create(options(b"pw")).await.unwrap();
        writer.append(Bytes::from_static(b"a")).await.unwrap();
        let reader = store
            .open(writer.id(), Bytes::from_static(b"pw"), OpenMode::Recover)
            .await
            .unwrap();
        assert_eq!(reader.closed().map(|c| c.last_entry_id), Some(0));
        assert_eq!(
            writer.append(Bytes::from_static(b"b")).await,
            Err(LedgerError::Fenced(writer.id()))
        );
        assert_eq!(writer.close().await.unwrap().last_entry_id, 0);
    }

    #[tokio::test]
    async fn non_recovering_reader_stops_at_observed_lac() {
        let store = MemoryLedgerStore::new();
        let writer = store.create(options(b"pw")).await.unwrap();
        writer.append(Bytes::from_static(b"a")).await.unwrap();
        let reader = store
            .open(writer.id(), Bytes::from_static(b"pw"), OpenMode::NoRecovery)
            .await
            .unwrap();
        writer.append(Bytes::from_static(b"b")).await.unwrap();
        assert_eq!(reader.readable_up_to(), 0);
        assert!(matches!(
            reader.read(0, 1).await,
            Err(LedgerError::BeyondLac { .. })
        ));
        assert_eq!(reader.refresh_lac().await.unwrap(), 1);
        assert_eq!(reader.read(0, 1).await.unwrap().len(), 2);
        // The writer was not fenced by the reader.
        assert_eq!(writer.append(Bytes::from_static(b"c")).await, Ok(2));
    }

    #[tokio::test]
    async fn wrong_password_invalid_quorum_and_delete() {
        let store = MemoryLedgerStore::new();
        let mut bad = options(b"pw");
        bad.ack_quorum = 3;
        assert!(matches!(
            store.create(bad).await,
            Err(LedgerError::InvalidQuorum { .. })
        ));
        let writer = store.create(options(b"pw")).await.unwrap();
        let opened = store
            .open(
                writer.id(),
                Bytes::from_static(b"nope"),
                OpenMode::NoRecovery,
            )
            .await;
        assert!(matches!(opened, Err(LedgerError::Unauthorized(_))));
        store.delete(writer.id()).await.unwrap();
        assert_eq!(
            store.delete(writer.id()).await,
            Err(LedgerError::NoSuchLedger(writer.id()))
        );
        let next = store.create(options(b"pw")).await.unwrap();
        assert!(next.id() > writer.id(), "ids are never reused");
    }

    #[tokio::test]
    async fn injected_failure_is_sticky_for_that_writer() {
        let store = MemoryLedgerStore::new();
        let writer = store.create(options(b"pw")).await.unwrap();
        // What a real writer fails with when a bookie is lost and none can replace it.
        let injected = LedgerError::NotEnoughBookies {
            needed: 1,
            available: 0,
        };
        store.fail_next_append(injected.clone());
        assert_eq!(writer.append(Bytes::new()).await, Err(injected.clone()));
        assert_eq!(writer.append(Bytes::new()).await, Err(injected));
        let other = store.create(options(b"pw")).await.unwrap();
        assert_eq!(other.append(Bytes::new()).await, Ok(0));
        store.set_bookies_available(false);
        assert!(matches!(
            store.create(options(b"pw")).await,
            Err(LedgerError::NotEnoughBookies { .. })
        ));
    }
}
