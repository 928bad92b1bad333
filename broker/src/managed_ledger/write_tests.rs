//! Tests of the write path while bookies are short, over the in-memory
//! stores with paused time: held adds keep call order and resume without a
//! restart, expire with `NotWritable`, creation attempts stay bounded, a
//! full ledger is kept while no new one can be made, a degraded writer is
//! reported, and the log stays quiet.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use magnetar_bookie::testing::MemoryLedgerStore;
use magnetar_bookie::{
    ClosedLedger, EntryId, LedgerError, LedgerId, LedgerOptions, LedgerReader, LedgerStore,
    LedgerWriter, OpenMode, WriterHealth,
};
use magnetar_metadata::{MemoryStore, MetadataStore};
use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tracing_subscriber::layer::SubscriberExt;

use super::{
    InitialPosition, ManagedLedger, ManagedLedgerConfig, ManagedLedgerError, ManagedLedgerFactory,
    Position, WritabilityState,
};

const NAME: &str = "public/default/persistent/short";

/// A memory store that counts `create` calls and can report its writers degraded.
#[derive(Default)]
struct TestStore {
    memory: MemoryLedgerStore,
    creates: AtomicUsize,
    missing: Arc<Mutex<Vec<String>>>,
}

struct TestWriter {
    inner: Arc<dyn LedgerWriter>,
    missing: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl LedgerWriter for TestWriter {
    fn id(&self) -> LedgerId {
        self.inner.id()
    }
    fn append(&self, payload: Bytes) -> BoxFuture<'static, Result<EntryId, LedgerError>> {
        self.inner.append(payload)
    }
    fn last_add_confirmed(&self) -> EntryId {
        self.inner.last_add_confirmed()
    }
    fn length(&self) -> u64 {
        self.inner.length()
    }
    async fn close(&self) -> Result<ClosedLedger, LedgerError> {
        self.inner.close().await
    }
    fn health(&self) -> WriterHealth {
        WriterHealth {
            missing_bookies: self.missing.lock().clone(),
        }
    }
}

#[async_trait]
impl LedgerStore for TestStore {
    async fn create(&self, options: LedgerOptions) -> Result<Arc<dyn LedgerWriter>, LedgerError> {
        self.creates.fetch_add(1, Ordering::SeqCst);
        let inner = self.memory.create(options).await?;
        Ok(Arc::new(TestWriter {
            inner,
            missing: self.missing.clone(),
        }))
    }
    async fn open(
        &self,
        ledger_id: LedgerId,
        password: Bytes,
        mode: OpenMode,
    ) -> Result<Arc<dyn LedgerReader>, LedgerError> {
        self.memory.open(ledger_id, password, mode).await
    }
    async fn delete(&self, ledger_id: LedgerId) -> Result<(), LedgerError> {
        self.memory.delete(ledger_id).await
    }
    async fn writable_bookies(&self) -> Result<usize, LedgerError> {
        self.memory.writable_bookies().await
    }
}

fn config(max_entries_per_ledger: u64) -> ManagedLedgerConfig {
    ManagedLedgerConfig {
        ensemble_size: 1,
        write_quorum: 1,
        ack_quorum: 1,
        max_entries_per_ledger,
        min_rollover_time: Duration::ZERO,
        unwritable_add_timeout: Duration::from_secs(10),
        ..ManagedLedgerConfig::default()
    }
}

async fn open(store: &Arc<TestStore>, max_entries: u64) -> Arc<ManagedLedger> {
    let metadata: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let factory = ManagedLedgerFactory::new(metadata, store.clone(), config(max_entries));
    factory.open(NAME).await.unwrap()
}

fn payload(i: usize) -> Bytes {
    Bytes::from(format!("m{i}"))
}

fn spawn_add(
    ml: &Arc<ManagedLedger>,
    i: usize,
) -> JoinHandle<Result<Position, ManagedLedgerError>> {
    // `add_entry` queues the add at call time, so call order is kept.
    tokio::spawn(ml.add_entry(payload(i)))
}

fn break_the_ledger(store: &TestStore) {
    store.memory.set_bookies_available(false);
    store
        .memory
        .fail_next_append(LedgerError::NotEnoughBookies {
            needed: 1,
            available: 0,
        });
}

async fn read_all(ml: &ManagedLedger) -> Vec<Bytes> {
    let cursor = ml
        .open_cursor("check", InitialPosition::Earliest)
        .await
        .unwrap();
    let mut read = Vec::new();
    loop {
        let batch = cursor.read_entries(100, usize::MAX).await.unwrap();
        if batch.is_empty() {
            return read;
        }
        read.extend(batch.into_iter().map(|e| e.data));
    }
}

#[tokio::test(start_paused = true)]
async fn held_adds_keep_call_order_and_resume_without_restart() {
    let store = Arc::new(TestStore::default());
    let ml = open(&store, 1000).await;
    let first = ml.add_entry(payload(0)).await.unwrap();
    break_the_ledger(&store);
    let failed = ml.add_entry(payload(1)).await;
    assert!(
        matches!(failed, Err(ManagedLedgerError::WriteFailed { .. })),
        "{failed:?}"
    );
    let held: Vec<_> = (2..10).map(|i| spawn_add(&ml, i)).collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(held.iter().all(|h| !h.is_finished()), "adds are held");
    let writability = ml.writability();
    assert_eq!(writability.state, WritabilityState::NotWritable);
    assert_eq!(writability.held_adds, 8);
    assert!(writability.reason.unwrap().contains("not enough bookies"));

    store.memory.set_bookies_available(true);
    let mut positions = Vec::new();
    for add in held {
        positions.push(add.await.unwrap().unwrap());
    }
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(positions[0].ledger_id > first.ledger_id, "a new ledger");
    assert_eq!(ml.writability().state, WritabilityState::Writable);
    assert_eq!(ml.writability().held_adds, 0);
    let later = ml.add_entry(payload(10)).await.unwrap();
    assert!(later > positions[7]);
    let expected: Vec<Bytes> = [0].into_iter().chain(2..11).map(payload).collect();
    assert_eq!(read_all(&ml).await, expected);
}

#[tokio::test(start_paused = true)]
async fn held_adds_fail_with_not_writable_at_the_deadline() {
    let store = Arc::new(TestStore::default());
    let ml = open(&store, 1000).await;
    ml.add_entry(payload(0)).await.unwrap();
    break_the_ledger(&store);
    assert!(ml.add_entry(payload(1)).await.is_err());
    let held = spawn_add(&ml, 2);
    tokio::time::sleep(Duration::from_millis(9_900)).await;
    assert!(!held.is_finished(), "held until the deadline");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(held.is_finished(), "failed at the deadline");
    match held.await.unwrap() {
        Err(ManagedLedgerError::NotWritable { name, reason }) => {
            assert_eq!(name, NAME);
            assert!(reason.contains("not enough bookies"), "{reason}");
        }
        other => panic!("expected NotWritable, got {other:?}"),
    }
    let writability = ml.writability();
    assert_eq!(writability.failed_adds, 2);
    assert_eq!(writability.held_adds, 0);
    assert!(writability.since_ms.is_some());
}

/// Counts WARN events on this thread (the paused-time runtime runs every task here).
struct WarnCounter(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WarnCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn open_without_bookies_retries_creation_on_a_bounded_schedule() {
    let warnings = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(WarnCounter(warnings.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = Arc::new(TestStore::default());
    store.memory.set_bookies_available(false);
    let ml = open(&store, 1000).await;
    ml.open_cursor("sub", InitialPosition::Latest)
        .await
        .unwrap();
    assert_eq!(ml.writability().state, WritabilityState::NotWritable);
    // Ten minutes of one add per second, all failing after their hold.
    let mut adds = Vec::new();
    for i in 0..600 {
        adds.push(spawn_add(&ml, i));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let creates = store.creates.load(Ordering::SeqCst);
    assert!(creates <= 30, "{creates} creation attempts in 10 minutes");
    assert!(creates >= 10, "creation is retried: {creates}");
    let warned = warnings.load(Ordering::SeqCst);
    assert!(warned <= 11, "{warned} warnings in 10 minutes");
    assert!(warned >= 1);
    for add in adds.drain(..590) {
        assert!(matches!(
            add.await.unwrap(),
            Err(ManagedLedgerError::NotWritable { .. })
        ));
    }

    // Bookies return: the probe sees them within a second, although the
    // creation backoff has grown to 30 s, and the same instance writes again.
    let creates_before = store.creates.load(Ordering::SeqCst);
    store.memory.set_bookies_available(true);
    let back = tokio::time::Instant::now();
    let position = ml.add_entry(payload(1000)).await.unwrap();
    assert!(
        back.elapsed() <= Duration::from_millis(1_100),
        "writable again after {:?}",
        back.elapsed()
    );
    assert_eq!(store.creates.load(Ordering::SeqCst), creates_before + 1);
    assert_eq!(ml.writability().state, WritabilityState::Writable);
    let tail: Vec<Position> = futures::future::join_all(adds)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap().ok())
        .collect();
    assert!(tail.iter().all(|p| *p < position), "held adds went first");
}

#[tokio::test(start_paused = true)]
async fn full_ledger_is_kept_while_bookies_are_short() {
    let store = Arc::new(TestStore::default());
    let ml = open(&store, 5).await;
    let mut positions = Vec::new();
    for i in 0..5 {
        positions.push(ml.add_entry(payload(i)).await.unwrap());
    }
    let ledger = positions[0].ledger_id;
    store.memory.set_bookies_available(false);
    for i in 5..15 {
        let position = ml.add_entry(payload(i)).await.unwrap();
        assert_eq!(position.ledger_id, ledger, "no rollover while short");
        positions.push(position);
    }
    assert_eq!(store.memory.entry_count(ledger), Some(15));
    assert_eq!(ml.writability().state, WritabilityState::Writable);

    store.memory.set_bookies_available(true);
    tokio::time::sleep(Duration::from_secs(31)).await;
    let next = ml.add_entry(payload(15)).await.unwrap();
    assert!(next.ledger_id > ledger, "rolled over once bookies are back");
    let expected: Vec<Bytes> = (0..16).map(payload).collect();
    assert_eq!(read_all(&ml).await, expected);
}

#[tokio::test(start_paused = true)]
async fn degraded_writer_is_reported_and_cleared() {
    let store = Arc::new(TestStore::default());
    let ml = open(&store, 1000).await;
    *store.missing.lock() = vec!["bookie-3:3181".to_string()];
    ml.add_entry(payload(0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let writability = ml.writability();
    assert_eq!(writability.state, WritabilityState::Degraded);
    assert_eq!(
        writability.missing_bookies,
        vec!["bookie-3:3181".to_string()]
    );
    assert!(writability.is_writable());
    ml.add_entry(payload(1)).await.unwrap();

    store.missing.lock().clear();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writability = ml.writability();
    assert_eq!(
        writability.state,
        WritabilityState::Writable,
        "{writability:?}"
    );
    assert!(writability.missing_bookies.is_empty());
}
