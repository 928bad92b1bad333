//! [`KvStateMachine`]: the deterministic key-value state machine behind the
//! in-memory and embedded-Raft backends.
//!
//! Why it is shaped this way: a replicated backend must reach the same state
//! on every replica from the same sequence of commands. So the machine is
//! pure — no IO, no clock reads, no tasks — and every input, including the
//! time used for session deadlines, arrives inside a [`Command`]. Session
//! expiry in particular is a command (`ExpireSessions { now_ms }`) carrying
//! the leader's decision rather than something each replica decides alone.
//!
//! Semantics (identical to the [`crate::MetadataStore`] contract):
//! - A store-wide revision counts key changes. Every put, and every deletion
//!   of a key that existed, takes the next revision; a key's version is the
//!   revision of its last put. Session operations do not change keys and so
//!   do not bump the revision, except for the deletions they cause.
//! - Deleting the ephemeral keys of an expired or revoked session gives each
//!   deletion its own revision and its own `Delete` event, in key order.
//! - Recent events are retained in a bounded [`EventHistory`] so watches can
//!   resume; the whole state (including that history) is serde-serializable
//!   for snapshots.

mod command;
mod history;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use command::{Command, CommandError, CommandOutcome, CommandResult};
pub use history::{EventHistory, DEFAULT_HISTORY_LIMIT};

use crate::store::{
    Expected, ListPage, Result, SessionId, Version, Versioned, WatchEvent, WatchTarget,
};
use crate::validate::{check_key, DEFAULT_MAX_VALUE_BYTES};

/// Limits a state machine enforces. Part of the snapshot, so replicas agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMachineLimits {
    pub max_value_bytes: usize,
    pub history_events: usize,
}

impl Default for StateMachineLimits {
    fn default() -> Self {
        StateMachineLimits {
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            history_events: DEFAULT_HISTORY_LIMIT,
        }
    }
}

/// One stored key.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    #[serde(with = "crate::serde_base64")]
    value: Bytes,
    version: Version,
    session: Option<SessionId>,
}

/// One open session.
#[derive(Debug, Serialize, Deserialize)]
struct SessionState {
    ttl_ms: u64,
    deadline_ms: u64,
    /// The ephemeral keys bound to this session.
    keys: BTreeSet<String>,
}

/// The deterministic key-value state machine. See the module docs.
#[derive(Debug, Serialize, Deserialize)]
pub struct KvStateMachine {
    revision: Version,
    entries: BTreeMap<String, Entry>,
    sessions: BTreeMap<SessionId, SessionState>,
    last_session_id: SessionId,
    history: EventHistory,
    limits: StateMachineLimits,
}

impl Default for KvStateMachine {
    fn default() -> Self {
        KvStateMachine::new(StateMachineLimits::default())
    }
}

impl KvStateMachine {
    pub fn new(limits: StateMachineLimits) -> Self {
        KvStateMachine {
            revision: 0,
            entries: BTreeMap::new(),
            sessions: BTreeMap::new(),
            last_session_id: 0,
            history: EventHistory::new(limits.history_events),
            limits,
        }
    }

    pub fn limits(&self) -> StateMachineLimits {
        self.limits
    }

    /// Applies one command. Rejected commands change nothing.
    pub fn apply(&mut self, command: Command) -> CommandOutcome {
        match command {
            Command::Put {
                key,
                value,
                expected,
                session,
            } => self.put(key, value, expected, session),
            Command::Delete { key, expected } => self.delete(key, expected),
            Command::CreateSession { ttl_ms, now_ms } => self.create_session(ttl_ms, now_ms),
            Command::KeepAlive { session, now_ms } => self.keep_alive(session, now_ms),
            Command::RevokeSession { session } => self.revoke_session(session),
            Command::ExpireSessions { now_ms } => Ok(self.expire_sessions(now_ms)),
        }
    }

    /// The revision of the last key change (0 before the first one).
    pub fn revision(&self) -> Version {
        self.revision
    }

    pub fn get(&self, key: &str) -> Option<Versioned> {
        self.entries.get(key).map(|entry| Versioned {
            value: entry.value.clone(),
            version: entry.version,
        })
    }

    /// Keys under `prefix` in key order, strictly after `start_after`, at most `limit` (at least 1).
    pub fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> ListPage {
        let limit = limit.max(1);
        let lower = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let mut matching = self
            .entries
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, entry)| {
                (
                    key.clone(),
                    Versioned {
                        value: entry.value.clone(),
                        version: entry.version,
                    },
                )
            });
        let entries: Vec<_> = matching.by_ref().take(limit).collect();
        let has_more = matching.next().is_some();
        let next_start_after = if has_more {
            entries.last().map(|(key, _)| key.clone())
        } else {
            None
        };
        ListPage {
            entries,
            next_start_after,
        }
    }

    /// Up to `max` retained events with revision `>= from` matching `target`.
    /// [`crate::MetadataError::Compacted`] when `from` predates the history.
    pub fn events_since(
        &self,
        from: Version,
        target: &WatchTarget,
        max: usize,
    ) -> Result<Vec<WatchEvent>> {
        self.history.since(from, target, max)
    }

    /// The oldest revision a watch can resume from.
    pub fn first_retained_revision(&self) -> Version {
        self.history.first_retained()
    }

    /// The deadline of an open session, if it is open.
    pub fn session_deadline_ms(&self, session: SessionId) -> Option<u64> {
        self.sessions.get(&session).map(|state| state.deadline_ms)
    }

    /// The earliest deadline of any open session: when the next
    /// `ExpireSessions` could have an effect.
    pub fn next_session_deadline_ms(&self) -> Option<u64> {
        self.sessions.values().map(|state| state.deadline_ms).min()
    }

    fn put(
        &mut self,
        key: String,
        value: Bytes,
        expected: Expected,
        session: Option<SessionId>,
    ) -> CommandOutcome {
        if let Some(rule) = check_key(&key) {
            return Err(CommandError::InvalidKey { key, rule });
        }
        if value.len() > self.limits.max_value_bytes {
            return Err(CommandError::ValueTooLarge {
                size: value.len(),
                limit: self.limits.max_value_bytes,
            });
        }
        if let Some(id) = session {
            if !self.sessions.contains_key(&id) {
                return Err(CommandError::SessionExpired { session: id });
            }
        }
        let current = self.entries.get(&key);
        if !expectation_holds(expected, current.map(|entry| entry.version)) {
            return Err(CommandError::BadVersion { key });
        }
        let previous_session = current.and_then(|entry| entry.session);
        if previous_session != session {
            if let Some(state) = previous_session.and_then(|id| self.sessions.get_mut(&id)) {
                state.keys.remove(&key);
            }
            if let Some(state) = session.and_then(|id| self.sessions.get_mut(&id)) {
                state.keys.insert(key.clone());
            }
        }
        self.revision += 1;
        let version = self.revision;
        self.history.push(WatchEvent::Put {
            key: key.clone(),
            value: value.clone(),
            version,
        });
        self.entries.insert(
            key,
            Entry {
                value,
                version,
                session,
            },
        );
        Ok(CommandResult::Put { version })
    }

    fn delete(&mut self, key: String, expected: Expected) -> CommandOutcome {
        if let Some(rule) = check_key(&key) {
            return Err(CommandError::InvalidKey { key, rule });
        }
        let current = self.entries.get(&key).map(|entry| entry.version);
        if !expectation_holds(expected, current) {
            return Err(CommandError::BadVersion { key });
        }
        if current.is_none() {
            return Ok(CommandResult::Deleted { revision: None });
        }
        let revision = self.remove_key(&key);
        Ok(CommandResult::Deleted { revision })
    }

    fn create_session(&mut self, ttl_ms: u64, now_ms: u64) -> CommandOutcome {
        let deadline_ms = match now_ms.checked_add(ttl_ms) {
            Some(deadline) if ttl_ms > 0 => deadline,
            _ => return Err(CommandError::InvalidTtl { ttl_ms }),
        };
        self.last_session_id += 1;
        let session = self.last_session_id;
        self.sessions.insert(
            session,
            SessionState {
                ttl_ms,
                deadline_ms,
                keys: BTreeSet::new(),
            },
        );
        Ok(CommandResult::SessionCreated { session })
    }

    fn keep_alive(&mut self, session: SessionId, now_ms: u64) -> CommandOutcome {
        let state = self
            .sessions
            .get_mut(&session)
            .ok_or(CommandError::SessionExpired { session })?;
        // Deadlines never move backwards, even if a stale clock is replayed.
        state.deadline_ms = state.deadline_ms.max(now_ms.saturating_add(state.ttl_ms));
        Ok(CommandResult::KeptAlive)
    }

    fn revoke_session(&mut self, session: SessionId) -> CommandOutcome {
        let state = self
            .sessions
            .remove(&session)
            .ok_or(CommandError::SessionExpired { session })?;
        self.delete_session_keys(state);
        Ok(CommandResult::Revoked)
    }

    fn expire_sessions(&mut self, now_ms: u64) -> CommandResult {
        let expired: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, state)| state.deadline_ms <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            if let Some(state) = self.sessions.remove(id) {
                self.delete_session_keys(state);
            }
        }
        CommandResult::Expired { sessions: expired }
    }

    /// Deletes a closed session's keys, one revision and one event each.
    fn delete_session_keys(&mut self, state: SessionState) {
        for key in state.keys {
            self.remove_key(&key);
        }
    }

    /// Removes a key, unbinding it from its session. Returns the deletion's
    /// revision, or `None` if the key did not exist.
    fn remove_key(&mut self, key: &str) -> Option<Version> {
        let entry = self.entries.remove(key)?;
        if let Some(state) = entry.session.and_then(|id| self.sessions.get_mut(&id)) {
            state.keys.remove(key);
        }
        self.revision += 1;
        let revision = self.revision;
        self.history.push(WatchEvent::Delete {
            key: key.to_string(),
            revision,
        });
        Some(revision)
    }
}

fn expectation_holds(expected: Expected, current: Option<Version>) -> bool {
    match expected {
        Expected::Any => true,
        Expected::Absent => current.is_none(),
        Expected::Version(version) => current == Some(version),
    }
}

#[cfg(test)]
mod tests;
