//! What the writer task has confirmed, as everyone else sees it: the ledger
//! layout, the newest entries (the tail buffer) and the last confirmed
//! position, published through a `watch` so tailing readers can wait on it.
//!
//! The writer task holds the only [`LogPublisher`], so it alone appends:
//! it records confirmed adds and starts new ledgers. Trimming is the one
//! other change: it removes consumed ledgers from the front
//! ([`ConfirmedLog::remove_trimmed`]), under the ledger-list lock, and never
//! the current ledger. Readers and cursors only read.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use tokio::sync::watch;

use super::layout::LedgerLayout;
use super::position::{Entry, Position};

/// Most recent confirmed entries kept regardless of the cache budget: a
/// bookie learns the LAC only from later adds, so the newest entries of the
/// current ledger may not be readable from the bookies yet.
pub(crate) const TAIL_ENTRIES: usize = 64;

pub(crate) struct ConfirmedLog {
    layout: RwLock<LedgerLayout>,
    tail: Mutex<VecDeque<Entry>>,
    last_confirmed: watch::Sender<Option<Position>>,
}

/// The writer task's handle on the [`ConfirmedLog`]: the only way to
/// record adds and new ledgers.
pub(crate) struct LogPublisher {
    log: Arc<ConfirmedLog>,
}

impl ConfirmedLog {
    /// The log of a freshly opened managed ledger, and its publisher.
    pub fn new(layout: LedgerLayout) -> (Arc<Self>, LogPublisher) {
        let last_confirmed = last_confirmed_of(&layout);
        let log = Arc::new(ConfirmedLog {
            layout: RwLock::new(layout),
            // Grows with the adds (to TAIL_ENTRIES): an idle topic holds only
            // the entries it has had.
            tail: Mutex::new(VecDeque::new()),
            last_confirmed: watch::channel(last_confirmed).0,
        });
        let publisher = LogPublisher { log: log.clone() };
        (log, publisher)
    }

    /// A consistent view of the layout; hold it only briefly (the writer
    /// task waits for it to record adds).
    pub fn layout(&self) -> RwLockReadGuard<'_, LedgerLayout> {
        self.layout.read()
    }

    /// The last durable entry; `None` when no entry is retained.
    pub fn last_confirmed(&self) -> Option<Position> {
        last_confirmed_of(&self.layout.read())
    }

    /// Changes whenever an add is confirmed.
    pub fn watch_last_confirmed(&self) -> watch::Receiver<Option<Position>> {
        self.last_confirmed.subscribe()
    }

    /// The entry at `position` if it is among the newest confirmed ones.
    pub fn tail_entry(&self, position: Position) -> Option<Entry> {
        let tail = self.tail.lock();
        let index = tail.binary_search_by_key(&position, |e| e.position).ok()?;
        tail.get(index).cloned()
    }

    /// Trimming: drops consumed ledgers (never the current one) after the
    /// ledger list without them was stored.
    pub fn remove_trimmed(&self, ledger_ids: &[u64]) {
        self.layout.write().remove_ledgers(ledger_ids);
    }
}

fn last_confirmed_of(layout: &LedgerLayout) -> Option<Position> {
    let lac = layout.last_confirmed_offset();
    (lac >= layout.first_offset()).then(|| layout.position_of(lac))
}

impl LogPublisher {
    pub fn log(&self) -> &ConfirmedLog {
        &self.log
    }

    /// Publishes a confirmed add of the current ledger: the entry joins the
    /// tail buffer, then the layout, then the last confirmed position moves.
    pub fn confirm(&self, entry: Entry) {
        let position = entry.position;
        let bytes = entry.data.len() as u64;
        {
            let mut tail = self.log.tail.lock();
            if tail.len() == TAIL_ENTRIES {
                tail.pop_front();
            }
            tail.push_back(entry);
        }
        self.log.layout.write().record_add(position.entry_id, bytes);
        self.log.last_confirmed.send_replace(Some(position));
    }

    /// Rollover: `ledger_id` becomes the current ledger, and the empty
    /// ledgers `dropped` (already gone from the stored list) leave the layout.
    pub fn start_ledger(&self, ledger_id: u64, dropped: &[u64]) {
        let mut layout = self.log.layout.write();
        layout.push_ledger(ledger_id);
        layout.remove_ledgers(dropped);
    }
}
