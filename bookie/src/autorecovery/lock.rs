//! [`LedgerLock`]: one worker at a time per marked ledger.
//!
//! The lock is the ephemeral key `/underreplication/locks/<ledger-id>`,
//! created with `Expected::Absent` under the worker's session: a worker that
//! dies loses its locks when its session expires, and the ledger is picked
//! up again by another worker. Re-replication steps are idempotent CASes, so
//! even two workers overlapping after a session loss cannot corrupt the
//! metadata.

use std::sync::Arc;

use bytes::Bytes;
use magnetar_metadata::{Expected, MetadataError, MetadataStore, PutOptions, SessionId, Version};

use crate::keys::lock_key;
use crate::ledger::LedgerId;

/// A held lock. Release it with [`LedgerLock::release`]; if it is dropped
/// instead, the key stays until the session ends.
pub struct LedgerLock {
    store: Arc<dyn MetadataStore>,
    key: String,
    version: Version,
}

impl LedgerLock {
    /// Takes the lock of `ledger_id`, or `None` if another worker holds it.
    pub async fn try_acquire(
        store: &Arc<dyn MetadataStore>,
        session: SessionId,
        ledger_id: LedgerId,
        owner: &str,
    ) -> Result<Option<LedgerLock>, MetadataError> {
        let key = lock_key(ledger_id);
        let value = Bytes::from(owner.to_string());
        match store
            .put(
                &key,
                value,
                PutOptions::ephemeral(Expected::Absent, session),
            )
            .await
        {
            Ok(version) => Ok(Some(LedgerLock {
                store: store.clone(),
                key,
                version,
            })),
            Err(MetadataError::BadVersion { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Deletes the key if it is still this lock.
    pub async fn release(self) {
        match self
            .store
            .delete(&self.key, Expected::Version(self.version))
            .await
        {
            Ok(()) | Err(MetadataError::BadVersion { .. }) => {}
            Err(error) => {
                tracing::warn!(key = %self.key, %error, "cannot release re-replication lock; its session will")
            }
        }
    }
}
