//! The stored ledger list of an open managed ledger: its value as last
//! written, the version it was written at, and the CAS that replaces it.
//!
//! Rollover, trimming, close and properties each lock the list, read it,
//! change a copy and CAS it while holding the lock, so list updates never
//! interleave. A version conflict means another broker took the managed
//! ledger over: the CAS fences it.

use std::sync::Arc;

use magnetar_metadata::{Expected, MetadataError, MetadataStore, PutOptions, Version};

use super::error::ManagedLedgerError;
use super::status::MlStatus;
use super::stored::{encode, ledger_list_key, StoredLedgerList};

pub(crate) struct LedgerList {
    key: String,
    metadata: Arc<dyn MetadataStore>,
    status: Arc<MlStatus>,
    state: tokio::sync::Mutex<ListState>,
}

struct ListState {
    list: StoredLedgerList,
    /// `None` until the list exists in the store.
    version: Option<Version>,
}

/// The locked ledger list; dropping it lets the next update in.
pub(crate) struct ListGuard<'a> {
    owner: &'a LedgerList,
    state: tokio::sync::MutexGuard<'a, ListState>,
}

impl LedgerList {
    /// The list of `status`'s managed ledger, stored at `version` (`None`:
    /// not stored yet). Its value is empty until the first CAS.
    pub fn new(
        metadata: Arc<dyn MetadataStore>,
        status: Arc<MlStatus>,
        version: Option<Version>,
    ) -> Self {
        LedgerList {
            key: ledger_list_key(status.name()),
            metadata,
            status,
            state: tokio::sync::Mutex::new(ListState {
                list: StoredLedgerList::default(),
                version,
            }),
        }
    }

    pub async fn lock(&self) -> ListGuard<'_> {
        ListGuard {
            owner: self,
            state: self.state.lock().await,
        }
    }
}

impl ListGuard<'_> {
    /// The list as last written.
    pub fn current(&self) -> &StoredLedgerList {
        &self.state.list
    }

    /// CAS-writes `new` as the ledger list. A version conflict means another
    /// instance owns the managed ledger now: this one becomes fenced.
    pub async fn cas(&mut self, new: StoredLedgerList) -> Result<(), ManagedLedgerError> {
        let owner = self.owner;
        let expected = self
            .state
            .version
            .map_or(Expected::Absent, Expected::Version);
        match owner
            .metadata
            .put(&owner.key, encode(&new), PutOptions::expect(expected))
            .await
        {
            Ok(version) => {
                self.state.version = Some(version);
                self.state.list = new;
                Ok(())
            }
            Err(MetadataError::BadVersion { .. }) => {
                owner.status.set_fenced();
                Err(owner.status.fenced())
            }
            Err(e) => Err(e.into()),
        }
    }
}
