//! [`Session`]: a metadata session kept alive by a background task.
//!
//! Ephemeral keys (broker registrations, bundle ownership, leadership) are
//! bound to a session. The owner must stop acting on them once the session
//! is gone, so [`Session::expired`] fires when either the store says the
//! session expired, or the store has been unreachable for a full TTL — after
//! that long the store may have expired it without us hearing about it.
//!
//! Keep-alives are sent every TTL/3, so two may be lost before the store
//! expires the session.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::MetadataError;
use crate::store::{MetadataStore, Result, SessionId};

/// Shortest keep-alive interval, whatever the TTL.
const MIN_KEEPALIVE_INTERVAL: Duration = Duration::from_millis(50);

/// An open session with a running keep-alive task. Dropping it stops the
/// keep-alives (the store expires the session after its TTL); call
/// [`Session::close`] to end it at once.
pub struct Session {
    store: Arc<dyn MetadataStore>,
    id: SessionId,
    ttl: Duration,
    expired_rx: watch::Receiver<bool>,
    keepalive: JoinHandle<()>,
}

impl Session {
    /// Opens a session with `ttl` on `store` and starts keeping it alive.
    pub async fn open(store: Arc<dyn MetadataStore>, ttl: Duration) -> Result<Session> {
        let id = store.create_session(ttl).await?;
        let (expired_tx, expired_rx) = watch::channel(false);
        let keepalive = tokio::spawn(keep_alive_until_expired(store.clone(), id, ttl, expired_tx));
        tracing::debug!(
            session = id,
            ttl_ms = ttl.as_millis() as u64,
            "opened metadata session"
        );
        Ok(Session {
            store,
            id,
            ttl,
            expired_rx,
            keepalive,
        })
    }

    pub fn id(&self) -> SessionId {
        self.id
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.store
    }

    pub fn is_expired(&self) -> bool {
        *self.expired_rx.borrow()
    }

    /// Resolves once the session is known (or must be assumed) expired.
    /// Independent of `self`'s lifetime, so it can be moved into tasks.
    pub fn expired(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut expired_rx = self.expired_rx.clone();
        async move {
            // An error means the keep-alive task is gone, which only happens
            // after it reported expiry or the session was dropped: either way
            // the session can no longer be relied on.
            let _ = expired_rx.wait_for(|expired| *expired).await;
        }
    }

    /// A channel that turns `true` when the session expires.
    pub fn subscribe_expired(&self) -> watch::Receiver<bool> {
        self.expired_rx.clone()
    }

    /// Stops the keep-alives and revokes the session, deleting its ephemeral
    /// keys now. A session that had already expired closes without error.
    pub async fn close(self) -> Result<()> {
        self.keepalive.abort();
        match self.store.revoke_session(self.id).await {
            Ok(()) | Err(MetadataError::SessionExpired(_)) => {
                tracing::debug!(session = self.id, "closed metadata session");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.keepalive.abort();
    }
}

async fn keep_alive_until_expired(
    store: Arc<dyn MetadataStore>,
    id: SessionId,
    ttl: Duration,
    expired_tx: watch::Sender<bool>,
) {
    let interval = (ttl / 3).max(MIN_KEEPALIVE_INTERVAL);
    let mut last_success = Instant::now();
    loop {
        tokio::time::sleep(interval).await;
        match store.keep_alive(id).await {
            Ok(()) => last_success = Instant::now(),
            Err(MetadataError::SessionExpired(_)) => {
                tracing::warn!(session = id, "metadata session expired");
                break;
            }
            Err(error) => {
                let unreachable_for = last_success.elapsed();
                if unreachable_for >= ttl {
                    tracing::warn!(session = id, ?unreachable_for, %error, "metadata session presumed expired");
                    break;
                }
                tracing::debug!(session = id, %error, "metadata session keep-alive failed; retrying");
            }
        }
    }
    expired_tx.send_replace(true);
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::memory::MemoryStore;
    use crate::store::{Expected, PutOptions};

    #[tokio::test]
    async fn keepalives_outlive_the_ttl_and_expiry_is_reported() {
        let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
        let ttl = Duration::from_millis(300);
        let session = Session::open(store.clone(), ttl).await.unwrap();
        store
            .put(
                "/owned",
                Bytes::from("x"),
                PutOptions::ephemeral(Expected::Absent, session.id()),
            )
            .await
            .unwrap();

        tokio::time::sleep(ttl * 4).await;
        assert!(!session.is_expired());
        assert!(
            store.get("/owned").await.unwrap().is_some(),
            "kept alive past several TTLs"
        );

        // Someone else ends the session: the next keep-alive reports it.
        store.revoke_session(session.id()).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), session.expired())
            .await
            .expect("expiry reported within a few keep-alive intervals");
        assert!(session.is_expired());
        session.close().await.unwrap();
    }
}
