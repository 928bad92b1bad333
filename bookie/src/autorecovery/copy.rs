//! Copying one fragment: every entry the bookie at the fragment's index
//! should hold, from a surviving replica to the target. The metadata change
//! that follows is in [`super::swap`].
//!
//! Order matters: the metadata names the target only after every entry is
//! on it, so a reader following the metadata never asks a bookie that lacks
//! an entry. Copies are `RECOVERY | HIGH_PRIORITY` adds of the
//! original framed body (digest and piggybacked LAC unchanged), accepted by
//! fenced ledgers and read-only bookies, and idempotent: a retry after a
//! partial copy simply writes the same bodies again.

use std::collections::BTreeSet;

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use magnetar_proto::bookie::{AddFlag, AddRequest, StatusCode};

use super::error::{AutoRecoveryError, CopyFailure};
use super::fragment::Fragment;
use crate::client::metadata::VersionedMetadata;
use crate::client::read::{self, ReadContext};
use crate::client::BookieId;
use crate::ledger::{EntryId, LedgerId};

/// What copying needs: bookie access and the ledger's master key.
pub struct FragmentCopy<'a> {
    pub context: &'a ReadContext,
    pub ledger_id: LedgerId,
    pub master_key: Bytes,
    pub parallelism: usize,
}

impl FragmentCopy<'_> {
    /// Copies the entries of `fragment` to `replacement`;
    /// returns how many entries were copied.
    pub async fn copy(
        &self,
        metadata: &VersionedMetadata,
        fragment: &Fragment,
        lost: &BTreeSet<BookieId>,
        replacement: &str,
    ) -> Result<u64, AutoRecoveryError> {
        let quorum = metadata.metadata.quorum();
        stream::iter(fragment.entries(quorum))
            .map(|entry_id| {
                let sources = fragment.sources(quorum, entry_id, lost);
                async move { self.copy_entry(entry_id, &sources, replacement).await }
            })
            .buffer_unordered(self.parallelism.max(1))
            .try_fold(0u64, |copied, ()| async move { Ok(copied + 1) })
            .await
    }

    async fn copy_entry(
        &self,
        entry_id: EntryId,
        sources: &[&str],
        replacement: &str,
    ) -> Result<(), AutoRecoveryError> {
        let ledger_id = self.ledger_id;
        let entry = read::read_entry_from(self.context, ledger_id, sources, entry_id)
            .await
            .map_err(|source| AutoRecoveryError::EntryUnreadable {
                ledger_id,
                entry_id,
                source,
            })?;
        let request = AddRequest {
            request_id: 0,
            ledger_id: ledger_id as i64,
            entry_id,
            master_key: self.master_key.clone(),
            body: entry.body,
            flags: AddFlag::Recovery as u32 | AddFlag::HighPriority as u32,
        };
        let failed = |source: CopyFailure| AutoRecoveryError::CopyFailed {
            ledger_id,
            entry_id,
            bookie: replacement.to_string(),
            source,
        };
        let add = self.context.connector.bookie(replacement).add(request);
        let response = match tokio::time::timeout(self.context.config.add_timeout, add).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(failed(error.into())),
            Err(_) => {
                let timeout = crate::client::transport::TransportError::Timeout {
                    bookie: replacement.to_string(),
                };
                return Err(failed(timeout.into()));
            }
        };
        match response.status() {
            StatusCode::StatusOk => Ok(()),
            status => Err(failed(CopyFailure::Refused {
                status,
                message: response.message,
            })),
        }
    }
}
