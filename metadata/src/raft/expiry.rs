//! Session expiry: a ticker on every node that acts only while the node
//! leads. When the earliest session deadline has passed on the leader's
//! clock it proposes `ExpireSessions { now_ms }` through the log, so the
//! decision (and the deletion of ephemeral keys) is replicated, never taken
//! by a replica alone. Followers' tickers stay idle.
//!
//! Limit: deadlines are absolute times stamped by the proposing node's
//! clock, so clocks of the metadata nodes must roughly agree (NTP).

use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::state_machine::Command;

use super::node::{now_ms, RaftNode};

/// How often the leader checks session deadlines.
pub const DEFAULT_EXPIRY_TICK: Duration = Duration::from_millis(250);

/// Runs the expiry ticker until `shutdown` fires.
pub async fn run_session_expiry(node: Arc<RaftNode>, tick: Duration, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        if node.raft().metrics().borrow().state != ServerState::Leader {
            continue;
        }
        let now = now_ms();
        let due = node
            .state()
            .read(|inner| inner.kv.next_session_deadline_ms())
            .is_some_and(|deadline| deadline <= now);
        if !due {
            continue;
        }
        let deadline = Instant::now() + tick.max(Duration::from_secs(1));
        match node
            .write_local(Command::ExpireSessions { now_ms: now }, deadline)
            .await
        {
            Ok(outcome) => tracing::debug!(?outcome, now_ms = now, "proposed session expiry"),
            Err(error) => tracing::warn!(%error, "session expiry proposal failed"),
        }
    }
}
