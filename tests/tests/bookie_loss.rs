//! Losing bookies under a broker with no spare bookie: 3 bookies, ledgers
//! with E=3, Qw=3, Qa=2, a real `magnetar broker`, and a paced stream from
//! the official Python client.
//!
//! 1. kill -9 of one bookie mid-stream: no send fails, the ledger degrades
//!    (a segment with holes), and once the bookie is back the holes are
//!    filled; after a clean broker stop every entry is on 3 bookies and
//!    every receipted message is consumed, in order, once.
//! 2. kill -9 of two bookies: sends fail within the send timeout, the broker
//!    log stays quiet, stats, metrics and `/health` say the topic is not
//!    writable; after both return the same producer goes on with the same
//!    broker and nothing receipted is lost.
//! 3. As 1 on the embedded Raft metadata store (one voter).
//! 4. A broker started before any bookie waits for them and serves the
//!    first subscribe and send.
//!
//! Short timings (session TTL 3 s, lost-bookie delay 1 s, open-ledger grace
//! 5 s) keep each scenario within a minute or two; every wait is bounded.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use magnetar_bookie::client::{ClientConfig, LedgerClient};
use magnetar_metadata::MetadataStore;
use magnetar_tests::bookies::set_recovery_timings;
use magnetar_tests::broker::{frequent_messages, Quorum};
use magnetar_tests::http::metric_value;
use magnetar_tests::stream::{consume_seqs, delivery};
use magnetar_tests::verify::{
    any_holes, assert_fully_replicated, ledger_id_counter, replication_gaps, topic_ledgers,
};
use magnetar_tests::wait::{blocking, poll, run_scenario};
use magnetar_tests::{run_python, BookieCluster, BrokerProcess, RaftGroup, StreamProducer};
use serde_json::Value;

const QUORUM: Quorum = (3, 3, 2);
const SUBSCRIPTION: &str = "keeps-everything";
/// Messages per second of the stream.
const RATE: u32 = 500;
/// The stream's client-side limit of messages without a receipt.
const MAX_PENDING: u32 = 1000;
const SESSION_TTL_MS: u64 = 3_000;
const RECOVERY_DELAY_MS: u64 = 1_000;
const OPEN_GRACE_MS: u64 = 5_000;
/// How long the stream goes on degraded before the bookie returns.
const DEGRADED_STREAM: Duration = Duration::from_secs(10);
/// Bound on auto-recovery filling every hole after the bookie returns.
const RECOVERY_LIMIT: Duration = Duration::from_secs(90);
/// Window after the kill of two bookies in which the broker log is counted.
const LOG_WINDOW: Duration = Duration::from_secs(60);
const LOG_LINES_PER_WINDOW: usize = 100;
/// Bound on the ledger ids burned while bookies are short.
const LEDGER_ID_GROWTH: u64 = 10;

fn full_topic(topic: &str) -> String {
    format!("persistent://public/default/{topic}")
}

/// Runs `scenario` on a 2-worker runtime after setting the short timings
/// the bookie processes inherit (nextest runs each test in its own process).
fn run(scenario: impl Future<Output = ()>) {
    set_recovery_timings(SESSION_TTL_MS, RECOVERY_DELAY_MS, OPEN_GRACE_MS);
    run_scenario(scenario);
}

/// Creates the subscription that keeps every entry of `topic`.
fn subscribe(url: &str, topic: &str) {
    let seen = blocking(|| consume_seqs(url, &full_topic(topic), SUBSCRIPTION, false, Some(0)))
        .expect("create the subscription");
    assert!(seen.is_empty());
}

/// Everything on the subscription, as sequence numbers in arrival order.
fn consume_everything(url: &str, topic: &str) -> Vec<u64> {
    blocking(|| consume_seqs(url, &full_topic(topic), SUBSCRIPTION, false, None))
        .expect("consume the topic")
}

/// Scenario 1 on `cluster` (3 running bookies): kill -9 of one bookie in
/// the middle of a stream, its return, auto-recovery, clean broker stop,
/// per-bookie check of every entry, restart, consumption.
async fn lose_one_bookie_and_recover(mut cluster: BookieCluster, topic: &str) {
    let store = cluster.metadata().await.expect("metadata client");
    let client = LedgerClient::new(store.clone(), ClientConfig::default());
    let mut broker = BrokerProcess::start(cluster.metadata_url(), QUORUM, &[])
        .await
        .expect("broker starts");
    let url = broker.pulsar_url().expect("pulsar url");
    subscribe(&url, topic);
    let mut stream =
        StreamProducer::start(&url, &full_topic(topic), RATE, MAX_PENDING).expect("stream starts");
    blocking(|| {
        stream.wait_until(Duration::from_secs(60), "streaming", |r, _| {
            r.len() >= 2 * RATE as usize
        })
    })
    .expect("the stream runs");

    let victim = cluster.ids()[1].clone();
    tracing::info!(%victim, "kill -9 of one bookie mid-stream");
    cluster
        .bookie_mut(&victim)
        .and_then(|bookie| bookie.kill9())
        .expect("kill -9");
    let (store_ref, client_ref) = (&store, &client);
    let holed = poll(
        Duration::from_secs(30),
        "a segment with holes",
        || async move {
            let ledgers = topic_ledgers(store_ref, topic).await?;
            Ok::<_, anyhow::Error>(any_holes(client_ref, &ledgers).await?.then_some(ledgers))
        },
    )
    .await;
    tracing::info!(?holed, "the ledger degraded: a segment with holes");
    let before = stream.receipts().len();
    tokio::time::sleep(DEGRADED_STREAM).await;
    let degraded = stream.receipts().len() - before;
    assert!(
        degraded as u64 >= u64::from(RATE) * DEGRADED_STREAM.as_secs() / 2,
        "only {degraded} receipts in {DEGRADED_STREAM:?} without the bookie"
    );
    assert_eq!(stream.errors(), vec![], "sends failed with one bookie lost");

    tracing::info!(%victim, "restart the bookie; auto-recovery fills the holes");
    cluster
        .bookie_mut(&victim)
        .expect("victim")
        .restart()
        .await
        .expect("restart the bookie");
    poll(
        RECOVERY_LIMIT,
        "every hole filled, no marker left",
        || async move {
            let ledgers = topic_ledgers(store_ref, topic).await?;
            let gaps = replication_gaps(client_ref, store_ref, &ledgers).await?;
            if !gaps.is_empty() {
                tracing::debug!(?gaps, "not fully replicated yet");
            }
            Ok::<_, anyhow::Error>(gaps.is_empty().then_some(()))
        },
    )
    .await;

    let summary = blocking(|| stream.stop(Duration::from_secs(60))).expect("stream stops");
    tracing::info!(%summary, "stream stopped");
    assert_eq!(stream.errors(), vec![], "sends failed; summary {summary}");
    assert_eq!(summary["errors"], 0, "{summary}");
    let receipted = stream.receipts();

    tracing::info!("SIGTERM the broker: its shutdown closes the ledgers");
    blocking(|| broker.terminate(Duration::from_secs(30))).expect("clean broker stop");
    let ledgers = topic_ledgers(&store, topic).await.expect("topic ledgers");
    let mut entries = 0;
    for &ledger_id in &ledgers {
        let payloads = assert_fully_replicated(&client, ledger_id, 3, None)
            .await
            .unwrap_or_else(|error| panic!("{error:#}"));
        entries += payloads.len();
    }
    tracing::info!(ledgers = ledgers.len(), entries, "every entry on 3 bookies");

    broker.restart().await.expect("broker restarts");
    let url = broker.pulsar_url().expect("pulsar url");
    let consumed = consume_everything(&url, topic);
    let seen = delivery(&consumed, &receipted);
    assert_eq!(
        seen.lost_count,
        0,
        "{} of {} receipted messages lost, first {:?}",
        seen.lost_count,
        receipted.len(),
        seen.lost
    );
    assert!(seen.first_occurrences_in_order, "consumed out of order");
    assert_eq!(seen.duplicates, 0, "no send failed, so nothing was resent");
    drop(cluster);
}

#[test]
fn one_bookie_lost_mid_stream_fails_no_send_and_is_rereplicated() {
    run(async {
        let cluster = BookieCluster::start(3).await.expect("etcd and 3 bookies");
        lose_one_bookie_and_recover(cluster, "lose-one").await;
    });
}

#[test]
fn one_bookie_lost_on_raft_metadata() {
    run(async {
        let group = blocking(|| RaftGroup::start(1)).expect("one metadata node");
        group.wait_for_leader().await.expect("a leader");
        let url = group.url();
        let mut cluster = BookieCluster::with_metadata(&url, group);
        cluster.add_bookies(3).await.expect("3 bookies");
        lose_one_bookie_and_recover(cluster, "lose-one-raft").await;
    });
}

/// Stats, metrics and health all say `topic` is not writable.
async fn not_writable_everywhere(broker: &BrokerProcess, topic: &str) -> Result<Option<String>> {
    let stats = broker.get(&format!(
        "/admin/v2/persistent/public/default/{topic}/stats"
    ))?;
    let stats: Value = serde_json::from_str(&stats.body)?;
    let reason = stats["notWritableReason"].as_str().unwrap_or_default();
    if stats["writable"] != Value::Bool(false) || reason.is_empty() {
        return Ok(None);
    }
    let metrics = broker.get("/metrics")?;
    if metric_value(&metrics.body, "magnetar_broker_ml_not_writable") != Some(1.0) {
        return Ok(None);
    }
    let health = broker.get("/health")?;
    if health.status != 503 || !health.body.contains(topic) {
        return Ok(None);
    }
    Ok(Some(format!(
        "stats reason {reason:?}; health {:?}",
        health.body
    )))
}

#[test]
fn two_bookies_lost_fail_sends_quietly_and_writes_resume() {
    run(two_bookies_lost());
}

async fn two_bookies_lost() {
    const TOPIC: &str = "lose-two";
    const RATE_2: u32 = 200;
    let mut cluster = BookieCluster::start(3).await.expect("etcd and 3 bookies");
    let store: Arc<dyn MetadataStore> = cluster.metadata().await.expect("metadata client");
    let mut broker = BrokerProcess::start(cluster.metadata_url(), QUORUM, &[])
        .await
        .expect("broker starts");
    let broker_pid = broker.process.pid();
    let url = broker.pulsar_url().expect("pulsar url");
    subscribe(&url, TOPIC);
    let mut stream = StreamProducer::start(&url, &full_topic(TOPIC), RATE_2, MAX_PENDING)
        .expect("stream starts");
    blocking(|| {
        stream.wait_until(Duration::from_secs(60), "streaming", |r, _| {
            r.len() >= 2 * RATE_2 as usize
        })
    })
    .expect("the stream runs");

    let ids_before = ledger_id_counter(&store).await.expect("ledger id counter");
    let victims = [cluster.ids()[0].clone(), cluster.ids()[2].clone()];
    let log_before = broker.log().line_count();
    let receipted_before_kill = stream.receipts();
    let killed_at = Instant::now();
    for victim in &victims {
        cluster
            .bookie_mut(victim)
            .and_then(|bookie| bookie.kill9())
            .expect("kill -9");
    }
    tracing::info!(?victims, "killed two bookies");
    // Errors reach the application either as the broker's send error or as
    // the client's send timeout. The C++ client behind the Python one turns
    // a send error into a reconnect and resend, and re-arms its send-timeout
    // timer every time its producer is created again; the broker refuses
    // the producer while the topic is not writable, so the timer runs out.
    let waited = blocking(|| {
        stream.wait_until(Duration::from_secs(40), "failing sends", |_, errors| {
            !errors.is_empty()
        })
    })
    .expect("producers see errors within 40 s");
    tracing::info!(?waited, first = ?stream.errors().first(), "sends fail");
    let broker_ref = &broker;
    let shown = poll(
        LOG_WINDOW.saturating_sub(killed_at.elapsed()),
        "stats, metrics and /health show the topic not writable",
        || not_writable_everywhere(broker_ref, TOPIC),
    )
    .await;
    tracing::info!(%shown, "the topic is reported not writable");

    tokio::time::sleep(LOG_WINDOW.saturating_sub(killed_at.elapsed())).await;
    let lines = broker.log().lines();
    let window = &lines[log_before.min(lines.len())..];
    assert!(
        window.len() < LOG_LINES_PER_WINDOW,
        "the broker wrote {} log lines in the {LOG_WINDOW:?} after the kill; most frequent: {:#?}",
        window.len(),
        frequent_messages(window, 10)
    );

    let receipts_before_return = stream.receipts().len();
    for victim in &victims {
        cluster
            .bookie_mut(victim)
            .expect("victim")
            .restart()
            .await
            .expect("restart a bookie");
    }
    // The broker writes again about a second after the bookies register;
    // the client retries its producer on its own backoff, which grows to
    // 60 s while the topic is not writable.
    let resumed = blocking(|| {
        stream.wait_until(Duration::from_secs(90), "receipted again", |r, _| {
            r.len() > receipts_before_return
        })
    })
    .expect("the same producer goes on once the bookies are back");
    tracing::info!(?resumed, "writes resumed");
    let ids_after = ledger_id_counter(&store).await.expect("ledger id counter");
    assert!(
        ids_after - ids_before <= LEDGER_ID_GROWTH,
        "ledger ids grew from {ids_before} to {ids_after} during the outage"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let summary = blocking(|| stream.stop(Duration::from_secs(60))).expect("stream stops");
    tracing::info!(%summary, "stream stopped");
    assert!(broker.process.is_alive(), "the broker exited");
    assert_eq!(broker.process.pid(), broker_pid, "no broker restart");

    let consumed = consume_everything(&url, TOPIC);
    let receipted = stream.receipts();
    let seen = delivery(&consumed, &receipted);
    assert_eq!(
        seen.lost_count,
        0,
        "{} of {} receipted messages lost, first {:?}",
        seen.lost_count,
        receipted.len(),
        seen.lost
    );
    let repeated: Vec<u64> = receipted_before_kill
        .iter()
        .copied()
        .filter(|seq| seen.times_consumed.get(seq) != Some(&1))
        .take(20)
        .collect();
    assert!(
        repeated.is_empty(),
        "messages receipted before the kill not consumed exactly once: {repeated:?}"
    );
    assert!(seen.first_occurrences_in_order, "consumed out of order");
    assert!(
        seen.duplicates <= MAX_PENDING as usize,
        "{} duplicates, more than the {MAX_PENDING} a client can resend",
        seen.duplicates
    );
    drop(cluster);
}

#[test]
fn broker_started_before_bookies_serves_the_first_produce() {
    run(broker_before_bookies());
}

async fn broker_before_bookies() {
    const TOPIC: &str = "first-produce";
    let mut cluster = BookieCluster::start(0).await.expect("etcd");
    let starting = BrokerProcess::spawn(
        cluster.metadata_url(),
        QUORUM,
        &["--wait-for-bookies-ms", "60000"],
    )
    .expect("spawn the broker");
    let url = starting.pulsar_url();
    let topic = full_topic(TOPIC);
    let client = std::thread::spawn(move || {
        run_python(
            "first_produce.py",
            &[&url, &topic],
            Duration::from_secs(120),
        )
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.add_bookies(3).await.expect("3 bookies");
    let broker = starting.wait_ready().await.expect("broker ready");
    let out = blocking(|| client.join())
        .expect("client thread")
        .expect("first subscribe and send succeed");
    tracing::info!(%out, "first client");
    let waiting = broker
        .log()
        .matching(&["waiting up to", "3 writable bookies"]);
    assert_eq!(
        waiting.len(),
        1,
        "one 'waiting' line expected, got {waiting:#?}"
    );
    drop(broker);
    drop(cluster);
}
