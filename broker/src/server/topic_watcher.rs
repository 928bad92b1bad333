//! Topic-list watchers: WATCH_TOPIC_LIST and WATCH_TOPIC_LIST_CLOSE, and
//! the task behind each watcher.
//!
//! A watcher answers with the namespace's persistent topics that match its
//! pattern, then follows the managed-ledger list keys of the namespace
//! (`/managed-ledgers/<tenant>/<ns>/persistent/`) with a metadata-store
//! prefix watch and sends WATCH_TOPIC_UPDATE whenever a matching topic
//! joins or leaves the set. The list key is rewritten on every rollover,
//! so only changes of set membership are reported.
//!
//! The listing and the watch are consistent: the store's revision is read
//! before listing and the watch starts right after it, so a change made
//! while listing is seen again and settled by the set. A watch that fails
//! resumes after the last revision seen, with bounded back-off; one that
//! fell behind the store's history lists again and sends the difference.
//! The task ends with WATCH_TOPIC_LIST_CLOSE or with the connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use magnetar_metadata::{MetadataError, Version, WatchEvent, WatchTarget};
use magnetar_proto::pulsar::api::{
    CommandWatchTopicList, CommandWatchTopicListClose, CommandWatchTopicListSuccess,
    CommandWatchTopicUpdate, ServerError,
};
use magnetar_proto::pulsar::commands;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::connection::Connection;
use super::topic_list::{topics_of_ledgers, SetDiff, TopicPattern, TopicSet};
use crate::managed_ledger::{ManagedLedgerError, ManagedLedgerFactory, LEDGER_LIST_ROOT};
use crate::namespace::NamespaceName;
use crate::security::TopicOperation;
use crate::wire::{storage_server_error, Outbound};

/// First wait before a failed watch is resumed; doubled up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// The running watchers of one connection, by watcher id.
#[derive(Default)]
pub(super) struct TopicWatchers {
    running: HashMap<u64, Running>,
}

struct Running {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    async fn finish(self) {
        self.stop.cancel();
        if let Err(error) = self.task.await {
            tracing::warn!(error = %error, "topic-list watcher task failed");
        }
    }
}

impl TopicWatchers {
    /// Stops a watcher; false when none has this id.
    async fn stop(&mut self, watcher_id: u64) -> bool {
        match self.running.remove(&watcher_id) {
            Some(running) => {
                running.finish().await;
                true
            }
            None => false,
        }
    }

    /// Stops every watcher of the connection.
    pub async fn stop_all(&mut self) {
        for (_, running) in self.running.drain() {
            running.finish().await;
        }
    }
}

impl Connection {
    /// Registers a watcher and answers with the matching topics and their
    /// hash (no topics when the client's hash is already current).
    pub(super) async fn handle_watch_topic_list(&mut self, request: CommandWatchTopicList) {
        let (request_id, watcher_id) = (request.request_id, request.watcher_id);
        tracing::debug!(watcher_id, namespace = %request.namespace, pattern = %request.topics_pattern, "WATCH_TOPIC_LIST");
        let refuse = |error: ServerError, message: String| {
            tracing::info!(watcher_id, %message, "topic-list watcher refused");
            commands::error(request_id, error, message)
        };
        if self.topic_watchers.running.contains_key(&watcher_id) {
            let message =
                format!("topic-list watcher {watcher_id} already exists on this connection");
            self.out.send(refuse(ServerError::NotAllowedError, message));
            return;
        }
        let pattern = match TopicPattern::compile(&request.topics_pattern) {
            Ok(pattern) => pattern,
            Err(error) => {
                self.out
                    .send(refuse(ServerError::NotAllowedError, error.to_string()));
                return;
            }
        };
        let namespace = match NamespaceName::parse(request.namespace.trim_end_matches('/')) {
            Ok(namespace) => namespace,
            Err(error) => {
                self.out
                    .send(refuse(ServerError::InvalidTopicName, error.to_string()));
                return;
            }
        };
        if let Err(error) = self
            .authorize_namespace(&namespace, TopicOperation::Lookup)
            .await
        {
            self.out
                .send(refuse(ServerError::AuthorizationError, error.to_string()));
            return;
        }
        let factory = self.context.topics.factory().clone();
        let prefix = format!("{namespace}/persistent/");
        let (revision, topics) = match snapshot(&factory, &prefix).await {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::warn!(watcher_id, %namespace, error = %error, "listing topics failed");
                self.out.send(commands::error(
                    request_id,
                    storage_server_error(&error),
                    error.to_string(),
                ));
                return;
            }
        };
        let set = TopicSet::new(pattern, topics);
        let topics_hash = set.hash();
        let unchanged = request.topics_hash.as_deref() == Some(topics_hash.as_str());
        self.out.send(CommandWatchTopicListSuccess {
            request_id,
            watcher_id,
            topic: if unchanged { Vec::new() } else { set.topics() },
            topics_hash,
        });
        let stop = CancellationToken::new();
        let watcher = Watcher {
            watcher_id,
            factory,
            prefix,
            set,
            out: self.out.clone(),
            stop: stop.clone(),
        };
        let span = tracing::info_span!("topic_list_watcher", watcher_id, %namespace);
        let task = tokio::spawn(watcher.run(revision + 1).instrument(span));
        self.topic_watchers
            .running
            .insert(watcher_id, Running { stop, task });
    }

    /// Stops a watcher; answered with SUCCESS even when it is unknown
    /// (already closed), as Pulsar does.
    pub(super) async fn handle_watch_topic_list_close(
        &mut self,
        request: CommandWatchTopicListClose,
    ) {
        if !self.topic_watchers.stop(request.watcher_id).await {
            tracing::debug!(
                watcher_id = request.watcher_id,
                "WATCH_TOPIC_LIST_CLOSE for an unknown watcher"
            );
        }
        self.out.send(commands::success(request.request_id));
    }
}

/// The store revision, then the topics listed at or after it.
async fn snapshot(
    factory: &ManagedLedgerFactory,
    prefix: &str,
) -> Result<(Version, Vec<String>), ManagedLedgerError> {
    let revision = factory.metadata().current_revision().await?;
    let names = factory.list(prefix).await?;
    Ok((revision, topics_of_ledgers(&names)))
}

/// One watcher's task.
struct Watcher {
    watcher_id: u64,
    factory: Arc<ManagedLedgerFactory>,
    /// What the managed-ledger names of the namespace's topics start with.
    prefix: String,
    set: TopicSet,
    out: Outbound,
    stop: CancellationToken,
}

impl Watcher {
    /// Follows the store from revision `next` until stopped or the
    /// connection is gone.
    async fn run(mut self, mut next: Version) {
        let mut backoff = RETRY_MIN;
        loop {
            let error = match self.follow(&mut next, &mut backoff).await {
                Ok(()) => return,
                Err(error) => error,
            };
            if let MetadataError::Compacted(_) = error {
                match snapshot(&self.factory, &self.prefix).await {
                    Ok((revision, topics)) => {
                        let diff = self.set.replace(topics);
                        if !diff.is_empty() && !self.send(diff) {
                            return;
                        }
                        next = revision + 1;
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "listing topics again failed");
                    }
                }
            }
            tracing::warn!(next, error = %error, retry_in = ?backoff, "topic-list watch failed; resuming");
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(RETRY_MAX);
        }
    }

    /// Applies the changes from revision `next` on; `Ok` when the watcher
    /// is stopped or its connection gone, `Err` when the watch fails.
    async fn follow(
        &mut self,
        next: &mut Version,
        backoff: &mut Duration,
    ) -> Result<(), MetadataError> {
        let target = WatchTarget::Prefix(format!("{LEDGER_LIST_ROOT}{}", self.prefix));
        let metadata = self.factory.metadata().clone();
        let mut stream = tokio::select! {
            _ = self.stop.cancelled() => return Ok(()),
            opened = metadata.watch(target, Some(*next)) => opened?,
        };
        loop {
            let item = tokio::select! {
                _ = self.stop.cancelled() => return Ok(()),
                item = stream.next() => item,
            };
            let event = match item {
                Some(Ok(event)) => event,
                Some(Err(error)) => return Err(error),
                None => return Err(MetadataError::Unavailable("watch stream ended".into())),
            };
            *next = event.revision() + 1;
            *backoff = RETRY_MIN;
            if let Some(diff) = self.apply(&event) {
                if !self.send(diff) {
                    return Ok(());
                }
            }
        }
    }

    /// What one change of a list key does to the set.
    fn apply(&mut self, event: &WatchEvent) -> Option<SetDiff> {
        let name = event.key().strip_prefix(LEDGER_LIST_ROOT)?;
        let topic = topics_of_ledgers(&[name.to_string()]).pop()?;
        match event {
            WatchEvent::Put { .. } => self.set.insert(&topic).then(|| SetDiff {
                added: vec![topic],
                removed: Vec::new(),
            }),
            WatchEvent::Delete { .. } => self.set.remove(&topic).then(|| SetDiff {
                added: Vec::new(),
                removed: vec![topic],
            }),
        }
    }

    /// Sends one update; false when the connection is gone.
    fn send(&self, diff: SetDiff) -> bool {
        tracing::debug!(new = ?diff.added, deleted = ?diff.removed, "topic list changed");
        self.out.send(CommandWatchTopicUpdate {
            watcher_id: self.watcher_id,
            new_topics: diff.added,
            deleted_topics: diff.removed,
            topics_hash: self.set.hash(),
        })
    }
}
