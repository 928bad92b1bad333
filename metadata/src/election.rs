//! Leader election on [`MetadataStore`] primitives only, so every backend
//! elects the same way.
//!
//! The leader is whoever holds the election key: an ephemeral key written
//! with `Expected::Absent` under the candidate's session. Losers watch the key
//! and retry when it is deleted. A leader loses its leadership when the key
//! is deleted or overwritten (any later event on it), or when its session
//! expires; [`Leadership::lost`] fires then, and the holder must stop acting
//! as leader.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::MetadataError;
use crate::session::Session;
use crate::store::{Expected, MetadataStore, PutOptions, Result, Version, WatchTarget};

/// Pause before re-watching after a watch failure.
const REWATCH_BACKOFF: Duration = Duration::from_millis(100);

/// Campaigns for and observes leadership of election keys.
#[derive(Clone)]
pub struct LeaderElection {
    store: Arc<dyn MetadataStore>,
}

impl LeaderElection {
    pub fn new(store: Arc<dyn MetadataStore>) -> Self {
        LeaderElection { store }
    }

    /// The current leader's value under election key `key`, if any.
    pub async fn leader(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.store.get(key).await?.map(|current| current.value))
    }

    /// Waits until this candidate holds `key` with `value`, bound to
    /// `session`. Fails with `SessionExpired` if the session ends first.
    /// Cancel-safe: dropping the future abandons the campaign without
    /// leaving a key behind (beyond one the session's expiry removes).
    pub async fn campaign(&self, key: &str, value: Bytes, session: &Session) -> Result<Leadership> {
        loop {
            if session.is_expired() {
                return Err(MetadataError::SessionExpired(session.id()));
            }
            match self
                .store
                .put(
                    key,
                    value.clone(),
                    PutOptions::ephemeral(Expected::Absent, session.id()),
                )
                .await
            {
                Ok(version) => {
                    tracing::info!(election = key, version, "became leader");
                    return Ok(Leadership::start(
                        self.store.clone(),
                        key.to_string(),
                        version,
                        session,
                    ));
                }
                Err(MetadataError::BadVersion { .. }) => {}
                Err(error) => return Err(error),
            }
            let Some(current) = self.store.get(key).await? else {
                continue;
            };
            tokio::select! {
                _ = session.expired() => return Err(MetadataError::SessionExpired(session.id())),
                result = wait_for_change(self.store.as_ref(), key, current.version) => {
                    if let Err(error) = result {
                        tracing::debug!(election = key, %error, "leader watch failed; retrying campaign");
                        tokio::time::sleep(REWATCH_BACKOFF).await;
                    }
                }
            }
        }
    }
}

/// Resolves once `key` has changed after `version` (or a watch error made
/// that uncertain): the caller re-checks the key either way.
async fn wait_for_change(store: &dyn MetadataStore, key: &str, version: Version) -> Result<()> {
    let mut events = store
        .watch(WatchTarget::Key(key.to_string()), Some(version + 1))
        .await?;
    match events.next().await {
        Some(Ok(_)) => Ok(()),
        Some(Err(error)) => Err(error),
        None => Err(MetadataError::Unavailable("leader watch ended".to_string())),
    }
}

/// Held leadership of one election key.
pub struct Leadership {
    store: Arc<dyn MetadataStore>,
    key: String,
    version: Version,
    lost_rx: watch::Receiver<bool>,
    monitor: JoinHandle<()>,
}

impl Leadership {
    fn start(
        store: Arc<dyn MetadataStore>,
        key: String,
        version: Version,
        session: &Session,
    ) -> Leadership {
        let (lost_tx, lost_rx) = watch::channel(false);
        let monitor = tokio::spawn(monitor_leadership(
            store.clone(),
            key.clone(),
            version,
            session.expired(),
            lost_tx,
        ));
        Leadership {
            store,
            key,
            version,
            lost_rx,
            monitor,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The version of the election key this leadership wrote; usable as a
    /// fencing token, since versions only grow.
    pub fn version(&self) -> Version {
        self.version
    }

    pub fn is_lost(&self) -> bool {
        *self.lost_rx.borrow()
    }

    /// Resolves once leadership is lost. Independent of `self`'s lifetime.
    pub fn lost(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut lost_rx = self.lost_rx.clone();
        async move {
            let _ = lost_rx.wait_for(|lost| *lost).await;
        }
    }

    /// Gives up leadership by deleting the key, if it is still ours.
    pub async fn resign(self) -> Result<()> {
        self.monitor.abort();
        match self
            .store
            .delete(&self.key, Expected::Version(self.version))
            .await
        {
            Ok(()) | Err(MetadataError::BadVersion { .. }) => {
                tracing::info!(election = %self.key, "resigned leadership");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.monitor.abort();
    }
}

/// Marks leadership lost on the first change to the key after `version`, or
/// when the session expires. Watch failures are retried; the key is
/// re-read after each one so a change during the gap is not missed.
async fn monitor_leadership(
    store: Arc<dyn MetadataStore>,
    key: String,
    version: Version,
    session_expired: impl Future<Output = ()> + Send,
    lost_tx: watch::Sender<bool>,
) {
    let watch_key = async {
        loop {
            match wait_for_change(store.as_ref(), &key, version).await {
                Ok(()) => return "election key changed",
                Err(MetadataError::Compacted(_)) => match store.get(&key).await {
                    Ok(Some(current)) if current.version == version => {}
                    Ok(_) => return "election key changed",
                    Err(_) => {}
                },
                Err(error) => {
                    tracing::debug!(election = %key, %error, "leadership watch failed; retrying")
                }
            }
            tokio::time::sleep(REWATCH_BACKOFF).await;
        }
    };
    let reason = tokio::select! {
        reason = watch_key => reason,
        _ = session_expired => "session expired",
    };
    tracing::warn!(election = %key, reason, "lost leadership");
    lost_tx.send_replace(true);
}
