//! The ledger contract brokers program against: create, append, read, close,
//! open with recovery, delete. [`crate::client::LedgerClient`] implements it
//! over real bookies; `MemoryLedgerStore` (feature `testing`) implements it in
//! memory for unit tests of the layers above.
//!
//! Ordering contract: `LedgerWriter::append` assigns the entry id when it is
//! *called*, so the order of calls is the order of entries; the returned
//! futures complete in entry order, each only once `ack_quorum` bookies of the
//! entry's write set have it durably (journal fsynced). The write starts
//! when `append` is called: a caller need not poll the future for the entry
//! to make progress, and may await the futures one at a time, oldest first
//! (the managed ledger's writer task does).
//!
//! Its errors, [`LedgerError`] and what it carries, are in `error`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;

mod error;

pub use error::{
    InvalidQuorum, LedgerError, ReadTarget, RecoveryFault, ReplicaFailure, StreamBreak,
    TransportError,
};

/// Cluster-unique ledger id, allocated from the metadata store and never reused.
pub type LedgerId = u64;

/// Entry id within a ledger. `-1` means "no entry" (an empty ledger's LAC).
pub type EntryId = i64;

/// Parameters of a new ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerOptions {
    pub ensemble_size: u32,
    pub write_quorum: u32,
    pub ack_quorum: u32,
    pub password: Bytes,
    /// Free-form properties stored in the ledger metadata (the broker records the topic).
    pub custom: BTreeMap<String, String>,
}

impl LedgerOptions {
    /// Checks `E >= Qw >= Qa >= 1` for these options.
    pub fn validate(&self) -> Result<(), InvalidQuorum> {
        Self::validate_quorum(self.ensemble_size, self.write_quorum, self.ack_quorum)
    }

    /// Checks `E >= Qw >= Qa >= 1`: the one quorum rule, also used to reject
    /// bad command-line quorums before any ledger is created.
    pub fn validate_quorum(ensemble: u32, write: u32, ack: u32) -> Result<(), InvalidQuorum> {
        if ack >= 1 && write >= ack && ensemble >= write {
            Ok(())
        } else {
            Err(InvalidQuorum {
                ensemble,
                write,
                ack,
            })
        }
    }
}

/// How to open an existing ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Fence the bookies, recover the tail and close the ledger: the previous
    /// writer can never append again.
    Recover,
    /// Read-only, non-fencing: reads up to the LAC observed.
    NoRecovery,
}

/// Final shape of a closed ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedLedger {
    pub ledger_id: LedgerId,
    /// Last entry id, `-1` when empty.
    pub last_entry_id: EntryId,
    /// Total payload bytes.
    pub length: u64,
}

/// The single writer of an open ledger.
#[async_trait]
pub trait LedgerWriter: Send + Sync {
    fn id(&self) -> LedgerId;

    /// Queues `payload` as the next entry. See the module doc for ordering.
    fn append(&self, payload: Bytes) -> BoxFuture<'static, Result<EntryId, LedgerError>>;

    /// Highest entry id confirmed to the caller, `-1` if none.
    fn last_add_confirmed(&self) -> EntryId;

    /// Total payload bytes confirmed.
    fn length(&self) -> u64;

    /// Closes the ledger at its LAC. Appends not yet confirmed fail with `Closed`.
    async fn close(&self) -> Result<ClosedLedger, LedgerError>;

    /// Whether new entries currently reach every bookie of their write set.
    /// The default is for writers that never degrade.
    fn health(&self) -> WriterHealth {
        WriterHealth::default()
    }
}

/// How well a writer's current entries are replicated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterHealth {
    /// Bookies of the current ensemble that new entries skip (the ensemble's
    /// holes): each entry is stored on fewer than `Qw` bookies, but still on
    /// at least `Qa`. Empty when fully replicated.
    pub missing_bookies: Vec<String>,
}

impl WriterHealth {
    pub fn is_degraded(&self) -> bool {
        !self.missing_bookies.is_empty()
    }
}

/// A read handle on a ledger.
#[async_trait]
pub trait LedgerReader: Send + Sync {
    fn id(&self) -> LedgerId;

    /// `Some` once the ledger is closed (always after `OpenMode::Recover`).
    fn closed(&self) -> Option<ClosedLedger>;

    /// Highest entry id that may be read: the last entry of a closed ledger,
    /// else the LAC last observed.
    fn readable_up_to(&self) -> EntryId;

    /// Asks the bookies for the current LAC (non-fencing) and returns it.
    async fn refresh_lac(&self) -> Result<EntryId, LedgerError>;

    /// The ledger's writer confirmed every entry up to `entry_id`: each is
    /// on an ack quorum. Reads may go that far from now on, although the
    /// bookies learn of the LAC only from later adds (after a burst of
    /// adds and none since, they may never).
    fn confirmed_up_to(&self, entry_id: EntryId);

    /// Reads entries `first..=last`, in order.
    async fn read(&self, first: EntryId, last: EntryId) -> Result<Vec<Bytes>, LedgerError>;
}

/// Factory of ledgers: what the broker holds.
#[async_trait]
pub trait LedgerStore: Send + Sync + 'static {
    async fn create(&self, options: LedgerOptions) -> Result<Arc<dyn LedgerWriter>, LedgerError>;

    async fn open(
        &self,
        ledger_id: LedgerId,
        password: Bytes,
        mode: OpenMode,
    ) -> Result<Arc<dyn LedgerReader>, LedgerError>;

    /// Deletes the ledger's metadata; bookies reclaim its space by GC.
    async fn delete(&self, ledger_id: LedgerId) -> Result<(), LedgerError>;

    /// How many bookies a new ledger could use now: registered, writable and
    /// not quarantined after a recent failure. A caller compares it with the
    /// ensemble size before trying `create`. The default is for stores that
    /// have no bookies to count.
    async fn writable_bookies(&self) -> Result<usize, LedgerError> {
        Ok(usize::MAX)
    }
}
