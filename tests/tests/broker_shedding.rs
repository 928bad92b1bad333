//! Load shedding on several `magnetar broker` processes (etcd, three
//! bookies, E=3, Qw=3, Qa=2) under streams from the official Python client:
//! under a steady load (two streams per broker) ownership settles, then no
//! bundle moves for five shedding intervals; a fourth broker gets a bundle
//! within two intervals + 30 s, and its named listener answers lookups; its
//! SIGTERM exits 0 and hands its bundles over before its session could
//! expire; nothing receipted is lost. Placement, unload, split and the
//! leader are in `broker_cluster.rs`.
//!
//! A 3 s session, load reports every second and shedding every 3 s; every
//! wait is bounded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use magnetar_tests::cluster::SHORT_SESSION;
use magnetar_tests::cluster_admin::BUNDLES_OWNED;
use magnetar_tests::placement::{bundle_of_key, topic_in_bundle};
use magnetar_tests::wait::{blocking, poll, run_scenario};
use magnetar_tests::{BrokerCluster, TopicStream};

/// Messages per second of each stream (two per broker).
const RATE: u32 = 100;
const MAX_PENDING: u32 = 1000;
const STOP_LIMIT: Duration = Duration::from_secs(60);
/// The named listener of the broker added to the cluster.
const EXTERNAL_LISTENER: &str = "external:pulsar://broker-4.example:6650";
const STEADY_NS: &str = "public/steady";
/// The shedding interval.
const SHEDDING: Duration = Duration::from_secs(3);
/// Flags of every broker : shedding every 3 s at any rate.
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
