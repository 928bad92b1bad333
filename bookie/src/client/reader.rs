//! [`QuorumLedgerReader`]: the [`LedgerReader`] handle.
//!
//! A reader never reads beyond what it knows is safe: the last entry of a
//! closed ledger, or the LAC it last observed on an open one (an entry above
//! the LAC may not survive recovery). `refresh_lac` re-reads the metadata
//! (segments may have changed, the ledger may have been closed) and asks the
//! last ensemble, without fencing, for the LAC carried by their last entries.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use parking_lot::Mutex;

use crate::client::metadata::{LedgerMetadata, LedgerMetadataStore, LedgerState};
use crate::client::read::{self, ReadContext};
use crate::ledger::{ClosedLedger, EntryId, LedgerError, LedgerId, LedgerReader};

/// Entries read concurrently by one `read` call.
const READ_PARALLELISM: usize = 16;

struct ReaderView {
    metadata: LedgerMetadata,
    closed: Option<ClosedLedger>,
    lac: EntryId,
}

pub struct QuorumLedgerReader {
    ledger_id: LedgerId,
    context: ReadContext,
    metadata_store: LedgerMetadataStore,
    view: Mutex<ReaderView>,
}

impl QuorumLedgerReader {
    /// A reader over `metadata`, knowing `lac` (ignored once closed).
    pub fn new(
        ledger_id: LedgerId,
        context: ReadContext,
        metadata_store: LedgerMetadataStore,
        metadata: LedgerMetadata,
        lac: EntryId,
    ) -> Self {
        let closed = closed_of(ledger_id, &metadata);
        QuorumLedgerReader {
            ledger_id,
            context,
            metadata_store,
            view: Mutex::new(ReaderView {
                metadata,
                closed,
                lac,
            }),
        }
    }
}

fn closed_of(ledger_id: LedgerId, metadata: &LedgerMetadata) -> Option<ClosedLedger> {
    (metadata.state == LedgerState::Closed).then_some(ClosedLedger {
        ledger_id,
        last_entry_id: metadata.last_entry_id,
        length: metadata.length,
    })
}

#[async_trait]
impl LedgerReader for QuorumLedgerReader {
    fn id(&self) -> LedgerId {
        self.ledger_id
    }

    fn closed(&self) -> Option<ClosedLedger> {
        self.view.lock().closed
    }

    fn readable_up_to(&self) -> EntryId {
        let view = self.view.lock();
        view.closed
            .map(|closed| closed.last_entry_id)
            .unwrap_or(view.lac)
    }

    async fn refresh_lac(&self) -> Result<EntryId, LedgerError> {
        if self.closed().is_some() {
            return Ok(self.readable_up_to());
        }
        let current = self.metadata_store.read(self.ledger_id).await?.metadata;
        let observed = match closed_of(self.ledger_id, &current) {
            Some(closed) => closed.last_entry_id,
            None => read::read_last_entries(&self.context, self.ledger_id, &current, None).await?,
        };
        let mut view = self.view.lock();
        view.closed = closed_of(self.ledger_id, &current);
        view.metadata = current;
        view.lac = view.lac.max(observed);
        drop(view);
        Ok(self.readable_up_to())
    }

    fn confirmed_up_to(&self, entry_id: EntryId) {
        let mut view = self.view.lock();
        view.lac = view.lac.max(entry_id);
    }

    async fn read(&self, first: EntryId, last: EntryId) -> Result<Vec<Bytes>, LedgerError> {
        let readable = self.readable_up_to();
        if last > readable {
            return Err(LedgerError::BeyondLac {
                entry_id: last,
                lac: readable,
            });
        }
        if first < 0 {
            return Err(LedgerError::NoSuchEntry {
                ledger_id: self.ledger_id,
                entry_id: first,
            });
        }
        let metadata = self.view.lock().metadata.clone();
        let (context, metadata) = (&self.context, &metadata);
        stream::iter(first..=last)
            .map(|entry_id| async move {
                read::read_entry(context, self.ledger_id, metadata, entry_id)
                    .await
                    .map(|e| e.decoded.payload)
            })
            .buffered(READ_PARALLELISM)
            .try_collect()
            .await
    }
}
