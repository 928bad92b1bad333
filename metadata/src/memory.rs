//! [`MemoryStore`]: the in-process backend for unit tests.
//!
//! It is the deterministic [`KvStateMachine`] behind a mutex, plus the two
//! things the state machine deliberately leaves out: a clock (a background
//! task issues `ExpireSessions` with the real time, and every call also
//! expires overdue sessions before it runs) and wake-ups for watchers (a
//! `tokio::sync::watch` channel carrying the latest revision). Watch streams
//! read their events from the state machine's history, so a slow watcher is
//! never silently skipped: it either catches up or gets `Compacted`.
//!
//! Nothing is persisted; the store lives as long as the value.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::error::MetadataError;
use crate::state_machine::{Command, CommandResult, KvStateMachine, StateMachineLimits};
use crate::store::{
    Expected, ListPage, MetadataStore, PutOptions, Result, SessionId, Version, Versioned,
    WatchEvent, WatchStream, WatchTarget,
};
use crate::validate::validate_key;

/// How often the background task expires overdue sessions.
const EXPIRY_TICK: Duration = Duration::from_millis(50);

/// Events read from the history per lock acquisition by a watch stream.
const WATCH_BATCH: usize = 256;

/// The in-memory metadata store. See the module docs.
pub struct MemoryStore {
    shared: Arc<Shared>,
    expiry_task: Option<tokio::task::JoinHandle<()>>,
}

struct Shared {
    state: Mutex<KvStateMachine>,
    /// The latest revision; watchers wait on it for new events.
    revision_tx: watch::Sender<Version>,
    started: Instant,
}

impl MemoryStore {
    /// A store with default limits. Inside a tokio runtime it also starts the
    /// session-expiry task; outside one, sessions expire lazily on the next call.
    pub fn new() -> Self {
        MemoryStore::with_limits(StateMachineLimits::default())
    }

    pub fn with_limits(limits: StateMachineLimits) -> Self {
        let (revision_tx, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            state: Mutex::new(KvStateMachine::new(limits)),
            revision_tx,
            started: Instant::now(),
        });
        let expiry_task = tokio::runtime::Handle::try_current()
            .ok()
            .map(|runtime| runtime.spawn(expire_sessions_periodically(Arc::downgrade(&shared))));
        MemoryStore {
            shared,
            expiry_task,
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl Drop for MemoryStore {
    fn drop(&mut self) {
        if let Some(task) = self.expiry_task.take() {
            task.abort();
        }
    }
}

async fn expire_sessions_periodically(shared: Weak<Shared>) {
    let mut tick = tokio::time::interval(EXPIRY_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.expire_overdue();
    }
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Applies a command after expiring overdue sessions, and wakes watchers
    /// if the revision moved.
    fn apply(&self, command: Command) -> Result<CommandResult> {
        let now_ms = self.now_ms();
        let (outcome, revision) = {
            let mut state = self.state.lock();
            expire_if_due(&mut state, now_ms);
            let outcome = state.apply(command);
            (outcome, state.revision())
        };
        self.publish(revision);
        outcome.map_err(MetadataError::from)
    }

    fn expire_overdue(&self) {
        let now_ms = self.now_ms();
        let revision = {
            let mut state = self.state.lock();
            expire_if_due(&mut state, now_ms);
            state.revision()
        };
        self.publish(revision);
    }

    /// Runs a read after expiring overdue sessions, so reads never see keys
    /// of a session that is past its deadline.
    fn read<T>(&self, read: impl FnOnce(&KvStateMachine) -> T) -> T {
        let now_ms = self.now_ms();
        let (value, revision) = {
            let mut state = self.state.lock();
            expire_if_due(&mut state, now_ms);
            (read(&state), state.revision())
        };
        self.publish(revision);
        value
    }

    fn publish(&self, revision: Version) {
        self.revision_tx.send_if_modified(|current| {
            let moved = *current != revision;
            *current = revision;
            moved
        });
    }
}

fn expire_if_due(state: &mut KvStateMachine, now_ms: u64) {
    if state
        .next_session_deadline_ms()
        .is_some_and(|deadline| deadline <= now_ms)
    {
        // ExpireSessions cannot be rejected.
        let _ = state.apply(Command::ExpireSessions { now_ms });
    }
}

fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl MetadataStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        validate_key(key)?;
        Ok(self.shared.read(|state| state.get(key)))
    }

    async fn put(&self, key: &str, value: Bytes, options: PutOptions) -> Result<Version> {
        let command = Command::Put {
            key: key.to_string(),
            value,
            expected: options.expected,
            session: options.session,
        };
        match self.shared.apply(command)? {
            CommandResult::Put { version } => Ok(version),
            other => Err(unexpected(other)),
        }
    }

    async fn delete(&self, key: &str, expected: Expected) -> Result<()> {
        self.shared
            .apply(Command::Delete {
                key: key.to_string(),
                expected,
            })
            .map(|_| ())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage> {
        Ok(self
            .shared
            .read(|state| state.list(prefix, start_after, limit)))
    }

    async fn watch(
        &self,
        target: WatchTarget,
        from_revision: Option<Version>,
    ) -> Result<WatchStream> {
        if let WatchTarget::Key(key) = &target {
            validate_key(key)?;
        }
        let next = match from_revision {
            Some(revision) => revision,
            None => self.shared.read(|state| state.revision()) + 1,
        };
        let cursor = WatchCursor {
            revision_rx: self.shared.revision_tx.subscribe(),
            shared: self.shared.clone(),
            target,
            next,
            buffered: VecDeque::new(),
            finished: false,
        };
        Ok(futures::stream::unfold(cursor, |mut cursor| async move {
            let item = cursor.next_event().await?;
            Some((item, cursor))
        })
        .boxed())
    }

    async fn current_revision(&self) -> Result<Version> {
        Ok(self.shared.read(|state| state.revision()))
    }

    async fn create_session(&self, ttl: Duration) -> Result<SessionId> {
        let now_ms = self.shared.now_ms();
        match self.shared.apply(Command::CreateSession {
            ttl_ms: ttl_millis(ttl),
            now_ms,
        })? {
            CommandResult::SessionCreated { session } => Ok(session),
            other => Err(unexpected(other)),
        }
    }

    async fn keep_alive(&self, session: SessionId) -> Result<()> {
        let now_ms = self.shared.now_ms();
        self.shared
            .apply(Command::KeepAlive { session, now_ms })
            .map(|_| ())
    }

    async fn revoke_session(&self, session: SessionId) -> Result<()> {
        self.shared
            .apply(Command::RevokeSession { session })
            .map(|_| ())
    }
}

/// A result of the wrong kind for its command: a bug in the state machine,
/// reported rather than panicking.
fn unexpected(result: CommandResult) -> MetadataError {
    MetadataError::Unavailable(format!(
        "state machine returned an unexpected result: {result:?}"
    ))
}

/// The state of one watch stream: the next revision to deliver and events
/// read but not yet yielded.
struct WatchCursor {
    shared: Arc<Shared>,
    revision_rx: watch::Receiver<Version>,
    target: WatchTarget,
    next: Version,
    buffered: VecDeque<WatchEvent>,
    finished: bool,
}

impl WatchCursor {
    async fn next_event(&mut self) -> Option<Result<WatchEvent>> {
        loop {
            if let Some(event) = self.buffered.pop_front() {
                return Some(Ok(event));
            }
            if self.finished {
                return None;
            }
            // Mark the current revision seen before reading, so a write that
            // lands after the read still wakes `changed()` below.
            self.revision_rx.borrow_and_update();
            let read = {
                let state = self.shared.state.lock();
                state
                    .events_since(self.next, &self.target, WATCH_BATCH)
                    .map(|events| (events, state.revision()))
            };
            match read {
                Ok((events, revision)) => {
                    self.next = match events.last() {
                        Some(last) if events.len() == WATCH_BATCH => last.revision() + 1,
                        _ => self.next.max(revision + 1),
                    };
                    self.buffered.extend(events);
                }
                Err(error) => {
                    self.finished = true;
                    return Some(Err(error));
                }
            }
            if self.buffered.is_empty() && self.revision_rx.changed().await.is_err() {
                self.finished = true;
                return Some(Err(MetadataError::ShuttingDown));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resuming_before_retained_history_is_compacted() {
        let limits = StateMachineLimits {
            history_events: 4,
            ..StateMachineLimits::default()
        };
        let store = MemoryStore::with_limits(limits);
        for i in 0..10 {
            store
                .put(&format!("/k/{i}"), Bytes::from("v"), PutOptions::ANY)
                .await
                .unwrap();
        }
        let target = WatchTarget::Prefix("/k/".to_string());
        let mut stale = store.watch(target.clone(), Some(1)).await.unwrap();
        assert_eq!(stale.next().await, Some(Err(MetadataError::Compacted(7))));
        assert_eq!(stale.next().await, None, "an error ends the stream");

        let mut fresh = store.watch(target, Some(7)).await.unwrap();
        let first = fresh.next().await.unwrap().unwrap();
        assert_eq!(first.revision(), 7);
    }

    #[tokio::test]
    async fn sessions_expire_without_any_caller() {
        let store = MemoryStore::new();
        let session = store
            .create_session(Duration::from_millis(100))
            .await
            .unwrap();
        store
            .put(
                "/eph",
                Bytes::from("v"),
                PutOptions::ephemeral(Expected::Absent, session),
            )
            .await
            .unwrap();
        let mut watch = store
            .watch(WatchTarget::Key("/eph".to_string()), None)
            .await
            .unwrap();
        let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .unwrap();
        assert!(
            matches!(event, Some(Ok(WatchEvent::Delete { .. }))),
            "got {event:?}"
        );
    }
}
