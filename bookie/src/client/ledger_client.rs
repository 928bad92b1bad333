//! [`LedgerClient`]: the [`LedgerStore`] brokers use in production.
//!
//! Create: validate the quorum, pick `E` random healthy writable bookies
//! (registered, not quarantined: see [`crate::client::directory`]), allocate an
//! id, write the `OPEN` metadata with `Expected::Absent`, then start the
//! writer. Open: check the password against the metadata, then either recover
//! (fence and close) or read the LAC without fencing. Delete: remove the
//! metadata; bookies reclaim the entries by garbage collection.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use magnetar_metadata::MetadataStore;

use crate::client::config::ClientConfig;
use crate::client::directory::BookieDirectory;
use crate::client::grpc::GrpcConnector;
use crate::client::metadata::{
    LedgerMetadata, LedgerMetadataStore, LedgerState, VersionedMetadata,
};
use crate::client::placement;
use crate::client::read::{self, ReadContext};
use crate::client::reader::QuorumLedgerReader;
use crate::client::recovery;
use crate::client::transport::BookieConnector;
use crate::client::write_core::{CoreContext, WriteMode, WriterCore};
use crate::client::writer::QuorumLedgerWriter;
use crate::digest;
use crate::ledger::{
    LedgerError, LedgerId, LedgerOptions, LedgerReader, LedgerStore, LedgerWriter, OpenMode,
};

/// The quorum ledger client. Cheap to clone.
#[derive(Clone)]
pub struct LedgerClient {
    core_context: CoreContext,
    read_context: ReadContext,
}

impl LedgerClient {
    /// A client reaching bookies over gRPC. Must be called inside a tokio runtime.
    pub fn new(metadata: Arc<dyn MetadataStore>, config: ClientConfig) -> Self {
        let connector = Arc::new(GrpcConnector::new(config.clone()));
        LedgerClient::with_connector(metadata, config, connector)
    }

    /// A client reaching bookies through `connector` (tests use in-memory bookies).
    pub fn with_connector(
        metadata: Arc<dyn MetadataStore>,
        config: ClientConfig,
        connector: Arc<dyn BookieConnector>,
    ) -> Self {
        let metadata_store =
            LedgerMetadataStore::new(metadata.clone(), config.metadata_cas_attempts);
        let directory = Arc::new(BookieDirectory::new(metadata, config.bookie_quarantine));
        LedgerClient {
            read_context: ReadContext {
                connector: connector.clone(),
                config: config.clone(),
            },
            core_context: CoreContext {
                connector,
                metadata_store,
                directory,
                config,
            },
        }
    }

    /// Ledger metadata access (used by auto-recovery and tools).
    pub fn metadata_store(&self) -> &LedgerMetadataStore {
        &self.core_context.metadata_store
    }

    /// How this client reaches bookies for reads (and adds, through its connector).
    pub fn read_context(&self) -> &ReadContext {
        &self.read_context
    }

    /// Reads a ledger's metadata.
    pub async fn ledger_metadata(
        &self,
        ledger_id: LedgerId,
    ) -> Result<VersionedMetadata, LedgerError> {
        self.metadata_store().read(ledger_id).await
    }

    fn reader(
        &self,
        ledger_id: LedgerId,
        metadata: LedgerMetadata,
        lac: i64,
    ) -> Arc<dyn LedgerReader> {
        Arc::new(QuorumLedgerReader::new(
            ledger_id,
            self.read_context.clone(),
            self.metadata_store().clone(),
            metadata,
            lac,
        ))
    }
}

#[async_trait]
impl LedgerStore for LedgerClient {
    async fn create(&self, options: LedgerOptions) -> Result<Arc<dyn LedgerWriter>, LedgerError> {
        options.validate()?;
        let store = self.metadata_store();
        // Quarantined bookies are left out, so a bookie that just failed (and
        // is still registered until its session expires) is not picked; the
        // id is allocated only once an ensemble is found.
        let writable = self.core_context.directory.healthy_writable().await?;
        let ensemble = placement::choose_bookies(&writable, options.ensemble_size as usize, &[])?;
        let ledger_id = store.allocate_ledger_id().await?;
        let metadata = LedgerMetadata::new_open(&options, ensemble);
        // The metadata exists before the first add reaches a bookie, so a
        // recoverer can always find every bookie that may hold an entry.
        let version = store.create(ledger_id, &metadata).await?;
        tracing::info!(ledger_id, ensemble = ?metadata.last_ensemble(), "ledger created");
        let core = WriterCore::new(
            ledger_id,
            WriteMode::Normal,
            self.core_context.clone(),
            digest::master_key(&options.password),
            VersionedMetadata { metadata, version },
            -1,
            0,
        );
        Ok(Arc::new(QuorumLedgerWriter::spawn(
            ledger_id,
            self.core_context.config.max_entry_size,
            core,
        )))
    }

    async fn open(
        &self,
        ledger_id: LedgerId,
        password: Bytes,
        mode: OpenMode,
    ) -> Result<Arc<dyn LedgerReader>, LedgerError> {
        let current = self.metadata_store().read(ledger_id).await?;
        if !current.metadata.password_matches(&password) {
            return Err(LedgerError::Unauthorized(ledger_id));
        }
        match mode {
            OpenMode::Recover => {
                let closed = recovery::recover_ledger(
                    &self.core_context,
                    &self.read_context,
                    ledger_id,
                    &password,
                )
                .await?;
                let last = closed.metadata.last_entry_id;
                Ok(self.reader(ledger_id, closed.metadata, last))
            }
            OpenMode::NoRecovery => {
                let metadata = current.metadata;
                let lac = match metadata.state {
                    LedgerState::Closed => metadata.last_entry_id,
                    LedgerState::Open | LedgerState::InRecovery => {
                        read::read_last_entries(&self.read_context, ledger_id, &metadata, None)
                            .await?
                    }
                };
                Ok(self.reader(ledger_id, metadata, lac))
            }
        }
    }

    async fn delete(&self, ledger_id: LedgerId) -> Result<(), LedgerError> {
        self.metadata_store().delete(ledger_id).await?;
        tracing::info!(ledger_id, "ledger deleted");
        Ok(())
    }

    async fn writable_bookies(&self) -> Result<usize, LedgerError> {
        Ok(self.core_context.directory.healthy_writable().await?.len())
    }
}
