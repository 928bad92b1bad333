//! Cluster membership: the ephemeral key `/bookies/available/<bookie-id>`.
//!
//! The key is bound to a metadata session kept alive by
//! [`Registrar::run`]; if the bookie dies, the session expires and the key
//! disappears, which is how clients and the auditor learn it is gone. The
//! value (JSON [`BookieRegistration`]) is rewritten whenever the bookie
//! switches between writable and read-only, so placement can skip read-only
//! bookies. A lost session is re-created and the key re-registered.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use magnetar_metadata::{Expected, MetadataError, MetadataStore, PutOptions, SessionId};
use tokio_util::sync::CancellationToken;

use crate::keys::{available_key, BookieRegistration};
use crate::server::disk::DiskStatus;
use crate::server::Bookie;

/// Holds the session and rewrites the registration.
pub struct Registrar {
    metadata: Arc<dyn MetadataStore>,
    bookie_id: String,
    bookie: Arc<Bookie>,
    disk: Arc<DiskStatus>,
    ttl: Duration,
    session: SessionId,
}

impl Registrar {
    /// Opens a session and writes the registration.
    pub async fn register(
        metadata: Arc<dyn MetadataStore>,
        bookie_id: String,
        bookie: Arc<Bookie>,
        disk: Arc<DiskStatus>,
        ttl: Duration,
    ) -> Result<Self, MetadataError> {
        let session = metadata.create_session(ttl).await?;
        let registrar = Registrar {
            metadata,
            bookie_id,
            bookie,
            disk,
            ttl,
            session,
        };
        registrar.publish().await?;
        tracing::info!(bookie_id = %registrar.bookie_id, session, "bookie registered");
        Ok(registrar)
    }

    async fn publish(&self) -> Result<(), MetadataError> {
        let value = BookieRegistration {
            address: self.bookie_id.clone(),
            read_only: self.bookie.is_read_only(),
            free_bytes: self.disk.usage().free_bytes,
        };
        let bytes = serde_json::to_vec(&value).expect("registration serializes to JSON");
        self.metadata
            .put(
                &available_key(&self.bookie_id),
                Bytes::from(bytes),
                PutOptions::ephemeral(Expected::Any, self.session),
            )
            .await?;
        Ok(())
    }

    async fn renew_session(&mut self) -> Result<(), MetadataError> {
        self.session = self.metadata.create_session(self.ttl).await?;
        self.publish().await?;
        tracing::warn!(bookie_id = %self.bookie_id, session = self.session, "bookie re-registered after losing its session");
        Ok(())
    }

    /// Keeps the session alive and the registration current until
    /// cancelled, then revokes the session (removing the key at once).
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut mode = self.bookie.watch_read_only();
        let mut ticker = tokio::time::interval((self.ttl / 3).max(Duration::from_millis(50)));
        let mut needs_renewal = false;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = ticker.tick() => {
                    let result = if needs_renewal {
                        self.renew_session().await
                    } else {
                        self.metadata.keep_alive(self.session).await
                    };
                    needs_renewal = match result {
                        Ok(()) => false,
                        Err(err) => {
                            tracing::warn!(bookie_id = %self.bookie_id, error = %err, "registration keepalive failed");
                            needs_renewal || matches!(err, MetadataError::SessionExpired(_))
                        }
                    };
                }
                changed = mode.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    if let Err(err) = self.publish().await {
                        tracing::warn!(bookie_id = %self.bookie_id, error = %err, "cannot update registration");
                    }
                }
            }
        }
        if let Err(err) = self.metadata.revoke_session(self.session).await {
            tracing::debug!(error = %err, "revoking the registration session failed");
        }
    }
}
