//! Several `magnetar broker` processes on one etcd and three bookies (E=3,
//! Qw=3, Qa=2), driven by the official Python client: bundle placement,
//! admin operations, the leader, and load shedding. Losing a topic's owner
//! is in `broker_failover.rs`.
//!
//! 1. 100 topics over a 16-bundle namespace land on every broker; a client
//!    of a non-owner produces and consumes; a hand unload through a
//!    non-owner (redirected) keeps the messages; a hand split cuts a bundle
//!    in two contiguous parts that both serve; after kill -9 of the leader
//!    another live broker leads within the session timeout + 10 s and a
//!    bundle of the dead leader serves again.
//! 2. Under a steady load (two streams per broker) ownership settles, then
//!    no bundle moves for five shedding intervals; a fourth broker gets a
//!    bundle within two intervals + 30 s; its SIGTERM exits 0 and hands its
//!    bundles over before its session could expire; nothing receipted lost.
//!
//! A 3 s session and load reports every second; every wait is bounded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use magnetar_tests::cluster::{SHORT_SESSION, SHORT_TIMINGS};
use magnetar_tests::cluster_admin::BUNDLES_OWNED;
use magnetar_tests::placement::{bundle_of_key, parse_bundle, topic_in_bundle};
use magnetar_tests::stream::consume_seqs;
use magnetar_tests::wait::{blocking, poll, run_scenario};
use magnetar_tests::{run_python_json, BrokerCluster, TopicStream};

/// Messages per second of each stream of scenario 2 (two per broker).
const RATE: u32 = 100;
const MAX_PENDING: u32 = 1000;
const STOP_LIMIT: Duration = Duration::from_secs(60);
const SPREAD_NS: &str = "public/spread";
/// The named listener of the broker added in scenario 2.
const EXTERNAL_LISTENER: &str = "external:pulsar://broker-4.example:6650";
const STEADY_NS: &str = "public/steady";
/// The shedding interval of scenario 2.
const SHEDDING: Duration = Duration::from_secs(3);
/// Flags of every broker in scenario 2: shedding every 3 s at any rate.
const SHEDDING_FLAGS: [&str; 8] = [
    "--session-timeout-ms",
    "3000",
    "--load-report-interval-ms",
    "1000",
    "--shedding-interval-ms",
    "3000",
    "--shedding-min-msg-rate",
    "0",
];

/// Produces 200 messages to `topic` through `url` and consumes them.
fn produce_consume(url: &str, topic: &str) {
    blocking(|| magnetar_tests::produce_consume(url, topic, 200))
        .unwrap_or_else(|error| panic!("{error:#}"));
}

/// Every message on `subscription` of `topic`, without acking.
fn consume(url: &str, topic: &str, subscription: &str, max: Option<usize>) -> Vec<u64> {
    blocking(|| consume_seqs(url, topic, subscription, false, max))
        .unwrap_or_else(|error| panic!("consume {topic}: {error:#}"))
}

#[test]
fn bundles_spread_redirect_unload_split_and_leader_failover() {
    run_scenario(async {
        let mut cluster = BrokerCluster::start(3, &SHORT_TIMINGS)
            .await
            .expect("etcd, 3 bookies and 3 brokers");
        spread_over_every_broker(&cluster);
        let topic = redirect_and_unload(&cluster);
        split(&cluster, &topic).await;
        leader_failover(&mut cluster).await;
    });
}

fn spread_over_every_broker(cluster: &BrokerCluster) {
    cluster
        .create_namespace(SPREAD_NS, 16)
        .expect("create a namespace of 16 bundles");
    assert_eq!(cluster.bundles(SPREAD_NS).expect("bundles").len(), 16);
    let url = cluster.pulsar_url(0).expect("pulsar url");
    let args = [url.as_str(), SPREAD_NS, "100"];
    let out = blocking(|| run_python_json("spread_topics.py", &args, Duration::from_secs(300)))
        .unwrap_or_else(|error| panic!("spread_topics.py: {error:#}"));
    assert_eq!(
        (out["produced"].as_u64(), out["consumed"].as_u64()),
        (Some(100), Some(100)),
        "{out}"
    );
    let owners = cluster.ownership(SPREAD_NS).expect("one owner per bundle");
    tracing::info!(?owners, "bundles after 100 topics");
    for i in cluster.live_brokers() {
        assert!(
            owners.values().any(|&owner| owner == i),
            "broker {i} owns no bundle of {SPREAD_NS}: {owners:?}"
        );
    }
}

/// A client of a non-owner produces and consumes; an unload through a
/// non-owner keeps the messages and the bundle serves again. Returns the
/// topic (its `keep` subscription holds messages 0..200).
fn redirect_and_unload(cluster: &BrokerCluster) -> String {
    let topic = format!("persistent://{SPREAD_NS}/redirected");
    let owner = cluster
        .owner_index(&topic)
        .expect("lookup places the topic");
    let other = (owner + 1) % 3;
    let url = cluster.pulsar_url(other).expect("pulsar url");
    assert!(consume(&url, &topic, "keep", Some(0)).is_empty());
    produce_consume(&url, &topic);
    assert_eq!(
        cluster.owner_index(&topic).expect("lookup"),
        owner,
        "{topic} moved to the broker the client used"
    );
    let bundle = cluster.bundle_of(&topic).expect("bundle of the topic");
    let key = format!("{SPREAD_NS}/{bundle}");
    let owned = cluster.owned_bundles(owner).expect("owned bundles");
    assert!(
        owned.contains(&key),
        "lookup names broker {owner}, whose ownedNamespaces lack {key}: {owned:?}"
    );
    // Topic stats come from the owner: another broker redirects there.
    let stats_path = format!(
        "/admin/v2/persistent/{SPREAD_NS}/{}/stats",
        topic.rsplit('/').next().expect("local name")
    );
    let redirected = cluster.broker(other).get(&stats_path).expect("stats");
    let owner_addr = cluster.broker_id(owner).expect("owner id");
    assert_eq!(redirected.status, 307, "{}", redirected.body);
    assert_eq!(
        redirected.header("location"),
        Some(format!("http://{owner_addr}{stats_path}").as_str())
    );
    let stats = cluster.broker(owner).get(&stats_path).expect("stats");
    assert_eq!(stats.status, 200, "{}", stats.body);
    assert!(stats.body.contains("\"msgInCounter\""), "{}", stats.body);

    blocking(|| cluster.unload_bundle(other, SPREAD_NS, &bundle))
        .expect("unload through a non-owner");
    let all: Vec<u64> = (0..200).collect();
    assert_eq!(consume(&url, &topic, "keep", None), all, "after the unload");
    let placed = cluster
        .owner_index(&topic)
        .expect("lookup after the unload");
    tracing::info!(owner, placed, %bundle, "the unloaded bundle is placed again");
    let fresh = topic_in_bundle(SPREAD_NS, "unloaded", &bundle).expect("a topic in the bundle");
    produce_consume(&url, &fresh);
    cluster
        .ownership(SPREAD_NS)
        .expect("one owner per bundle after the unload");
    topic
}

/// A hand split of `topic`'s bundle: one more bundle, the range cut in two
/// contiguous parts, `topic` keeps its messages, both parts serve.
async fn split(cluster: &BrokerCluster, topic: &str) {
    let before = cluster.bundles(SPREAD_NS).expect("bundles");
    let bundle = cluster.bundle_of(topic).expect("bundle of the topic");
    let via = (cluster.owner_index(topic).expect("lookup") + 2) % 3;
    blocking(|| cluster.split_bundle(via, SPREAD_NS, &bundle)).expect("split");
    let before_ref = &before;
    let after = poll(
        Duration::from_secs(15),
        "one more bundle",
        move || async move {
            let now = cluster.bundles(SPREAD_NS)?;
            Ok::<_, anyhow::Error>((now.len() == before_ref.len() + 1).then_some(now))
        },
    )
    .await;
    let added: Vec<String> = after
        .iter()
        .filter(|b| !before.contains(b))
        .cloned()
        .collect();
    let removed: Vec<String> = before
        .iter()
        .filter(|b| !after.contains(b))
        .cloned()
        .collect();
    assert_eq!(
        removed,
        vec![bundle.clone()],
        "before {before:?}, after {after:?}"
    );
    assert_eq!(added.len(), 2, "before {before:?}, after {after:?}");
    let (lower, upper) = parse_bundle(&bundle).expect("bundle name");
    let (low, high) = (
        parse_bundle(&added[0]).expect("bundle name"),
        parse_bundle(&added[1]).expect("bundle name"),
    );
    assert!(
        low.0 == lower && low.1 == high.0 && high.1 == upper,
        "{bundle} split into {added:?}"
    );
    let url = cluster.pulsar_url(0).expect("pulsar url");
    let all: Vec<u64> = (0..200).collect();
    assert_eq!(consume(&url, topic, "keep", None), all, "after the split");
    for part in &added {
        let topic = topic_in_bundle(SPREAD_NS, "split", part).expect("a topic in the part");
        produce_consume(&url, &topic);
    }
    let key = format!("{SPREAD_NS}/{bundle}");
    let key = key.as_str();
    poll(
        Duration::from_secs(15),
        "no broker owns the split bundle",
        move || async move {
            let owners = cluster.ownership(SPREAD_NS)?;
            Ok::<_, anyhow::Error>((!owners.contains_key(key)).then_some(()))
        },
    )
    .await;
}

/// kill -9 of the leader: another live broker leads within the session
/// timeout + 10 s, a topic in a bundle the leader owned serves again, and
/// the broker list names exactly the live brokers.
async fn leader_failover(cluster: &mut BrokerCluster) {
    let old = cluster.leader().expect("a leader");
    let leader = cluster
        .index_of_id(&old)
        .unwrap_or_else(|| panic!("leader {old} is none of the brokers"));
    let prefix = format!("{SPREAD_NS}/");
    let orphaned = cluster
        .owned_bundles(leader)
        .expect("bundles of the leader")
        .into_iter()
        .find(|key| key.starts_with(&prefix));
    let topic = match &orphaned {
        Some(key) => topic_in_bundle(SPREAD_NS, "orphan", bundle_of_key(key).expect("key"))
            .expect("a topic in the bundle"),
        None => format!("persistent://{SPREAD_NS}/after-leader"),
    };
    tracing::info!(leader, %old, ?orphaned, "kill -9 of the leader");
    cluster.kill9(leader).expect("kill -9");
    let killed_at = Instant::now();
    let new = cluster
        .wait_for_leader_change(&old, SHORT_SESSION + Duration::from_secs(10))
        .await;
    tracing::info!(%new, took = ?killed_at.elapsed(), "a new leader");
    let url = cluster
        .pulsar_url(cluster.live_brokers()[0])
        .expect("pulsar url");
    produce_consume(&url, &topic);
    let owner = cluster.owner_index(&topic).expect("lookup");
    assert_ne!(owner, leader, "{topic} is still placed on the dead leader");
    let mut live: Vec<String> = cluster
        .live_brokers()
        .into_iter()
        .map(|i| cluster.broker_id(i).expect("broker id"))
        .collect();
    live.sort();
    let (cluster, live) = (&*cluster, &live);
    poll(
        SHORT_SESSION + Duration::from_secs(10),
        "the broker list names exactly the live brokers",
        move || async move {
            let mut listed = cluster.registered_brokers()?;
            listed.sort();
            Ok::<_, anyhow::Error>((listed == *live).then_some(()))
        },
    )
    .await;
}

#[test]
fn steady_load_moves_nothing_and_a_new_broker_takes_bundles() {
    run_scenario(async {
        let mut cluster = BrokerCluster::start(3, &SHEDDING_FLAGS)
            .await
            .expect("etcd, 3 bookies and 3 brokers");
        let mut streams = steady_streams(&cluster).await;
        let baseline = cluster
            .settled_ownership(STEADY_NS, 2 * SHEDDING, 12 * SHEDDING)
            .await;
        tracing::info!(?baseline, "ownership settled");
        nothing_moves(&cluster, &baseline).await;
        let newcomer = new_broker_takes_bundles(&mut cluster, &streams).await;
        terminated_broker_hands_over(&mut cluster, newcomer, &streams).await;
        let url = cluster.pulsar_url(0).expect("pulsar url");
        for stream in &mut streams {
            let seen = blocking(|| stream.finish(&url, STOP_LIMIT))
                .unwrap_or_else(|error| panic!("{error:#}"));
            tracing::info!(
                duplicates = seen.duplicates,
                "every receipted message consumed"
            );
        }
    });
}

/// An 8-bundle namespace, every bundle placed, two streams through broker
/// 0 on (two) bundles of each broker: even, and with a bundle per broker
/// the shedder may move (it keeps one, and moves one only below the gap).
async fn steady_streams(cluster: &BrokerCluster) -> Vec<TopicStream> {
    cluster
        .create_namespace(STEADY_NS, 8)
        .expect("create a namespace of 8 bundles");
    let bundles = cluster.bundles(STEADY_NS).expect("bundles");
    assert_eq!(bundles.len(), 8);
    for bundle in &bundles {
        let topic = topic_in_bundle(STEADY_NS, "place", bundle).expect("a topic in the bundle");
        cluster
            .owner_index(&topic)
            .expect("the lookup places the bundle");
    }
    let placed = poll(
        Duration::from_secs(10),
        "every bundle placed",
        move || async move {
            let placed = cluster.ownership(STEADY_NS)?;
            Ok::<_, anyhow::Error>((placed.len() == 8).then_some(placed))
        },
    )
    .await;
    let url = cluster.pulsar_url(0).expect("pulsar url");
    let mut streams = Vec::new();
    for i in cluster.live_brokers() {
        let owned: Vec<&String> = placed
            .iter()
            .filter(|(_, owner)| **owner == i)
            .map(|(key, _)| key)
            .collect();
        assert!(!owned.is_empty(), "broker {i} owns no bundle: {placed:?}");
        for (name, key) in ["load-a", "load-b"]
            .into_iter()
            .zip(owned.into_iter().cycle())
        {
            let bundle = bundle_of_key(key).expect("owned bundle key");
            let topic = topic_in_bundle(STEADY_NS, name, bundle).expect("a topic");
            let stream = blocking(|| TopicStream::start(&url, &topic, RATE, MAX_PENDING))
                .expect("the stream starts");
            streams.push(stream);
        }
    }
    for stream in &streams {
        blocking(|| stream.wait_for_receipts(2 * RATE as usize, Duration::from_secs(60)))
            .expect("the stream runs");
    }
    streams
}

/// Five shedding intervals under the same load: the ownership stays
/// `baseline`, the load managers unload nothing, and each broker's
/// bundles-owned gauge matches its ownedNamespaces.
async fn nothing_moves(cluster: &BrokerCluster, baseline: &BTreeMap<String, usize>) {
    let unloads = cluster.lb_unloads().expect("lb unload counters");
    let end = Instant::now() + 5 * SHEDDING;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = cluster.ownership(STEADY_NS).expect("one owner per bundle");
        assert_eq!(&now, baseline, "a bundle moved under a steady load");
    }
    let after = cluster.lb_unloads().expect("lb unload counters");
    assert_eq!(
        after, unloads,
        "the load managers unloaded under a steady load"
    );
    for i in cluster.live_brokers() {
        let owned = cluster.owned_bundles(i).expect("owned bundles").len() as f64;
        let gauge = cluster
            .metric(i, BUNDLES_OWNED)
            .expect("bundles-owned gauge");
        assert_eq!(gauge, owned, "{BUNDLES_OWNED} of broker {i}");
    }
}

/// A fourth broker owns a bundle within two shedding intervals + 30 s,
/// after a load-manager unload; the streams go on. Returns its index.
async fn new_broker_takes_bundles(cluster: &mut BrokerCluster, streams: &[TopicStream]) -> usize {
    let unloads = cluster.lb_unloads().expect("lb unload counters");
    let newcomer = cluster
        .add_broker_with(&["--advertised-listeners", EXTERNAL_LISTENER])
        .await
        .expect("a fourth broker");
    let added_at = Instant::now();
    let cluster = &*cluster;
    let limit = 2 * SHEDDING + Duration::from_secs(30);
    poll(limit, "the new broker owns a bundle", move || async move {
        let owned = cluster.owned_bundles(newcomer)?;
        Ok::<_, anyhow::Error>((!owned.is_empty()).then_some(()))
    })
    .await;
    tracing::info!(took = ?added_at.elapsed(), "the new broker owns a bundle");
    named_listener_lookups(cluster, newcomer);
    let after = cluster.lb_unloads().expect("lb unload counters");
    assert!(
        after > unloads,
        "no load-manager unload ({unloads} → {after})"
    );
    for stream in streams {
        blocking(|| stream.wait_for_more(RATE as usize, Duration::from_secs(30)))
            .expect("the stream goes on");
    }
    newcomer
}

/// A lookup naming a listener gets that listener's URL; an unknown name
/// is refused; no name gets the broker's own URL.
fn named_listener_lookups(cluster: &BrokerCluster, broker: usize) {
    let key = cluster.owned_bundles(broker).expect("owned bundles")[0].clone();
    let (namespace, bundle) = key.rsplit_once('/').expect("tenant/namespace/bundle");
    let topic = topic_in_bundle(namespace, "listener", bundle).expect("a topic in the bundle");
    let path = format!(
        "/lookup/v2/topic/{}",
        topic
            .strip_prefix("persistent://")
            .map_or(topic.clone(), |t| format!("persistent/{t}"))
    );
    let answer = |query: &str| {
        cluster
            .broker(broker)
            .get(&format!("{path}{query}"))
            .expect("lookup over HTTP")
    };
    let named = answer("?listenerName=external");
    assert_eq!(named.status, 200, "{}", named.body);
    let named: serde_json::Value = serde_json::from_str(&named.body).expect("lookup JSON");
    assert_eq!(
        named["brokerUrl"],
        EXTERNAL_LISTENER.trim_start_matches("external:")
    );
    let plain: serde_json::Value = serde_json::from_str(&answer("").body).expect("lookup JSON");
    let own = cluster.pulsar_url(broker).expect("pulsar url");
    assert_eq!(plain["brokerUrl"].as_str(), Some(own.as_str()));
    assert_eq!(answer("?listenerName=nope").status, 503, "unknown listener");
}

/// SIGTERM of the new broker: exit 0, its bundles placed on live brokers
/// before its session could have expired, it leaves the broker list, the
/// streams go on.
async fn terminated_broker_hands_over(
    cluster: &mut BrokerCluster,
    newcomer: usize,
    streams: &[TopicStream],
) {
    let handed = cluster.owned_bundles(newcomer).expect("owned bundles");
    let id = cluster.broker_id(newcomer).expect("broker id");
    cluster.terminate(newcomer).expect("SIGTERM: a clean exit");
    let topics: Vec<String> = handed
        .iter()
        .map(|key| {
            let (namespace, bundle) = key.rsplit_once('/').expect("tenant/namespace/bundle");
            topic_in_bundle(namespace, "handed", bundle).expect("a topic in the bundle")
        })
        .collect();
    let (cluster, topics, id) = (&*cluster, &topics, id.as_str());
    let limit = SHORT_SESSION - Duration::from_millis(500);
    poll(
        limit,
        "the handed-over bundles on live brokers",
        move || async move {
            for topic in topics {
                if cluster.owner_index(topic)? == newcomer {
                    return Ok(None);
                }
            }
            Ok::<_, anyhow::Error>(Some(()))
        },
    )
    .await;
    poll(
        Duration::from_secs(10),
        "the terminated broker left the list",
        move || async move {
            let listed = cluster.registered_brokers()?;
            Ok::<_, anyhow::Error>((!listed.iter().any(|other| other == id)).then_some(()))
        },
    )
    .await;
    for stream in streams {
        blocking(|| stream.wait_for_more(RATE as usize, Duration::from_secs(30)))
            .expect("the stream goes on");
    }
}
