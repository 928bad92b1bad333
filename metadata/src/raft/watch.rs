//! Watches over a node's applied state: history replay, then the live feed,
//! without gaps or duplicates.
//!
//! Protocol: subscribe to the live change feed *first*, then (under the
//! state's read lock) take the current revision `R` and the retained history
//! from the requested revision. Every change at or below `R` is in that
//! history; every later change arrives on the feed. Feed items at or below
//! the last delivered revision are duplicates and are skipped. When the feed
//! overflows (a slow watcher) or the state is replaced by a snapshot, the
//! watcher re-reads history from the revision after the last one delivered;
//! if that history is gone the stream ends with `Compacted`.

use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use crate::error::MetadataError;
use crate::store::{Result, Version, WatchEvent, WatchStream, WatchTarget};

use super::applied_state::{AppliedState, Change};

/// Buffered events per watch between the feed task and the consumer.
const WATCH_BUFFER: usize = 1024;

/// Opens a watch on `state`. See the module docs.
pub fn open_watch(
    state: Arc<AppliedState>,
    target: WatchTarget,
    from_revision: Option<Version>,
) -> Result<WatchStream> {
    let feed = state.subscribe();
    let (current, initial) = state.read(|inner| {
        let current = inner.kv.revision();
        let initial = match from_revision {
            None => Ok(Vec::new()),
            Some(from) => inner.kv.events_since(from, &target, usize::MAX),
        };
        (current, initial)
    });
    let initial = initial?;
    let (sender, receiver) = mpsc::channel(WATCH_BUFFER);
    let follower = WatchFollower {
        state,
        target,
        min_revision: from_revision.unwrap_or(0),
        delivered: current,
        sender,
    };
    tokio::spawn(follower.run(initial, feed));
    Ok(ReceiverStream::new(receiver).boxed())
}

/// The task feeding one watch.
struct WatchFollower {
    state: Arc<AppliedState>,
    target: WatchTarget,
    /// Events below this revision are not wanted (a resume point in the future).
    min_revision: Version,
    /// Every change up to this revision has been considered.
    delivered: Version,
    sender: mpsc::Sender<Result<WatchEvent>>,
}

impl WatchFollower {
    async fn run(mut self, initial: Vec<WatchEvent>, mut feed: broadcast::Receiver<Change>) {
        for event in initial {
            if self.sender.send(Ok(event)).await.is_err() {
                return;
            }
        }
        loop {
            let change = tokio::select! {
                _ = self.sender.closed() => return,
                change = feed.recv() => change,
            };
            let keep_going = match change {
                Ok(Change::Event(event)) => self.deliver(event).await,
                Ok(Change::Reset) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.catch_up().await
                }
                Err(broadcast::error::RecvError::Closed) => {
                    let _ = self.sender.send(Err(MetadataError::ShuttingDown)).await;
                    false
                }
            };
            if !keep_going {
                return;
            }
        }
    }

    /// Delivers one live event unless it was already covered. Returns
    /// whether the consumer is still there.
    async fn deliver(&mut self, event: WatchEvent) -> bool {
        let revision = event.revision();
        if revision <= self.delivered {
            return true;
        }
        self.delivered = revision;
        if revision < self.min_revision || !self.target.matches(event.key()) {
            return true;
        }
        self.sender.send(Ok(event)).await.is_ok()
    }

    /// Re-reads history after the last delivered revision.
    async fn catch_up(&mut self) -> bool {
        let from = self.delivered.saturating_add(1).max(self.min_revision);
        let (current, missed) = self.state.read(|inner| {
            (
                inner.kv.revision(),
                inner.kv.events_since(from, &self.target, usize::MAX),
            )
        });
        match missed {
            Ok(events) => {
                self.delivered = self.delivered.max(current);
                for event in events {
                    if self.sender.send(Ok(event)).await.is_err() {
                        return false;
                    }
                }
                true
            }
            Err(error) => {
                tracing::warn!(%error, from_revision = from, "watch fell behind the retained history");
                let _ = self.sender.send(Err(error)).await;
                false
            }
        }
    }
}
