//! [`ManagedLedgerFactory`]: opens, lists and deletes managed ledgers over a
//! metadata store and a ledger store, sharing one entry cache.
//!
//! Open protocol (what makes a takeover safe): read the ledger list; open the
//! last ledger with recovery, which fences its previous writer on the bookies
//! and fixes its final length; drop empty ledgers; create a fresh ledger; CAS
//! the list. Only after the CAS succeeds are writes accepted. When too few
//! bookies are writable for a fresh ledger, the managed ledger opens without
//! one (its writer task holds adds and retries creation). A previous
//! owner's appends then fail (fenced ledger) and its next list CAS fails
//! (version conflict), so it ends `Fenced` without losing an acknowledged add.
//! A terminated managed ledger (the list says so) opens the same way but
//! creates no ledger: it only serves reads.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::channel::mpsc;
use magnetar_bookie::{LedgerError, LedgerStore, OpenMode};
use magnetar_metadata::{Expected, MetadataError, MetadataStore, PutOptions, Version, Versioned};
use parking_lot::Mutex;

use super::config::{ManagedLedgerConfig, Retention};
use super::confirmed::ConfirmedLog;
use super::cursor::ManagedCursor;
use super::cursor_context::{CursorContext, TrimRequest};
use super::cursor_set::CursorSet;
use super::entry_cache::EntryCache;
use super::error::ManagedLedgerError;
use super::layout::LedgerLayout;
use super::ledger::ManagedLedger;
use super::list::LedgerList;
use super::maintenance::Maintenance;
use super::read::EntryReader;
use super::status::MlStatus;
use super::stored::{
    cursor_prefix, decode, ledger_list_key, now_millis, validate_name, StoredCursor, StoredLedger,
    StoredLedgerList, LEDGER_LIST_ROOT,
};
use super::writer::{ledger_options, MlWriterTask};

const CLAIM_ATTEMPTS: usize = 3;

type Slot = Arc<tokio::sync::Mutex<Option<Arc<ManagedLedger>>>>;

pub struct ManagedLedgerFactory {
    metadata: Arc<dyn MetadataStore>,
    ledgers: Arc<dyn LedgerStore>,
    config: ManagedLedgerConfig,
    cache: Arc<EntryCache>,
    /// One slot per name, so concurrent opens of one name never race each other.
    open_ledgers: Mutex<HashMap<String, Slot>>,
}

impl ManagedLedgerFactory {
    pub fn new(
        metadata: Arc<dyn MetadataStore>,
        ledgers: Arc<dyn LedgerStore>,
        config: ManagedLedgerConfig,
    ) -> Self {
        let cache = Arc::new(EntryCache::new(config.cache_size_bytes));
        ManagedLedgerFactory {
            metadata,
            ledgers,
            config,
            cache,
            open_ledgers: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn metadata(&self) -> &Arc<dyn MetadataStore> {
        &self.metadata
    }

    /// The ledger store the managed ledgers write to.
    pub fn ledger_store(&self) -> &Arc<dyn LedgerStore> {
        &self.ledgers
    }

    pub fn config(&self) -> &ManagedLedgerConfig {
        &self.config
    }

    pub fn entry_cache(&self) -> &EntryCache {
        &self.cache
    }

    fn slot(&self, name: &str) -> Slot {
        self.open_ledgers
            .lock()
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    /// Managed ledgers currently open in this factory.
    pub fn loaded(&self) -> Vec<Arc<ManagedLedger>> {
        let slots: Vec<Slot> = self.open_ledgers.lock().values().cloned().collect();
        slots
            .iter()
            .filter_map(|slot| slot.try_lock().ok().and_then(|ml| ml.clone()))
            .filter(|ml| ml.is_open())
            .collect()
    }

    /// Opens (creating if absent) the managed ledger `name`, e.g.
    /// `public/default/persistent/my-topic`. Returns the already-open
    /// instance if there is one.
    pub async fn open(&self, name: &str) -> Result<Arc<ManagedLedger>, ManagedLedgerError> {
        self.open_with(name, Retention::default()).await
    }

    /// [`ManagedLedgerFactory::open`] with the retention a newly opened
    /// instance trims by from its first maintenance pass (an instance
    /// already open keeps its own; set it with `set_retention`).
    pub async fn open_with(
        &self,
        name: &str,
        retention: Retention,
    ) -> Result<Arc<ManagedLedger>, ManagedLedgerError> {
        validate_name(name, true)?;
        let slot = self.slot(name);
        let mut guard = slot.lock().await;
        if let Some(ml) = guard.as_ref().filter(|ml| ml.is_open()) {
            return Ok(ml.clone());
        }
        let ml = Arc::new(self.open_fresh(name, retention).await?);
        *guard = Some(ml.clone());
        Ok(ml)
    }

    async fn open_fresh(
        &self,
        name: &str,
        retention: Retention,
    ) -> Result<ManagedLedger, ManagedLedgerError> {
        let key = ledger_list_key(name);
        let (mut list, version) = match self.metadata.get(&key).await? {
            Some(stored) => (
                decode::<StoredLedgerList>(&key, &stored.value)?,
                Some(stored.version),
            ),
            None => (StoredLedgerList::default(), None),
        };
        let mut recovered = None;
        if let Some(last) = list.ledgers.last_mut() {
            match self
                .ledgers
                .open(
                    last.ledger_id,
                    self.config.password.clone(),
                    OpenMode::Recover,
                )
                .await
            {
                Ok(reader) => {
                    let closed = reader.closed();
                    last.entries = closed.map_or(0, |c| (c.last_entry_id + 1).max(0) as u64);
                    last.size = closed.map_or(0, |c| c.length);
                    last.timestamp = now_millis();
                    recovered = Some(reader);
                }
                Err(LedgerError::NoSuchLedger(id)) => {
                    tracing::warn!(
                        managed_ledger = name,
                        ledger_id = id,
                        "last ledger is missing, dropping it"
                    );
                    last.entries = 0;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let empty: Vec<u64> = list
            .ledgers
            .iter()
            .filter(|l| l.entries == 0)
            .map(|l| l.ledger_id)
            .collect();
        list.ledgers.retain(|l| l.entries > 0);

        // Durability order: the new ledger exists before the list names it,
        // and the list CAS succeeds before any write is accepted. Without
        // enough bookies the managed ledger still opens (the CAS still
        // fences a previous owner); its writer task starts without a ledger
        // and creates one once bookies are back, holding adds meanwhile.
        // A terminated managed ledger takes no more entries: no new ledger.
        let writer = match list.terminated_at {
            Some(_) => Ok(None),
            None => match self
                .ledgers
                .create(ledger_options(name, &self.config))
                .await
            {
                Ok(writer) => {
                    list.ledgers.push(StoredLedger {
                        ledger_id: writer.id(),
                        entries: 0,
                        size: 0,
                        timestamp: now_millis(),
                    });
                    Ok(Some(writer))
                }
                Err(error @ LedgerError::NotEnoughBookies { .. }) => Err(error),
                Err(error) => return Err(error.into()),
            },
        };
        let layout = LedgerLayout::from_ledgers(
            list.ledgers
                .iter()
                .map(|l| (l.ledger_id, l.entries as i64, l.size)),
        );

        let status = Arc::new(MlStatus::new(name));
        if let Some(position) = list.terminated_at {
            status.set_terminated(position);
        }
        let ledger_list = Arc::new(LedgerList::new(
            self.metadata.clone(),
            status.clone(),
            version,
        ));
        let stored = ledger_list.lock().await.cas(list).await;
        if let Err(error) = stored {
            if let Ok(Some(writer)) = &writer {
                let _ = self.ledgers.delete(writer.id()).await;
            }
            return Err(error);
        }
        for id in empty {
            if let Err(e) = self.ledgers.delete(id).await {
                tracing::debug!(managed_ledger = name, ledger_id = id, error = %e, "could not delete empty ledger");
            }
        }
        let (log, publisher) = ConfirmedLog::new(layout);
        let reads = Arc::new(EntryReader::new(
            name,
            self.config.password.clone(),
            self.ledgers.clone(),
            self.cache.clone(),
            log.clone(),
        ));
        if let Some(reader) = recovered {
            reads.keep_reader(reader);
        }
        let trim = Arc::new(TrimRequest::new(true));
        trim.set_retention(retention);
        let cursor_context = Arc::new(CursorContext::new(
            log.clone(),
            reads.clone(),
            status.clone(),
            self.metadata.clone(),
            trim.clone(),
            self.config.max_persisted_ack_ranges,
        ));
        let cursors = Arc::new(self.load_cursors(name, &cursor_context).await?);

        // Not tokio's channel: it allocates 32 slots up front for every
        // open topic (see `QuorumLedgerWriter::spawn`).
        let (commands, command_rx) = mpsc::unbounded();
        let writer_task = MlWriterTask::new(
            status.clone(),
            self.config.clone(),
            self.ledgers.clone(),
            self.cache.clone(),
            ledger_list.clone(),
            publisher,
            writer,
        );
        tokio::spawn(writer_task.run(command_rx));
        let maintenance = Maintenance {
            status: status.clone(),
            interval: self.config.cursor_flush_interval,
            store: self.ledgers.clone(),
            list: ledger_list.clone(),
            log: log.clone(),
            reads: reads.clone(),
            cursors: cursors.clone(),
            trim,
        };
        tokio::spawn(maintenance.run());
        tracing::info!(managed_ledger = name, "opened managed ledger");
        Ok(ManagedLedger::new(
            status,
            commands,
            log,
            ledger_list,
            reads,
            cursors,
            cursor_context,
        ))
    }

    /// Claims and loads every stored cursor of the managed ledger.
    async fn load_cursors(
        &self,
        name: &str,
        context: &Arc<CursorContext>,
    ) -> Result<CursorSet, ManagedLedgerError> {
        let cursors = CursorSet::default();
        let prefix = cursor_prefix(name);
        for (key, stored) in self.metadata.list_all(&prefix).await? {
            let cursor_name = &key[prefix.len()..];
            if cursor_name.contains('/') {
                continue; // a cursor of a managed ledger whose name extends this one
            }
            let (parsed, version) = self.claim_cursor(&key, stored).await?;
            cursors.insert(ManagedCursor::restore(
                context,
                cursor_name,
                parsed,
                version,
            ));
        }
        Ok(cursors)
    }

    /// Rewrites a stored cursor unchanged to take it over: the CAS bumps its
    /// version, so a previous owner's later flush fails (and fences it)
    /// instead of silently overwriting this owner's state. A flush that
    /// races the claim is adopted (its acks are real acks) and retried.
    async fn claim_cursor(
        &self,
        key: &str,
        mut stored: Versioned,
    ) -> Result<(StoredCursor, Version), ManagedLedgerError> {
        for _ in 0..CLAIM_ATTEMPTS {
            let options = PutOptions::expect(Expected::Version(stored.version));
            match self.metadata.put(key, stored.value.clone(), options).await {
                Ok(version) => return Ok((decode(key, &stored.value)?, version)),
                Err(MetadataError::BadVersion { .. }) => match self.metadata.get(key).await? {
                    Some(latest) => stored = latest,
                    None => break,
                },
                Err(error) => return Err(error.into()),
            }
        }
        Err(ManagedLedgerError::Fenced {
            name: key.to_string(),
        })
    }

    /// Names of the stored managed ledgers whose name starts with `prefix`
    /// (e.g. `public/default/persistent/`), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, ManagedLedgerError> {
        let full = format!("{LEDGER_LIST_ROOT}{prefix}");
        Ok(self
            .metadata
            .list_all(&full)
            .await?
            .into_iter()
            .map(|(key, _)| key[LEDGER_LIST_ROOT.len()..].to_string())
            .collect())
    }

    /// Whether a managed ledger named `name` is stored.
    pub async fn exists(&self, name: &str) -> Result<bool, ManagedLedgerError> {
        Ok(self.metadata.get(&ledger_list_key(name)).await?.is_some())
    }

    /// Deletes the managed ledger: closes it if open here, removes its
    /// cursors and its list (metadata first), then deletes its ledgers.
    pub async fn delete(&self, name: &str) -> Result<(), ManagedLedgerError> {
        self.delete_with(name, |_| Vec::new()).await
    }

    /// [`Self::delete`], and also the ledgers outside the list that the
    /// managed ledger's user keeps and names in its properties (a topic's
    /// compacted ledger): `owned` reads their ids from the properties as
    /// they were stored last. They are deleted with the list's ledgers,
    /// after the metadata is gone.
    pub async fn delete_with(
        &self,
        name: &str,
        owned: impl FnOnce(&BTreeMap<String, String>) -> Vec<u64>,
    ) -> Result<(), ManagedLedgerError> {
        validate_name(name, true)?;
        let slot = self.slot(name);
        let mut guard = slot.lock().await;
        if let Some(ml) = guard.take() {
            if let Err(error) = ml.close().await {
                tracing::debug!(managed_ledger = name, error = %error, "close before delete failed");
            }
        }
        let key = ledger_list_key(name);
        let Some(stored) = self.metadata.get(&key).await? else {
            return Err(ManagedLedgerError::NoSuchManagedLedger(name.to_string()));
        };
        let list: StoredLedgerList = decode(&key, &stored.value)?;
        let prefix = cursor_prefix(name);
        for (cursor_key, _) in self.metadata.list_all(&prefix).await? {
            if !cursor_key[prefix.len()..].contains('/') {
                self.metadata.delete(&cursor_key, Expected::Any).await?;
            }
        }
        self.metadata
            .delete(&key, Expected::Version(stored.version))
            .await?;
        let listed = list.ledgers.iter().map(|ledger| ledger.ledger_id);
        for ledger_id in listed.chain(owned(&list.properties)) {
            self.cache.evict_ledger(ledger_id);
            if let Err(e) = self.ledgers.delete(ledger_id).await {
                tracing::warn!(managed_ledger = name, ledger_id, error = %e, "could not delete ledger");
            }
        }
        tracing::info!(managed_ledger = name, "deleted managed ledger");
        Ok(())
    }

    /// Closes every open managed ledger (broker shutdown).
    pub async fn close_all(&self) {
        for ml in self.loaded() {
            if let Err(error) = ml.close().await {
                tracing::warn!(managed_ledger = ml.name(), error = %error, "close failed");
            }
        }
    }
}
