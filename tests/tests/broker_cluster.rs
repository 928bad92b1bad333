//! Several `magnetar broker` processes on one etcd and three bookies (E=3,
//! Qw=3, Qa=2), driven by the official Python client: bundle placement,
//! admin operations and the leader. Losing a topic's owner is in
//! `broker_failover.rs`, load shedding in `broker_shedding.rs`.
//!
//! 1. 100 topics over a 16-bundle namespace land on every broker; a client
//!    of a non-owner produces and consumes; a hand unload through a
//!    non-owner (redirected) keeps the messages; a hand split cuts a bundle
//!    in two contiguous parts that both serve; after kill -9 of the leader
//!    another live broker leads within the session timeout + 10 s and a
//!    bundle of the dead leader serves again.
//! 2. One namespace clearBacklog sent to one broker empties the backlogs of
//!    topics that every broker serves.
//!
//! A 3 s session and load reports every second; every wait is bounded.

use std::time::{Duration, Instant};

use magnetar_tests::cluster::{SHORT_SESSION, SHORT_TIMINGS};
use magnetar_tests::http::http_post;
use magnetar_tests::placement::{bundle_of_key, parse_bundle, topic_in_bundle};
use magnetar_tests::stream::consume_seqs;
use magnetar_tests::wait::{blocking, poll, run_scenario};
use magnetar_tests::{run_magnetar, run_python_json, BrokerCluster};

const SPREAD_NS: &str = "public/spread";

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
        clear_backlog_everywhere(&cluster);
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

/// Messages left on the `spread` subscription of a topic of each broker;
/// one `clearBacklog` through broker 0 empties them all (the other owners'
/// bundles are cleared by requests that broker 0 sends them).
fn clear_backlog_everywhere(cluster: &BrokerCluster) {
    let mut picked: Vec<(usize, String)> = Vec::new();
    for i in 0..100 {
        let topic = format!("persistent://{SPREAD_NS}/spread-{i}");
        let owner = cluster.owner_index(&topic).expect("lookup");
        if picked.iter().all(|(known, _)| *known != owner) {
            picked.push((owner, topic));
        }
    }
    assert_eq!(picked.len(), 3, "topics of every broker: {picked:?}");
    let url = cluster.pulsar_url(0).expect("pulsar url");
    let backlog = |owner: usize, topic: &str| -> u64 {
        let local = topic.rsplit('/').next().expect("local name");
        let path = format!("/admin/v2/persistent/{SPREAD_NS}/{local}/stats");
        let stats = cluster.broker(owner).get(&path).expect("stats");
        assert_eq!(stats.status, 200, "{}", stats.body);
        let stats: serde_json::Value = serde_json::from_str(&stats.body).expect("stats json");
        stats["subscriptions"]["spread"]["msgBacklog"]
            .as_u64()
            .unwrap_or_else(|| panic!("no spread backlog in {stats}"))
    };
    for (owner, topic) in &picked {
        run_magnetar(&["produce", "--url", &url, topic, "-m", "left", "-n", "3"])
            .unwrap_or_else(|error| panic!("produce to {topic}: {error:#}"));
        let before = backlog(*owner, topic);
        assert!(before >= 3, "{topic} on broker {owner}: backlog {before}");
    }
    let via = cluster.broker_id(0).expect("broker 0");
    let answer = http_post(
        &via,
        &format!("/admin/v2/namespaces/{SPREAD_NS}/clearBacklog"),
        "",
    )
    .expect("clearBacklog");
    assert_eq!(answer.status, 204, "{}", answer.body);
    for (owner, topic) in &picked {
        assert_eq!(
            backlog(*owner, topic),
            0,
            "{topic} on broker {owner} after clearBacklog"
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
