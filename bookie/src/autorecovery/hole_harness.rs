//! A test harness for auditor and worker against fake bookies with
//! ledgers written by hand: entries sent straight to the live members of
//! their write sets, metadata created with the holes, so the tests do not
//! depend on how the writer decides to go on without a bookie.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use magnetar_metadata::{MemoryStore, MetadataStore};
use magnetar_proto::bookie::{AddRequest, StatusCode};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::auditor::Auditor;
use super::worker::ReplicationWorker;
use super::AutoRecoveryConfig;
use crate::client::fake_bookie::FakeCluster;
use crate::client::transport::BookieConnector;
use crate::client::{ClientConfig, LedgerClient, LedgerMetadata, LedgerState, Segment};
use crate::digest;
use crate::keys::marker_key;
use crate::ledger::{EntryId, LedgerId, LedgerOptions};

pub const GRACE: Duration = Duration::from_millis(500);
const PASSWORD: &[u8] = b"pw";

fn config() -> AutoRecoveryConfig {
    AutoRecoveryConfig {
        lost_bookie_recovery_delay: Duration::from_millis(300),
        open_ledger_rereplication_grace: GRACE,
        retry_interval: Duration::from_millis(100),
        ..AutoRecoveryConfig::default()
    }
}

pub struct Harness {
    pub store: Arc<dyn MetadataStore>,
    pub cluster: Arc<FakeCluster>,
    pub client: LedgerClient,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Harness {
    pub async fn new(bookies: usize) -> Self {
        let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
        let cluster = FakeCluster::start(bookies, Duration::from_millis(1), &store).await;
        let client_config = ClientConfig {
            add_timeout: Duration::from_millis(500),
            speculative_read_timeout: Duration::from_millis(50),
            read_timeout: Duration::from_millis(500),
            ..ClientConfig::default()
        };
        let client = LedgerClient::with_connector(store.clone(), client_config, cluster.clone());
        Harness {
            store,
            cluster,
            client,
            cancel: CancellationToken::new(),
            tasks: Vec::new(),
        }
    }

    /// A 3/3/2 ledger on `fake-0..2` with `segments` (first entry, holes):
    /// entries `0..entries` are stored on the live members of their write
    /// sets only; closed at the last entry if `closed`.
    pub async fn ledger(
        &self,
        segments: &[(EntryId, &[u32])],
        entries: i64,
        closed: bool,
    ) -> LedgerId {
        let options = LedgerOptions {
            ensemble_size: 3,
            write_quorum: 3,
            ack_quorum: 2,
            password: Bytes::from_static(PASSWORD),
            custom: BTreeMap::new(),
        };
        let ensemble: Vec<String> = (0..3).map(|i| format!("fake-{i}")).collect();
        let mut metadata = LedgerMetadata::new_open(&options, vec![]);
        metadata.segments = segments
            .iter()
            .map(|(first, holes)| Segment {
                first_entry_id: *first,
                ensemble: ensemble.clone(),
                holes: holes.to_vec(),
            })
            .collect();
        assert_eq!(metadata.hole_violation(), None);
        let store = self.client.metadata_store();
        let ledger_id = store.allocate_ledger_id().await.unwrap();
        let master_key = digest::master_key(PASSWORD);
        let mut length = 0;
        for entry_id in 0..entries {
            let payload = payload(entry_id);
            length += payload.len() as i64;
            let body =
                digest::encode_entry(ledger_id as i64, entry_id, entry_id - 1, length, &payload);
            for index in metadata.live_write_set(entry_id) {
                let request = AddRequest {
                    request_id: 0,
                    ledger_id: ledger_id as i64,
                    entry_id,
                    master_key: master_key.clone(),
                    body: body.clone(),
                    flags: 0,
                };
                let bookie = &metadata.ensemble_for(entry_id)[index];
                let response = self.cluster.bookie(bookie).add(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::StatusOk);
            }
        }
        if closed {
            metadata.state = LedgerState::Closed;
            metadata.last_entry_id = entries - 1;
            metadata.length = length as u64;
        }
        store.create(ledger_id, &metadata).await.unwrap();
        ledger_id
    }

    pub fn start(&mut self) {
        let ttl = Duration::from_secs(2);
        let auditor = Auditor::new(self.store.clone(), "auditor".into(), config(), ttl);
        let worker = ReplicationWorker::new(self.client.clone(), "worker".into(), config(), ttl);
        self.tasks
            .push(tokio::spawn(auditor.run(self.cancel.clone())));
        self.tasks
            .push(tokio::spawn(worker.run(self.cancel.clone())));
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .unwrap()
                .unwrap();
        }
    }

    pub async fn metadata(&self, ledger_id: LedgerId) -> LedgerMetadata {
        self.client
            .ledger_metadata(ledger_id)
            .await
            .unwrap()
            .metadata
    }

    pub async fn marked(&self, ledger_id: LedgerId) -> bool {
        self.store
            .get(&marker_key(ledger_id))
            .await
            .unwrap()
            .is_some()
    }

    /// Polls until `done` holds for the metadata, at most 20 s.
    pub async fn wait_for(
        &self,
        ledger_id: LedgerId,
        what: &str,
        done: impl Fn(&LedgerMetadata) -> bool,
    ) -> LedgerMetadata {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let metadata = self.metadata(ledger_id).await;
            if done(&metadata) {
                return metadata;
            }
            assert!(Instant::now() < deadline, "{what}: {:?}", metadata.segments);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_unmarked(&self, ledger_id: LedgerId) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.marked(ledger_id).await {
            assert!(Instant::now() < deadline, "marker not removed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every live member of every entry's write set holds the entry, and
    /// `Qw` of them are live.
    pub fn assert_on_write_quorum(
        &self,
        metadata: &LedgerMetadata,
        ledger_id: LedgerId,
        entries: i64,
    ) {
        let quorum = metadata.quorum();
        for entry_id in 0..entries {
            let live = metadata.live_write_set(entry_id);
            assert_eq!(
                live.len(),
                quorum.write,
                "entry {entry_id}: live set {live:?}"
            );
            for index in live {
                let bookie = &metadata.ensemble_for(entry_id)[index];
                assert!(
                    self.cluster
                        .get(bookie)
                        .has_entry(ledger_id as i64, entry_id),
                    "{bookie} lacks entry {entry_id}"
                );
            }
        }
    }

    /// Whether `bookie` still takes ordinary adds for the ledger (it is not
    /// fenced). Writes a throwaway entry far beyond the ledger's entries.
    pub async fn accepts_writes(&self, bookie: &str, ledger_id: LedgerId) -> bool {
        let request = AddRequest {
            request_id: 0,
            ledger_id: ledger_id as i64,
            entry_id: 1_000_000,
            master_key: digest::master_key(PASSWORD),
            body: Bytes::from_static(b"probe"),
            flags: 0,
        };
        let response = self.cluster.bookie(bookie).add(request).await.unwrap();
        response.status() == StatusCode::StatusOk
    }
}

fn payload(entry_id: EntryId) -> Bytes {
    Bytes::from(format!("entry-{entry_id}"))
}
