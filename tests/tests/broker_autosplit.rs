//! The load manager splits a hot bundle by itself: two brokers (etcd, three
//! bookies, E=3, Qw=3, Qa=2) with `--split-max-topics 5`, a namespace of one
//! bundle, and six topics produced to through the official Python client.
//! Within a few load-manager rounds the namespace has two bundles, exactly
//! one split was carried out (no decision taken twice), and every topic
//! serves again afterwards. The six names hash 2 to the low half and 4 to
//! the high half, so neither half splits again when its topics return.

use std::time::Duration;

use magnetar_tests::wait::{blocking, poll, run_scenario};
use magnetar_tests::{run_python_json, BrokerCluster};

const NAMESPACE: &str = "public/hot";
const TOPICS: &str = "6";
const FLAGS: [&str; 8] = [
    "--session-timeout-ms",
    "3000",
    "--load-report-interval-ms",
    "1000",
    "--shedding-interval-ms",
    "2000",
    "--split-max-topics",
    "5",
];

fn spread(cluster: &BrokerCluster) {
    let url = cluster.service_url().expect("service url");
    let out = blocking(|| {
        run_python_json(
            "spread_topics.py",
            &[url.as_str(), NAMESPACE, TOPICS],
            Duration::from_secs(120),
        )
    })
    .unwrap_or_else(|error| panic!("spread_topics.py: {error:#}"));
    assert_eq!(out["consumed"].as_u64(), Some(6), "{out}");
}

#[test]
fn a_bundle_over_the_topic_threshold_is_split_once() {
    run_scenario(async {
        let cluster = BrokerCluster::start(2, &FLAGS)
            .await
            .expect("etcd, 3 bookies and 2 brokers");
        cluster
            .create_namespace(NAMESPACE, 1)
            .expect("a namespace of one bundle");
        spread(&cluster);
        let c = &cluster;
        let bundles = poll(
            Duration::from_secs(30),
            "the hot bundle split",
            move || async move {
                let bundles = c.bundles(NAMESPACE)?;
                Ok::<_, anyhow::Error>((bundles.len() >= 2).then_some(bundles))
            },
        )
        .await;
        assert_eq!(bundles.len(), 2, "one split: {bundles:?}");
        let splits: f64 = cluster
            .live_brokers()
            .into_iter()
            .map(|i| {
                cluster
                    .metric(i, "magnetar_broker_lb_splits_total")
                    .unwrap_or(0.0)
            })
            .sum();
        assert_eq!(splits, 1.0, "the split was carried out once");
        // Every topic serves from its half: a new message comes back.
        spread(&cluster);
        assert_eq!(cluster.bundles(NAMESPACE).expect("bundles").len(), 2);
    });
}
