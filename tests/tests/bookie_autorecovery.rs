//! Auto-recovery end to end (fact sheet BS-10): real etcd, four real
//! `magnetar bookie` processes with auto-recovery on, and the ledger client.
//!
//! A closed ledger and an open ledger (E=3, Qw=2, Qa=2) share a bookie that
//! is then killed with SIGKILL. Once its registration expires and the
//! recovery delay passes, the auditor marks both ledgers; the workers
//! re-replicate the closed one at once, and fence, close and re-replicate
//! the open one only after its grace period. At the end no metadata names
//! the dead bookie, and every member of every entry's write set serves the
//! entry on its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use magnetar_bookie::client::{ClientConfig, LedgerClient, LedgerMetadata, LedgerState};
use magnetar_bookie::keys::marker_key;
use magnetar_bookie::{EntryId, LedgerId, LedgerOptions, LedgerStore, LedgerWriter};
use magnetar_metadata::MetadataStore;
use magnetar_tests::bookies::set_recovery_timings;
use magnetar_tests::{verify, BookieCluster};

const BOOKIES: usize = 4;
const CLOSED_ENTRIES: i64 = 300;
const OPEN_ENTRIES: i64 = 40;
const PASSWORD: &[u8] = b"autorecovery";
/// Short timings so the scenario runs in seconds (production: 30 s each).
const SESSION_TTL_MS: u64 = 3_000;
const RECOVERY_DELAY_MS: u64 = 1_000;
const OPEN_GRACE: Duration = Duration::from_secs(5);
/// Bound on the whole recovery after the kill.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(90);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .with_test_writer()
        .try_init();
}

fn options() -> LedgerOptions {
    LedgerOptions {
        ensemble_size: 3,
        write_quorum: 2,
        ack_quorum: 2,
        password: Bytes::from_static(PASSWORD),
        custom: Default::default(),
    }
}

fn payload(ledger_id: LedgerId, entry_id: EntryId) -> Bytes {
    let padding = "x".repeat((entry_id % 17) as usize * 13);
    Bytes::from(format!("ledger {ledger_id} entry {entry_id} {padding}"))
}

async fn write_entries(writer: &Arc<dyn LedgerWriter>, count: i64) {
    let appends: Vec<_> = (0..count)
        .map(|e| writer.append(payload(writer.id(), e)))
        .collect();
    for (expected, append) in appends.into_iter().enumerate() {
        let entry_id = append.await.expect("append confirmed");
        assert_eq!(entry_id, expected as EntryId);
    }
}

async fn metadata_of(client: &LedgerClient, ledger_id: LedgerId) -> LedgerMetadata {
    client
        .ledger_metadata(ledger_id)
        .await
        .expect("read ledger metadata")
        .metadata
}

/// When the open ledger's marker was first seen and when the ledger was
/// first seen not `OPEN` any more.
#[derive(Default)]
struct Observed {
    open_marker_seen: Option<Instant>,
    open_fenced_seen: Option<Instant>,
}

/// Polls until both ledgers are closed, unmarked and free of `dead`.
async fn wait_for_recovery(
    client: &LedgerClient,
    store: &Arc<dyn MetadataStore>,
    ledgers: [LedgerId; 2],
    open_ledger: LedgerId,
    dead: &str,
) -> Observed {
    let deadline = Instant::now() + RECOVERY_DEADLINE;
    let mut observed = Observed::default();
    loop {
        let now = Instant::now();
        let open_marker = store
            .get(&marker_key(open_ledger))
            .await
            .expect("read marker");
        if open_marker.is_some() && observed.open_marker_seen.is_none() {
            tracing::info!(
                ledger_id = open_ledger,
                "open ledger marked under-replicated"
            );
            observed.open_marker_seen = Some(now);
        }
        if metadata_of(client, open_ledger).await.state != LedgerState::Open
            && observed.open_fenced_seen.is_none()
        {
            tracing::info!(ledger_id = open_ledger, "open ledger fenced by recovery");
            observed.open_fenced_seen = Some(now);
        }
        let mut done = true;
        for ledger_id in ledgers {
            let metadata = metadata_of(client, ledger_id).await;
            let marked = store
                .get(&marker_key(ledger_id))
                .await
                .expect("read marker")
                .is_some();
            done &= !marked && metadata.state == LedgerState::Closed && !metadata.references(dead);
        }
        if done {
            return observed;
        }
        assert!(
            Instant::now() < deadline,
            "ledgers not re-replicated within {RECOVERY_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every member of every entry's write set serves the entry, none is
/// `dead`, and the ledger kept every confirmed entry with its content.
async fn assert_fully_replicated(
    client: &LedgerClient,
    ledger_id: LedgerId,
    last_entry: EntryId,
    dead: &str,
) {
    let payloads = verify::assert_fully_replicated(client, ledger_id, 2, Some(dead))
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    let expected: Vec<Bytes> = (0..=last_entry).map(|e| payload(ledger_id, e)).collect();
    assert_eq!(
        payloads, expected,
        "ledger {ledger_id} kept every confirmed entry"
    );
}

async fn scenario() {
    init_tracing();
    let mut cluster = BookieCluster::start(BOOKIES)
        .await
        .expect("start etcd and bookies");
    let store = cluster.metadata().await.expect("metadata client");
    let client = LedgerClient::new(store.clone(), ClientConfig::default());

    tracing::info!("phase 1: a closed and an open ledger");
    let closed = client
        .create(options())
        .await
        .expect("create closed ledger");
    write_entries(&closed, CLOSED_ENTRIES).await;
    closed.close().await.expect("close");
    let open = client.create(options()).await.expect("create open ledger");
    write_entries(&open, OPEN_ENTRIES).await;
    let (closed_id, open_id) = (closed.id(), open.id());
    let closed_ensemble = metadata_of(&client, closed_id).await.segments[0]
        .ensemble
        .clone();
    let open_ensemble = metadata_of(&client, open_id).await.segments[0]
        .ensemble
        .clone();
    // Two ensembles of 3 out of 4 bookies always share one.
    let dead = closed_ensemble
        .iter()
        .find(|bookie| open_ensemble.contains(bookie))
        .expect("ensembles overlap")
        .clone();

    tracing::info!(%dead, "phase 2: kill -9 a bookie of both ensembles");
    cluster
        .bookie_mut(&dead)
        .expect("victim")
        .kill9()
        .expect("kill -9");
    let observed = wait_for_recovery(&client, &store, [closed_id, open_id], open_id, &dead).await;

    tracing::info!("phase 3: the open ledger was fenced only after its grace period");
    let marked = observed
        .open_marker_seen
        .expect("the open ledger was marked");
    let fenced = observed
        .open_fenced_seen
        .expect("the open ledger was fenced");
    let slack = Duration::from_secs(1);
    assert!(
        fenced.duration_since(marked) + slack >= OPEN_GRACE,
        "fenced {:?} after being marked; grace is {OPEN_GRACE:?}",
        fenced.duration_since(marked)
    );

    tracing::info!("phase 4: every entry is on both bookies of its write set");
    assert_fully_replicated(&client, closed_id, CLOSED_ENTRIES - 1, &dead).await;
    assert_fully_replicated(&client, open_id, OPEN_ENTRIES - 1, &dead).await;
    let fenced_append = open.append(Bytes::from_static(b"too late")).await;
    assert!(
        fenced_append.is_err(),
        "the old writer cannot add after recovery"
    );
    drop(cluster);
}

#[test]
fn lost_bookie_is_rereplicated_and_open_ledger_fenced_after_grace() {
    set_recovery_timings(
        SESSION_TTL_MS,
        RECOVERY_DELAY_MS,
        OPEN_GRACE.as_millis() as u64,
    );
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(scenario());
}
