//! The ledger client against real `magnetar bookie` processes and a real
//! etcd: four bookies on loopback, ledgers with E=3, Qw=3, Qa=2 unless a test
//! says otherwise.
//!
//! - kill -9 of an ensemble bookie in the middle of an add stream: no add
//!   fails, the metadata gains a fragment without the dead bookie, and every
//!   entry reads back after close;
//! - a second client recovers a ledger its writer is still appending to: the
//!   writer is fenced, every entry it had confirmed survives, and every
//!   client agrees on the last entry;
//! - kill -9 of a bookie right after its adds were confirmed, before any
//!   checkpoint: after a restart on the same port and data dir it serves
//!   every one of those entries from its replayed journal.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{FuturesOrdered, StreamExt};
use futures::FutureExt;
use magnetar_bookie::client::grpc::GrpcConnector;
use magnetar_bookie::client::transport::BookieConnector;
use magnetar_bookie::client::{ClientConfig, LedgerClient, LedgerState};
use magnetar_bookie::digest::decode_entry;
use magnetar_bookie::{
    EntryId, LedgerError, LedgerId, LedgerOptions, LedgerReader, LedgerStore, LedgerWriter,
    OpenMode,
};
use magnetar_proto::bookie::{ReadRequest, StatusCode};
use magnetar_tests::BookieCluster;

const PASSWORD: &[u8] = b"bookie-cluster-test";
/// Bookies in every test cluster: one more than the ensemble, so a dead
/// bookie can be replaced.
const BOOKIES: usize = 4;
/// Adds a stream keeps in flight.
const IN_FLIGHT: usize = 64;
/// Bound on any single wait for one add (the client's own add timeout is 30 s).
const ADD_WAIT: Duration = Duration::from_secs(60);
/// Bound on opening (and recovering) a ledger.
const OPEN_WAIT: Duration = Duration::from_secs(60);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("magnetar_bookie=info,bookie_cluster=info")
        .with_test_writer()
        .try_init();
}

fn options(ensemble: u32, write: u32, ack: u32) -> LedgerOptions {
    LedgerOptions {
        ensemble_size: ensemble,
        write_quorum: write,
        ack_quorum: ack,
        password: Bytes::from_static(PASSWORD),
        custom: BTreeMap::new(),
    }
}

/// The payload of an entry: 64 to 575 bytes, different for every ledger and
/// entry, so a misplaced or stale body cannot pass the comparison.
fn payload(ledger_id: LedgerId, entry_id: EntryId) -> Bytes {
    let len = 64 + (entry_id as usize * 37) % 512;
    let pattern = format!("ledger {ledger_id} entry {entry_id};");
    Bytes::from(pattern.bytes().cycle().take(len).collect::<Vec<u8>>())
}

async fn ledger_client(cluster: &BookieCluster) -> LedgerClient {
    let metadata = cluster.metadata().await.expect("connect to etcd");
    LedgerClient::new(metadata, ClientConfig::default())
}

/// Creates a ledger and returns its writer with the bookies of its ensemble.
async fn create_ledger(
    client: &LedgerClient,
    options: LedgerOptions,
) -> (Arc<dyn LedgerWriter>, Vec<String>) {
    let writer = client.create(options).await.expect("create ledger");
    let ensemble = client
        .ledger_metadata(writer.id())
        .await
        .expect("read ledger metadata")
        .metadata
        .last_ensemble()
        .to_vec();
    (writer, ensemble)
}

/// Appends `count` entries, `IN_FLIGHT` at a time, and returns once all are
/// confirmed. Panics on any failed add. `after_confirmed(n)` runs after the
/// n-th confirmation (1-based).
async fn append_all(
    writer: &Arc<dyn LedgerWriter>,
    count: i64,
    mut after_confirmed: impl FnMut(usize),
) -> Vec<EntryId> {
    let ledger_id = writer.id();
    let mut inflight = FuturesOrdered::new();
    let mut confirmed = Vec::with_capacity(count as usize);
    let mut next: EntryId = 0;
    while next < count || !inflight.is_empty() {
        while next < count && inflight.len() < IN_FLIGHT {
            let expected = next;
            inflight.push_back(
                writer
                    .append(payload(ledger_id, next))
                    .map(move |r| (expected, r)),
            );
            next += 1;
        }
        let (expected, result) = tokio::time::timeout(ADD_WAIT, inflight.next())
            .await
            .unwrap_or_else(|_| panic!("add {} not answered within {ADD_WAIT:?}", confirmed.len()))
            .expect("an add is in flight");
        let entry_id = result.unwrap_or_else(|error| {
            panic!(
                "add {expected} failed after {} confirmed adds: {error}",
                confirmed.len()
            )
        });
        assert_eq!(entry_id, expected, "adds confirmed out of call order");
        confirmed.push(entry_id);
        after_confirmed(confirmed.len());
    }
    confirmed
}

/// Reads `0..=last` through `reader` and checks every payload.
async fn assert_readable(reader: &Arc<dyn LedgerReader>, last: EntryId, who: &str) -> Vec<Bytes> {
    let ledger_id = reader.id();
    let mut bodies = Vec::new();
    let mut first = 0;
    while first <= last {
        let batch_last = (first + 99).min(last);
        let batch = tokio::time::timeout(OPEN_WAIT, reader.read(first, batch_last))
            .await
            .unwrap_or_else(|_| panic!("{who}: read {first}..={batch_last} timed out"))
            .unwrap_or_else(|error| panic!("{who}: read {first}..={batch_last} failed: {error}"));
        assert_eq!(
            batch.len() as i64,
            batch_last - first + 1,
            "{who}: short read at {first}"
        );
        for (offset, body) in batch.into_iter().enumerate() {
            let entry_id = first + offset as i64;
            assert!(
                body == payload(ledger_id, entry_id),
                "{who}: entry {entry_id} of ledger {ledger_id} has the wrong content ({} bytes)",
                body.len()
            );
            bodies.push(body);
        }
        first = batch_last + 1;
    }
    bodies
}

async fn open(
    client: &LedgerClient,
    ledger_id: LedgerId,
    mode: OpenMode,
) -> Result<Arc<dyn LedgerReader>, LedgerError> {
    tokio::time::timeout(
        OPEN_WAIT,
        client.open(ledger_id, Bytes::from_static(PASSWORD), mode),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("open of ledger {ledger_id} ({mode:?}) did not finish within {OPEN_WAIT:?}")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_an_ensemble_bookie_mid_stream_fails_no_add_and_loses_no_entry() {
    init_tracing();
    const TOTAL: i64 = 3000;
    const KILL_AFTER: usize = 500;
    let mut cluster = BookieCluster::start(BOOKIES)
        .await
        .expect("start etcd and bookies");
    let client = ledger_client(&cluster).await;
    let (writer, first_ensemble) = create_ledger(&client, options(3, 3, 2)).await;
    let ledger_id = writer.id();
    let victim = first_ensemble[1].clone();
    let spare: Vec<String> = cluster
        .ids()
        .into_iter()
        .filter(|id| !first_ensemble.contains(id))
        .collect();
    assert_eq!(
        spare.len(),
        1,
        "exactly one bookie is outside the first ensemble"
    );

    tracing::info!(ledger_id, %victim, "phase 1: stream adds, kill -9 an ensemble bookie mid-stream");
    let confirmed = {
        let cluster = &mut cluster;
        let victim = victim.clone();
        append_all(&writer, TOTAL, move |n| {
            if n == KILL_AFTER {
                cluster
                    .bookie_mut(&victim)
                    .unwrap()
                    .kill9()
                    .expect("kill -9 bookie");
            }
        })
        .await
    };
    assert!(!cluster.bookie_mut(&victim).unwrap().is_running());
    assert_eq!(confirmed.len() as i64, TOTAL);
    assert_eq!(writer.last_add_confirmed(), TOTAL - 1);

    tracing::info!("phase 2: the metadata has a fragment without the dead bookie");
    let metadata = client.ledger_metadata(ledger_id).await.unwrap().metadata;
    assert!(
        metadata.segments.len() >= 2,
        "no ensemble change after kill -9 of {victim}: {:?}",
        metadata.segments
    );
    assert_eq!(metadata.segments[0].ensemble, first_ensemble);
    let change = &metadata.segments[1];
    assert!(
        change.first_entry_id >= KILL_AFTER as i64 && change.first_entry_id < TOTAL,
        "new fragment starts at {}, but {KILL_AFTER} adds were confirmed before the kill",
        change.first_entry_id
    );
    for segment in &metadata.segments[1..] {
        assert!(
            !segment.ensemble.contains(&victim),
            "dead bookie still in {segment:?}"
        );
    }
    assert_eq!(
        metadata.last_ensemble(),
        first_ensemble
            .iter()
            .map(|id| if *id == victim {
                spare[0].clone()
            } else {
                id.clone()
            })
            .collect::<Vec<_>>(),
        "the spare bookie replaced the dead one in place"
    );

    tracing::info!("phase 3: close and read everything back (the dead bookie stays dead)");
    let closed = writer.close().await.expect("close ledger");
    assert_eq!(closed.last_entry_id, TOTAL - 1);
    let expected_length: u64 = (0..TOTAL).map(|e| payload(ledger_id, e).len() as u64).sum();
    assert_eq!(closed.length, expected_length);
    let reader = open(&client, ledger_id, OpenMode::NoRecovery)
        .await
        .expect("open closed ledger");
    assert_eq!(reader.closed().map(|c| c.last_entry_id), Some(TOTAL - 1));
    assert_readable(&reader, TOTAL - 1, "reader after close").await;
}

/// What writer A's background stream saw.
struct StreamOutcome {
    confirmed: Vec<EntryId>,
    first_error: (EntryId, LedgerError),
    next_entry: EntryId,
}

/// Appends until an add fails (bounded by `deadline`), keeping `IN_FLIGHT`
/// adds in flight. Checks that confirmations form a prefix: once one add
/// failed, no later add may succeed.
async fn stream_until_failure(
    writer: Arc<dyn LedgerWriter>,
    confirmed_count: Arc<AtomicUsize>,
    deadline: Instant,
) -> StreamOutcome {
    let ledger_id = writer.id();
    let mut inflight = FuturesOrdered::new();
    let mut confirmed = Vec::new();
    let mut first_error: Option<(EntryId, LedgerError)> = None;
    let mut next: EntryId = 0;
    loop {
        while first_error.is_none() && inflight.len() < IN_FLIGHT {
            assert!(
                Instant::now() < deadline,
                "writer A was never fenced ({} adds confirmed)",
                confirmed.len()
            );
            let expected = next;
            inflight.push_back(
                writer
                    .append(payload(ledger_id, next))
                    .map(move |r| (expected, r)),
            );
            next += 1;
        }
        let Some((expected, result)) = tokio::time::timeout(ADD_WAIT, inflight.next())
            .await
            .unwrap_or_else(|_| panic!("writer A: add not answered within {ADD_WAIT:?}"))
        else {
            break;
        };
        match (result, &first_error) {
            (Ok(entry_id), None) => {
                assert_eq!(
                    entry_id, expected,
                    "writer A: adds confirmed out of call order"
                );
                confirmed.push(entry_id);
                confirmed_count.store(confirmed.len(), Ordering::Release);
            }
            (Ok(entry_id), Some((failed, error))) => {
                panic!("writer A: add {entry_id} succeeded after add {failed} failed with {error}")
            }
            (Err(error), None) => first_error = Some((expected, error)),
            (Err(_), Some(_)) => {}
        }
    }
    StreamOutcome {
        confirmed,
        first_error: first_error.expect("the stream only ends after a failed add"),
        next_entry: next,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_by_a_second_client_fences_the_writer_and_keeps_its_confirmed_entries() {
    init_tracing();
    const CONFIRMED_BEFORE_RECOVERY: usize = 300;
    let cluster = BookieCluster::start(BOOKIES)
        .await
        .expect("start etcd and bookies");
    let client_a = ledger_client(&cluster).await;
    let writer = client_a
        .create(options(3, 3, 2))
        .await
        .expect("create ledger");
    let ledger_id = writer.id();

    tracing::info!(ledger_id, "phase 1: writer A streams adds");
    let confirmed_count = Arc::new(AtomicUsize::new(0));
    let stream = tokio::spawn(stream_until_failure(
        writer.clone(),
        confirmed_count.clone(),
        Instant::now() + Duration::from_secs(120),
    ));
    let started = Instant::now();
    while confirmed_count.load(Ordering::Acquire) < CONFIRMED_BEFORE_RECOVERY {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "writer A confirmed only {} adds in 60 s",
            confirmed_count.load(Ordering::Acquire)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    tracing::info!("phase 2: client B opens the ledger with recovery while A keeps writing");
    let client_b = ledger_client(&cluster).await;
    let reader_b = open(&client_b, ledger_id, OpenMode::Recover)
        .await
        .expect("recover ledger");
    let recovered = reader_b.closed().expect("a recovered ledger is closed");
    let last = recovered.last_entry_id;

    tracing::info!(last, "phase 3: writer A is fenced");
    let outcome = tokio::time::timeout(Duration::from_secs(60), stream)
        .await
        .expect("writer A stops within 60 s of the recovery")
        .expect("writer A stream task");
    assert!(
        matches!(outcome.first_error.1, LedgerError::Fenced(id) if id == ledger_id),
        "writer A's first failed add ({}) must be Fenced, got {}",
        outcome.first_error.0,
        outcome.first_error.1
    );
    let late = tokio::time::timeout(
        ADD_WAIT,
        writer.append(payload(ledger_id, outcome.next_entry)),
    )
    .await
    .expect("a late add is answered");
    assert!(
        matches!(late, Err(LedgerError::Fenced(id)) if id == ledger_id),
        "writer A's next add after the recovery must fail Fenced, got {late:?}"
    );
    let a_confirmed = outcome.confirmed;
    assert!(a_confirmed.len() >= CONFIRMED_BEFORE_RECOVERY);
    assert!(
        a_confirmed.iter().copied().eq(0..a_confirmed.len() as i64),
        "writer A's confirmations are not the prefix 0..{}",
        a_confirmed.len()
    );
    let a_last_confirmed = *a_confirmed.last().expect("A confirmed adds");
    assert!(
        a_last_confirmed <= last,
        "entry {a_last_confirmed} was confirmed to writer A but the recovered ledger ends at {last}"
    );
    assert!(writer.last_add_confirmed() <= last);

    tracing::info!("phase 4: every client agrees on the last entry, and all of it reads back");
    let client_c = ledger_client(&cluster).await;
    let reader_c = open(&client_c, ledger_id, OpenMode::Recover)
        .await
        .expect("second recovery");
    assert_eq!(
        reader_c.closed(),
        Some(recovered),
        "a third recovering client disagrees"
    );
    let reader_a = open(&client_a, ledger_id, OpenMode::NoRecovery)
        .await
        .expect("writer's client reopens");
    assert_eq!(
        reader_a.closed(),
        Some(recovered),
        "writer A's client sees another end"
    );
    let metadata = client_a.ledger_metadata(ledger_id).await.unwrap().metadata;
    assert_eq!(metadata.state, LedgerState::Closed);
    assert_eq!(metadata.last_entry_id, last);
    assert_eq!(metadata.length, recovered.length);
    let expected_length: u64 = (0..=last).map(|e| payload(ledger_id, e).len() as u64).sum();
    assert_eq!(
        recovered.length, expected_length,
        "recovered length does not match entries 0..={last}"
    );
    let from_b = assert_readable(&reader_b, last, "recovering client B").await;
    let from_c = assert_readable(&reader_c, last, "client C").await;
    assert!(from_b == from_c);
}

/// The bookie's persisted checkpoint mark (absent before its first checkpoint).
fn checkpoint_mark(data_dir: &Path) -> Option<Vec<u8>> {
    std::fs::read(data_dir.join("checkpoint")).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_bookie_serves_confirmed_entries_from_its_journal() {
    init_tracing();
    const ENTRIES: i64 = 400;
    // A checkpoint runs every 5 s; an attempt during which one persisted a
    // new mark is not journal-only and is repeated.
    const ATTEMPTS: usize = 4;
    let mut cluster = BookieCluster::start(BOOKIES)
        .await
        .expect("start etcd and bookies");
    let client = ledger_client(&cluster).await;
    for attempt in 1..=ATTEMPTS {
        // Qa = Qw: a confirmed entry was fsynced by every ensemble bookie,
        // including the one killed below.
        let (writer, ensemble) = create_ledger(&client, options(3, 3, 3)).await;
        let ledger_id = writer.id();
        let victim_id = ensemble[0].clone();
        let victim = cluster.bookie_mut(&victim_id).unwrap();
        // Start right after a checkpoint, so the next one is a few seconds off.
        let waited = Instant::now();
        while checkpoint_mark(victim.data_dir()).is_none() {
            assert!(
                waited.elapsed() < Duration::from_secs(30),
                "bookie {victim_id} never checkpointed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mark_before = checkpoint_mark(victim.data_dir());

        tracing::info!(attempt, ledger_id, %victim_id, "phase 1: confirmed adds, then kill -9");
        append_all(&writer, ENTRIES, |_| {}).await;
        let victim = cluster.bookie_mut(&victim_id).unwrap();
        victim.kill9().expect("kill -9 bookie");
        let journal_only = checkpoint_mark(victim.data_dir()) == mark_before;
        writer.close().await.expect("close ledger");
        victim
            .restart()
            .await
            .expect("restart bookie on its port and data dir");
        if !journal_only {
            tracing::warn!(attempt, "a checkpoint ran before the kill; trying again");
            continue;
        }

        tracing::info!("phase 2: the restarted bookie serves every entry itself");
        let registrations = cluster.metadata().await.unwrap();
        let key = format!("/bookies/available/{victim_id}");
        assert!(
            registrations.get(&key).await.unwrap().is_some(),
            "{victim_id} did not register again"
        );
        // A fresh connection: nothing cached from before the kill.
        let bookie = GrpcConnector::new(ClientConfig::default()).bookie(&victim_id);
        for entry_id in 0..ENTRIES {
            let request = ReadRequest {
                ledger_id: ledger_id as i64,
                entry_id,
                fence: false,
                master_key: Bytes::new(),
            };
            let response = bookie
                .read_entry(request)
                .await
                .unwrap_or_else(|error| panic!("read entry {entry_id} from {victim_id}: {error}"));
            assert_eq!(
                response.status(),
                StatusCode::StatusOk,
                "confirmed entry {entry_id} missing on {victim_id} after restart: {}",
                response.message
            );
            let entry = decode_entry(&response.body).expect("served body passes its digest");
            assert_eq!(
                (entry.ledger_id, entry.entry_id),
                (ledger_id as i64, entry_id)
            );
            assert!(
                entry.payload == payload(ledger_id, entry_id),
                "entry {entry_id} content differs"
            );
        }
        let last = bookie
            .read_entry(ReadRequest {
                ledger_id: ledger_id as i64,
                entry_id: -1,
                fence: false,
                master_key: Bytes::new(),
            })
            .await
            .expect("read last entry");
        assert_eq!(
            (last.status(), last.entry_id),
            (StatusCode::StatusOk, ENTRIES - 1)
        );
        return;
    }
    panic!(
        "a checkpoint ran during each of {ATTEMPTS} attempts: the restart was never journal-only"
    );
}
