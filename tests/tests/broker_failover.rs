//! A topic's owner lost under a running stream, with three `magnetar
//! broker` processes on one metadata store and three bookies (E=3, Qw=3,
//! Qa=2); the stream (official Python client) goes through broker 0 to a
//! topic another broker owns.
//!
//! 1. kill -9 of the owner mid-stream (10 s session): a peer finds its port
//!    closed and ends its session within 6 s, another broker takes the
//!    topic, the stream goes on, no send fails, every receipted message is
//!    consumed in order.
//! 2. A zombie owner (SIGSTOP for the session timeout + 3 s): another
//!    broker takes the topic and the zombie leaves the broker list; after
//!    SIGCONT the stream goes on with the new owner, the zombie is healthy
//!    again, registers again and does not take the bundle back;
//!    every receipted message is consumed in order.
//! 3. 1, a restart of the killed broker (it registers under its new id,
//!    the old id is gone), and 2 on the embedded Raft metadata store.
//!
//! A 3 s session keeps each scenario within a minute or two; every wait is
//! bounded.

use std::time::{Duration, Instant};

use magnetar_tests::cluster::{SHORT_SESSION, SHORT_TIMINGS};
use magnetar_tests::wait::{blocking, poll, run_scenario};
use magnetar_tests::{BrokerCluster, TopicStream};

/// Messages per second of the stream: below the default shedding floor
/// (1,000 msg/s), so the load manager leaves the topic alone.
const RATE: u32 = 200;
const MAX_PENDING: u32 = 1000;
/// The session timeout of the crash scenario on etcd: long enough that a
/// takeover well before it can only come from a peer ending the session.
const CRASH_SESSION: Duration = Duration::from_secs(10);
const CRASH_TIMINGS: [&str; 4] = [
    "--session-timeout-ms",
    "10000",
    "--load-report-interval-ms",
    "1000",
];
const STOP_LIMIT: Duration = Duration::from_secs(60);

/// Creates `namespace` (16 bundles) and starts a stream through broker 0
/// on a topic another broker owns; returns it with that owner.
fn stream_off_broker_0(
    cluster: &BrokerCluster,
    namespace: &str,
    prefix: &str,
) -> (TopicStream, usize) {
    cluster
        .create_namespace(namespace, 16)
        .expect("create the namespace");
    let url = cluster.pulsar_url(0).expect("pulsar url");
    let (topic, _) = cluster
        .topic_not_on(namespace, prefix, 0)
        .expect("a topic broker 0 does not own");
    let stream = blocking(|| TopicStream::start(&url, &topic, RATE, MAX_PENDING))
        .expect("the stream starts");
    blocking(|| stream.wait_for_receipts(2 * RATE as usize, Duration::from_secs(60)))
        .expect("the stream runs");
    let owner = cluster.owner_index(&topic).expect("lookup");
    assert_ne!(owner, 0, "{topic} moved to broker 0 while streaming");
    (stream, owner)
}

/// Stops `stream`: no send failed, every receipted message is consumed
/// (through broker 0), first occurrences in order.
fn finish(cluster: &BrokerCluster, mut stream: TopicStream) {
    let url = cluster.pulsar_url(0).expect("pulsar url");
    let seen =
        blocking(|| stream.finish(&url, STOP_LIMIT)).unwrap_or_else(|error| panic!("{error:#}"));
    tracing::info!(
        duplicates = seen.duplicates,
        "every receipted message consumed"
    );
}

/// Scenario 1 on brokers with session timeout `session`; returns the index
/// of the killed broker. With `fast`, the dead broker's session must end
/// well before its timeout: a peer found its port closed and ended it.
async fn owner_crash(
    cluster: &mut BrokerCluster,
    namespace: &str,
    session: Duration,
    fast: bool,
) -> usize {
    let (stream, owner) = stream_off_broker_0(cluster, namespace, "crash");
    let at_kill = stream.receipt_count();
    let owner_id = cluster.broker_id(owner).expect("broker id");
    cluster.kill9(owner).expect("kill -9 of the owner");
    let killed_at = Instant::now();
    if fast {
        let (c, owner_id) = (&*cluster, owner_id.as_str());
        poll(
            session - Duration::from_secs(4),
            "a peer ended the dead broker's session",
            move || async move {
                let listed = c.registered_brokers()?;
                Ok::<_, anyhow::Error>((!listed.iter().any(|id| id == owner_id)).then_some(()))
            },
        )
        .await;
        tracing::info!(took = ?killed_at.elapsed(), "the dead broker left the broker list");
        let evicted: f64 = cluster
            .live_brokers()
            .into_iter()
            .map(|i| {
                cluster
                    .metric(i, "magnetar_broker_peers_evicted_total")
                    .unwrap_or(0.0)
            })
            .sum();
        assert_eq!(evicted, 1.0, "one peer ended the dead broker's session");
    }
    let took = blocking(|| {
        stream.wait_for_receipts(
            at_kill + 2 * RATE as usize,
            session + Duration::from_secs(15),
        )
    })
    .expect("the stream goes on after its owner died");
    tracing::info!(?took, "the stream goes on");
    let taker = cluster.owner_index(stream.topic()).expect("lookup");
    assert!(
        taker != owner && cluster.live_brokers().contains(&taker),
        "{} is owned by broker {taker} after broker {owner} died",
        stream.topic()
    );
    blocking(|| stream.wait_for_more(RATE as usize, Duration::from_secs(30)))
        .expect("the stream keeps going");
    finish(cluster, stream);
    owner
}

/// Scenario 2.
async fn zombie_owner(cluster: &mut BrokerCluster, namespace: &str) {
    let (stream, zombie) = stream_off_broker_0(cluster, namespace, "zombie");
    let topic = stream.topic().to_string();
    let key = format!("{namespace}/{}", cluster.bundle_of(&topic).expect("bundle"));
    let zombie_id = cluster.broker_id(zombie).expect("broker id");
    let at_pause = stream.receipt_count();
    cluster.pause(zombie).expect("SIGSTOP");
    let paused_at = Instant::now();
    let taker = {
        let (cluster, topic) = (&*cluster, topic.as_str());
        poll(
            SHORT_SESSION + Duration::from_secs(10),
            "another broker owns the topic",
            move || async move {
                let owner = cluster.owner_index(topic)?;
                Ok::<_, anyhow::Error>((owner != zombie).then_some(owner))
            },
        )
        .await
    };
    tracing::info!(taker, took = ?paused_at.elapsed(), "the topic has a new owner");
    {
        let (cluster, zombie_id) = (&*cluster, zombie_id.as_str());
        poll(
            SHORT_SESSION + Duration::from_secs(5),
            "the zombie's record expired",
            move || async move {
                let listed = cluster.registered_brokers()?;
                Ok::<_, anyhow::Error>((!listed.iter().any(|id| id == zombie_id)).then_some(()))
            },
        )
        .await;
    }
    let pause = SHORT_SESSION + Duration::from_secs(3);
    tokio::time::sleep(pause.saturating_sub(paused_at.elapsed())).await;
    let owner = cluster.owner_index(&topic).expect("lookup");
    assert_eq!(owner, taker, "owner while the zombie sleeps");
    cluster.resume(zombie).expect("SIGCONT");
    let took = blocking(|| {
        stream.wait_for_receipts(at_pause + 2 * RATE as usize, Duration::from_secs(45))
    })
    .expect("the stream goes on with the new owner");
    tracing::info!(?took, "the stream goes on after SIGCONT");
    let owner = cluster.owner_index(&topic).expect("lookup");
    assert_eq!(owner, taker, "owner after the zombie woke");
    tokio::time::sleep(Duration::from_secs(3)).await;
    finish(cluster, stream);

    let (cluster, zombie_id, key) = (&*cluster, zombie_id.as_str(), key.as_str());
    let limit = Duration::from_secs(30);
    poll(limit, "the zombie healthy again", move || async move {
        let health = cluster.broker(zombie).get("/health")?;
        Ok::<_, anyhow::Error>((health.status == 200).then_some(()))
    })
    .await;
    poll(limit, "the zombie registered again", move || async move {
        let listed = cluster.registered_brokers()?;
        Ok::<_, anyhow::Error>(listed.iter().any(|id| id == zombie_id).then_some(()))
    })
    .await;
    poll(
        limit,
        "the zombie let go of the bundle",
        move || async move {
            let held = cluster.owned_bundles(zombie)?.iter().any(|k| k == key);
            let owner = cluster.ownership(namespace)?.get(key).copied();
            Ok::<_, anyhow::Error>((!held && owner == Some(taker)).then_some(()))
        },
    )
    .await;
}

#[test]
fn owner_killed_mid_stream_hands_the_topic_over_without_loss() {
    run_scenario(async {
        let mut cluster = BrokerCluster::start(3, &CRASH_TIMINGS)
            .await
            .expect("etcd, 3 bookies and 3 brokers");
        owner_crash(&mut cluster, "public/crash", CRASH_SESSION, true).await;
    });
}

#[test]
fn zombie_owner_loses_the_topic_and_comes_back() {
    run_scenario(async {
        let mut cluster = BrokerCluster::start(3, &SHORT_TIMINGS)
            .await
            .expect("etcd, 3 bookies and 3 brokers");
        zombie_owner(&mut cluster, "public/zombie").await;
    });
}

#[test]
fn owner_crash_restart_and_zombie_on_raft_metadata() {
    run_scenario(async {
        let mut cluster = BrokerCluster::start_on_raft(3, &SHORT_TIMINGS)
            .await
            .expect("a metadata node, 3 bookies and 3 brokers");
        let killed = owner_crash(&mut cluster, "public/raft-crash", SHORT_SESSION, false).await;
        let old_id = cluster.broker_id(killed).expect("broker id");
        cluster
            .restart(killed)
            .await
            .expect("restart the killed broker");
        let new_id = cluster.broker_id(killed).expect("broker id");
        let (c, old_id, new_id) = (&cluster, old_id.as_str(), new_id.as_str());
        poll(
            SHORT_SESSION + Duration::from_secs(10),
            "the restarted broker registered, its old id gone",
            move || async move {
                let listed = c.registered_brokers()?;
                let new = listed.iter().any(|id| id == new_id);
                let old = listed.iter().any(|id| id == old_id);
                Ok::<_, anyhow::Error>((new && !old).then_some(()))
            },
        )
        .await;
        zombie_owner(&mut cluster, "public/raft-zombie").await;
    });
}
