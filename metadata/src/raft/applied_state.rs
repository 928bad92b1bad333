//! [`AppliedState`]: the in-memory state every node has applied from the log
//! — the [`KvStateMachine`], the last applied log id and membership — shared
//! between the Raft apply path (writer) and local reads and watches (readers).
//!
//! Change feed: every key change the apply path makes is published on a
//! broadcast channel *while the write lock is held*. A watcher subscribes
//! first and then reads history under the read lock, so every change is
//! either in the history it read or arrives on the channel afterwards; it
//! de-duplicates by revision (each change has its own revision).
//!
//! Durability: this state is not written on every apply. It is durable as
//! the latest snapshot file plus the log entries after it; at startup it is
//! restored from the snapshot and openraft re-applies the log suffix.

use parking_lot::RwLock;
use tokio::sync::broadcast;

use crate::state_machine::{Command, CommandOutcome, KvStateMachine};
use crate::store::{Version, WatchEvent, WatchTarget};

use super::types::{MetaLogId, MetaMembership};

/// Capacity of the live change channel. A watcher further behind than this
/// re-reads from the state machine's history instead.
const CHANGE_CHANNEL_CAPACITY: usize = 4096;

/// One item of the live change feed.
#[derive(Debug, Clone)]
pub enum Change {
    /// A key change, in revision order.
    Event(WatchEvent),
    /// The state was replaced wholesale (a snapshot was installed): changes
    /// may have been skipped, so watchers must re-read history.
    Reset,
}

/// The applied state plus where it came from.
#[derive(Debug, Default)]
pub struct AppliedInner {
    pub kv: KvStateMachine,
    pub last_applied: Option<MetaLogId>,
    pub membership: MetaMembership,
}

/// Shared applied state of one node. See the module docs.
#[derive(Debug)]
pub struct AppliedState {
    inner: RwLock<AppliedInner>,
    changes: broadcast::Sender<Change>,
}

impl AppliedState {
    pub fn new(inner: AppliedInner) -> Self {
        let (changes, _) = broadcast::channel(CHANGE_CHANNEL_CAPACITY);
        AppliedState {
            inner: RwLock::new(inner),
            changes,
        }
    }

    /// Runs `read` against the current state under the read lock.
    pub fn read<T>(&self, read: impl FnOnce(&AppliedInner) -> T) -> T {
        read(&self.inner.read())
    }

    /// Subscribes to live changes (subscribe before reading history).
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Applies one command at `log_id` and publishes the changes it made.
    pub fn apply_command(&self, log_id: MetaLogId, command: Command) -> CommandOutcome {
        let mut inner = self.inner.write();
        let before = inner.kv.revision();
        let outcome = inner.kv.apply(command);
        inner.last_applied = Some(log_id);
        let after = inner.kv.revision();
        if after > before {
            self.publish_since(&inner.kv, before);
        }
        outcome
    }

    /// Records a log entry that carries no command.
    pub fn apply_other(&self, log_id: MetaLogId, membership: Option<MetaMembership>) {
        let mut inner = self.inner.write();
        inner.last_applied = Some(log_id);
        if let Some(membership) = membership {
            inner.membership = membership;
        }
    }

    /// Replaces the whole state (snapshot install) and tells watchers.
    pub fn replace(&self, replacement: AppliedInner) {
        let mut inner = self.inner.write();
        *inner = replacement;
        // No receivers is fine: nobody is watching.
        let _ = self.changes.send(Change::Reset);
    }

    fn publish_since(&self, kv: &KvStateMachine, before: Version) {
        let everything = WatchTarget::Prefix(String::new());
        match kv.events_since(before + 1, &everything, usize::MAX) {
            Ok(events) => {
                for event in events {
                    // No receivers is fine: nobody is watching.
                    let _ = self.changes.send(Change::Event(event));
                }
            }
            Err(error) => {
                // A single command produced more changes than the history
                // keeps; watchers must re-read (and will see Compacted).
                tracing::warn!(%error, "change history overflowed within one command");
                let _ = self.changes.send(Change::Reset);
            }
        }
    }
}
