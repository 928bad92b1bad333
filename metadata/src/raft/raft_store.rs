//! [`RaftStore`]: the [`MetadataStore`] served by a node of the embedded
//! Raft group (in-process, or behind the gRPC service).
//!
//! - Writes and session operations are commands committed through the log
//!   ([`RaftNode::write`]); the proposing node's clock stamps `now_ms`.
//! - Keepalive is a replicated write (`KeepAlive { now_ms }`): every replica
//!   holds the same deadline, so a new leader expires exactly what the old
//!   one would have. It costs one log entry per keepalive, which is fine at
//!   metadata rates (a session per broker or bookie, a keepalive per ~TTL/3).
//! - Reads (`get`, `list`, `current_revision`) pass the read barrier first,
//!   so they are linearizable: safe for decisions such as bundle ownership.
//! - Watches are served from the local applied state (see [`super::watch`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::MetadataError;
use crate::state_machine::{Command, CommandResult};
use crate::store::{
    Expected, ListPage, MetadataStore, PutOptions, Result, SessionId, Version, Versioned,
    WatchStream, WatchTarget,
};
use crate::validate::{validate_key, validate_value};

use super::node::{now_ms, RaftNode};
use super::watch::open_watch;

/// The metadata store of one Raft node. Cheap to clone.
#[derive(Clone)]
pub struct RaftStore {
    node: Arc<RaftNode>,
}

impl RaftStore {
    pub fn new(node: Arc<RaftNode>) -> Self {
        RaftStore { node }
    }

    pub fn node(&self) -> &Arc<RaftNode> {
        &self.node
    }
}

fn unexpected(result: CommandResult) -> MetadataError {
    MetadataError::Corrupt {
        key: String::new(),
        reason: format!("unexpected command result {result:?}"),
    }
}

#[async_trait]
impl MetadataStore for RaftStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        validate_key(key)?;
        self.node.read_barrier().await?;
        Ok(self.node.state().read(|inner| inner.kv.get(key)))
    }

    async fn put(&self, key: &str, value: Bytes, options: PutOptions) -> Result<Version> {
        // Rejected here so that bad input never costs a log entry; the state
        // machine checks again when it applies the command.
        validate_key(key)?;
        let limit = self
            .node
            .state()
            .read(|inner| inner.kv.limits().max_value_bytes);
        validate_value(value.len(), limit)?;
        let command = Command::Put {
            key: key.to_string(),
            value,
            expected: options.expected,
            session: options.session,
        };
        match self.node.write(command).await? {
            CommandResult::Put { version } => Ok(version),
            other => Err(unexpected(other)),
        }
    }

    async fn delete(&self, key: &str, expected: Expected) -> Result<()> {
        validate_key(key)?;
        match self
            .node
            .write(Command::Delete {
                key: key.to_string(),
                expected,
            })
            .await?
        {
            CommandResult::Deleted { .. } => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage> {
        self.node.read_barrier().await?;
        Ok(self
            .node
            .state()
            .read(|inner| inner.kv.list(prefix, start_after, limit)))
    }

    async fn watch(
        &self,
        target: WatchTarget,
        from_revision: Option<Version>,
    ) -> Result<WatchStream> {
        open_watch(Arc::clone(self.node.state()), target, from_revision)
    }

    async fn current_revision(&self) -> Result<Version> {
        self.node.read_barrier().await?;
        Ok(self.node.state().read(|inner| inner.kv.revision()))
    }

    async fn create_session(&self, ttl: Duration) -> Result<SessionId> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        match self
            .node
            .write(Command::CreateSession {
                ttl_ms,
                now_ms: now_ms(),
            })
            .await?
        {
            CommandResult::SessionCreated { session } => Ok(session),
            other => Err(unexpected(other)),
        }
    }

    async fn keep_alive(&self, session: SessionId) -> Result<()> {
        match self
            .node
            .write(Command::KeepAlive {
                session,
                now_ms: now_ms(),
            })
            .await?
        {
            CommandResult::KeptAlive => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn revoke_session(&self, session: SessionId) -> Result<()> {
        match self.node.write(Command::RevokeSession { session }).await? {
            CommandResult::Revoked => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}
