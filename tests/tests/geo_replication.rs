//! Geo-replication between clusters on loopback: `magnetar standalone`s,
//! each with its own name, ports, metadata and bookie, and clusters of a
//! bookie and a broker that share one etcd under their own prefixes. All
//! are linked through `magnetar admin` and driven by the official Python
//! client (`geo.py`):
//! - a full mesh of three clusters producing at once: every message
//!   reaches every cluster once, in order per origin, with its key,
//!   properties and event time, and batches stay whole;
//! - a remote cluster killed and kept down mid-stream: nothing lost, no
//!   duplicate with deduplication on, the stall reported meanwhile;
//! - the origin killed mid-stream: its replicator resends, and
//!   deduplication keeps one copy;
//! - a replicated subscription: a consumer in the other cluster resumes
//!   where the first one stopped;
//! - partitioned topics whose partition counts differ: replication waits
//!   with the reason shown, then catches up.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use magnetar_metadata::testing::EtcdServer;
use magnetar_tests::http::{http_get, http_put};
use magnetar_tests::process::{magnetar_bin, MagnetarProcess};
use magnetar_tests::python::run_python_json;
use magnetar_tests::raft::free_port;
use magnetar_tests::standalone::START_TIMEOUT;
use magnetar_tests::BookieProcess;
use serde_json::Value;
use tempfile::TempDir;
use tokio::runtime::Runtime;

/// One cluster: a standalone on fixed ports (so that it comes back on the
/// same ones after kill -9, where the other clusters expect it).
struct Site {
    name: &'static str,
    process: MagnetarProcess,
    pulsar_port: u16,
    http_port: u16,
    _data: Option<TempDir>,
    _bookie: Option<BookieProcess>,
}

impl Site {
    fn start(name: &'static str) -> Site {
        let data = tempfile::tempdir().expect("data dir");
        let (pulsar_port, http_port) = (free_port().expect("port"), free_port().expect("port"));
        let args = [
            "standalone".to_string(),
            "--cluster".into(),
            name.into(),
            "--data-dir".into(),
            data.path().to_string_lossy().into_owned(),
            "--pulsar-port".into(),
            pulsar_port.to_string(),
            "--http-port".into(),
            http_port.to_string(),
            "--policy-check-interval-ms".into(),
            "500".into(),
            "--replication-stall-threshold-ms".into(),
            "2000".into(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let process = MagnetarProcess::start(&args, START_TIMEOUT).expect("start standalone");
        Site {
            name,
            process,
            pulsar_port,
            http_port,
            _data: Some(data),
            _bookie: None,
        }
    }

    /// A cluster of one bookie and one broker on `etcd`, under the prefix
    /// `/<name>`: clusters that share the store keep apart by prefix.
    fn on_shared_etcd(name: &'static str, etcd: &EtcdServer, runtime: &Runtime) -> Site {
        let metadata = etcd.url(Some(&format!("/{name}"))).to_string();
        let bookie = runtime
            .block_on(BookieProcess::start(&metadata))
            .expect("start bookie");
        let (pulsar_port, http_port) = (free_port().expect("port"), free_port().expect("port"));
        let args = [
            "broker".to_string(),
            "--metadata".into(),
            metadata,
            "--cluster".into(),
            name.into(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--pulsar-port".into(),
            pulsar_port.to_string(),
            "--http-port".into(),
            http_port.to_string(),
            "--ensemble-size".into(),
            "1".into(),
            "--write-quorum".into(),
            "1".into(),
            "--ack-quorum".into(),
            "1".into(),
            "--policy-check-interval-ms".into(),
            "500".into(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let process = MagnetarProcess::start(&args, START_TIMEOUT).expect("start broker");
        Site {
            name,
            process,
            pulsar_port,
            http_port,
            _data: None,
            _bookie: Some(bookie),
        }
    }

    fn pulsar_url(&self) -> String {
        format!("pulsar://127.0.0.1:{}", self.pulsar_port)
    }

    fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    fn http_addr(&self) -> String {
        format!("127.0.0.1:{}", self.http_port)
    }

    fn admin(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.try_admin(args);
        assert!(ok, "magnetar admin {args:?} failed: {stderr}\n{stdout}");
        stdout
    }

    /// `magnetar admin --url <this site> args…`: (success, stdout, stderr).
    fn try_admin(&self, args: &[&str]) -> (bool, String, String) {
        let url = self.http_url();
        let output = Command::new(magnetar_bin())
            .args(["admin", "--url", url.as_str()])
            .args(args)
            .output()
            .expect("run magnetar admin");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// The topic's stats; `null` while it does not exist yet.
    fn stats(&self, topic: &str) -> Value {
        match self.try_admin(&["--json", "topics", "stats", topic]) {
            (true, stdout, _) => serde_json::from_str(&stdout).unwrap_or(Value::Null),
            (false, _, _) => Value::Null,
        }
    }
}

/// Registers every site in every other one, and creates tenant `geo` and
/// `namespace` replicated over all of them (with deduplication when asked).
fn link(sites: &[&Site], namespace: &str, dedup: bool) {
    let names: Vec<&str> = sites.iter().map(|s| s.name).collect();
    let all = names.join(",");
    for site in sites {
        for other in sites.iter().filter(|o| o.name != site.name) {
            site.admin(&[
                "clusters",
                "create",
                other.name,
                "--service-url",
                &other.http_url(),
                "--broker-service-url",
                &other.pulsar_url(),
            ]);
        }
        site.admin(&["tenants", "create", "geo", "--allowed-clusters", &all]);
        site.admin(&["namespaces", "create", namespace]);
        site.admin(&["namespaces", "set-clusters", namespace, "--clusters", &all]);
        if dedup {
            site.admin(&[
                "namespaces",
                "set-deduplication",
                namespace,
                "--enable",
                "true",
            ]);
        }
    }
}

fn produce(site: &Site, topic: &str, origin: &str, count: usize, rate: Option<u32>) -> Value {
    let count = count.to_string();
    let rate = rate.map(|r| r.to_string());
    let url = site.pulsar_url();
    let mut args = vec!["produce", url.as_str(), topic, origin, count.as_str()];
    if let Some(rate) = &rate {
        args.push(rate);
    }
    // Paced runs take count / rate seconds, plus the client's start.
    let paced = rate
        .as_deref()
        .and_then(|r| r.parse::<u64>().ok())
        .filter(|&r| r > 0);
    let seconds = paced.map_or(0, |r| count.parse::<u64>().unwrap_or(0) / r);
    run_python_json("geo.py", &args, Duration::from_secs(180 + seconds)).expect("produce")
}

/// [`produce`] in a thread of its own: east goes on while the test acts.
fn produce_in_background(
    site: &Site,
    topic: &'static str,
    count: usize,
    rate: u32,
) -> thread::JoinHandle<Value> {
    let (url, origin) = (site.pulsar_url(), site.name);
    thread::spawn(move || {
        let (count, rate) = (count.to_string(), rate.to_string());
        let args = ["produce", url.as_str(), topic, origin, &count, &rate];
        run_python_json("geo.py", &args, Duration::from_secs(180)).expect("produce")
    })
}

/// Consumes `expected` messages from the earliest (waiting up to `idle`
/// for each), and returns the script's report.
fn consume(site: &Site, topic: &str, expected: usize, idle: Duration) -> Value {
    consume_on(site, topic, "check", expected, idle, false)
}

/// As [`consume`], on `subscription`, replicated when asked.
fn consume_on(
    site: &Site,
    topic: &str,
    subscription: &str,
    expected: usize,
    idle: Duration,
    replicated: bool,
) -> Value {
    let expected = expected.to_string();
    let idle = idle.as_millis().to_string();
    let url = site.pulsar_url();
    let mode = if replicated { "replicated" } else { "plain" };
    let args = ["consume", &url, topic, subscription, &expected, &idle, mode];
    run_python_json("geo.py", &args, Duration::from_secs(240)).expect("consume")
}

/// The sequence numbers `report` lists for `origin`.
fn sequence(report: &Value, origin: &str) -> Vec<u64> {
    report["by_origin"][origin]
        .as_array()
        .map(|seqs| seqs.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

/// The sum of every labelled sample of `name` in an OpenMetrics body.
fn labelled_sum(body: &str, name: &str) -> f64 {
    body.lines()
        .filter_map(|line| {
            let (_, value) = line
                .strip_prefix(name)?
                .strip_prefix('{')?
                .split_once("} ")?;
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum()
}

/// Polls `check` every 200 ms until it holds, for at most `limit`.
fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_full_mesh_of_three_clusters_delivers_every_message_everywhere_once_in_order() {
    let sites = [
        Site::start("east"),
        Site::start("west"),
        Site::start("north"),
    ];
    let refs: Vec<&Site> = sites.iter().collect();
    link(&refs, "geo/mesh", false);
    let topic = "persistent://geo/mesh/orders";
    const COUNT: usize = 400;

    // Every cluster produces to the same topic at once (active-active).
    thread::scope(|scope| {
        let producers: Vec<_> = sites
            .iter()
            .map(|site| scope.spawn(move || produce(site, topic, site.name, COUNT, Some(400))))
            .collect();
        for producer in producers {
            let report = producer.join().expect("producer thread");
            assert_eq!(report["acked"], COUNT as u64, "{report}");
        }
    });

    // Each cluster has every message once: asking for one more than were
    // produced waits out the idle time and gets none (a loop would ship
    // copies around).
    let reports: Vec<Value> = thread::scope(|scope| {
        let consumers: Vec<_> = sites
            .iter()
            .map(|site| {
                scope.spawn(move || consume(site, topic, 3 * COUNT + 1, Duration::from_secs(8)))
            })
            .collect();
        consumers
            .into_iter()
            .map(|c| c.join().expect("consumer thread"))
            .collect()
    });
    let expected: Vec<u64> = (0..COUNT as u64).collect();
    for (site, report) in sites.iter().zip(&reports) {
        assert_eq!(
            report["received"],
            3 * COUNT as u64,
            "{}: {report}",
            site.name
        );
        assert_eq!(
            report["mismatched"],
            serde_json::json!([]),
            "{}: {report}",
            site.name
        );
        for origin in ["east", "west", "north"] {
            assert_eq!(
                sequence(report, origin),
                expected,
                "{} holds {origin}'s messages out of order, twice or not at all",
                site.name
            );
        }
    }

    // Batches travel whole and nothing is shipped twice: every cluster
    // stores the same number of entries, and each replicator caught up.
    let entries: Vec<u64> = sites
        .iter()
        .map(|site| site.stats(topic)["entries"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        entries.iter().all(|&e| e == entries[0]) && entries[0] < 3 * COUNT as u64,
        "entries per cluster {entries:?}: batches split or shipped twice"
    );
    for site in &sites {
        wait_for(
            "replication backlogs drain",
            Duration::from_secs(20),
            || {
                let stats = site.stats(topic);
                let replication = stats["replication"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                replication.len() == 2
                    && replication
                        .values()
                        .all(|r| r["replicationBacklog"] == 0 && r["connected"] == true)
            },
        );
        let stats = site.stats(topic);
        assert!(
            stats["subscriptions"]
                .as_object()
                .is_some_and(|s| s.keys().all(|k| !k.starts_with("pulsar.repl"))),
            "replicator cursors listed as subscriptions: {stats}"
        );
    }
}

#[test]
fn a_remote_cluster_killed_and_kept_down_misses_nothing() {
    let east = Site::start("east");
    let mut west = Site::start("west");
    link(&[&east, &west], "geo/outage", true);
    let topic = "persistent://geo/outage/payments";
    const COUNT: usize = 3000;

    let producer = produce_in_background(&east, topic, COUNT, 300);
    // Mid-stream: west dies and stays down while east goes on.
    wait_for("replication starts", Duration::from_secs(30), || {
        east.stats(topic)["replication"]["west"]["msgOutCount"]
            .as_u64()
            .is_some_and(|n| n > 200)
    });
    west.process.kill9().expect("kill west");
    wait_for("east reports the stall", Duration::from_secs(30), || {
        let west_stats = &east.stats(topic)["replication"]["west"];
        west_stats["stalled"] == true
            && west_stats["connected"] == false
            && west_stats["replicationBacklog"]
                .as_u64()
                .is_some_and(|b| b > 0)
    });
    let metrics = http_get(&east.http_addr(), "/metrics")
        .expect("metrics")
        .body;
    assert_eq!(
        labelled_sum(&metrics, "magnetar_replication_stalled"),
        1.0,
        "the stall is not in /metrics"
    );
    // The console flags it on the namespace's page, per remote cluster.
    let page = http_get(&east.http_addr(), "/ui/namespaces/geo/outage")
        .expect("console page")
        .body;
    let card = page
        .split("Geo-replication")
        .nth(1)
        .expect("a geo-replication card on the namespace page");
    assert!(
        card.contains("west") && card.contains(">stalled<") && card.contains("payments"),
        "the console does not show the stall: {card}"
    );
    thread::sleep(Duration::from_secs(3));
    let produced = producer.join().expect("producer thread");
    assert_eq!(produced["acked"], COUNT as u64, "{produced}");

    west.process.restart(START_TIMEOUT).expect("restart west");
    let report = consume(&west, topic, COUNT + 1, Duration::from_secs(10));
    assert_eq!(
        sequence(&report, "east"),
        (0..COUNT as u64).collect::<Vec<_>>(),
        "west lost, reordered or duplicated messages across its outage"
    );
    wait_for("the stall clears", Duration::from_secs(30), || {
        let west_stats = &east.stats(topic)["replication"]["west"];
        west_stats["stalled"] == false && west_stats["replicationBacklog"] == 0
    });
}

#[test]
fn an_origin_killed_mid_stream_ships_nothing_twice_with_deduplication() {
    let mut east = Site::start("east");
    let west = Site::start("west");
    link(&[&east, &west], "geo/restart", true);
    let topic = "persistent://geo/restart/ledger";
    const COUNT: usize = 3000;

    let producer = produce_in_background(&east, topic, COUNT, 300);
    wait_for("replication starts", Duration::from_secs(30), || {
        east.stats(topic)["replication"]["west"]["msgOutCount"]
            .as_u64()
            .is_some_and(|n| n > 500)
    });
    // The replicator's cursor is stored lazily: the restarted replicator
    // resends what west already has, and west's deduplication drops it
    // by the original producer and sequence ids.
    east.process.restart(START_TIMEOUT).expect("restart east");
    let produced = producer.join().expect("producer thread");
    assert_eq!(produced["acked"], COUNT as u64, "{produced}");
    let report = consume(&west, topic, COUNT + 1, Duration::from_secs(10));
    assert_eq!(
        sequence(&report, "east"),
        (0..COUNT as u64).collect::<Vec<_>>(),
        "west lost, reordered or duplicated messages across the origin's restart"
    );
}

#[test]
fn clusters_sharing_one_etcd_under_their_own_prefixes_replicate_both_ways() {
    let runtime = Runtime::new().expect("runtime");
    let etcd = runtime.block_on(EtcdServer::start()).expect("start etcd");
    let east = Site::on_shared_etcd("east", &etcd, &runtime);
    let west = Site::on_shared_etcd("west", &etcd, &runtime);
    link(&[&east, &west], "geo/shared", false);
    let topic = "persistent://geo/shared/audit";
    const COUNT: usize = 200;
    assert_eq!(
        produce(&east, topic, "east", COUNT, None)["acked"],
        COUNT as u64
    );
    assert_eq!(
        produce(&west, topic, "west", COUNT, None)["acked"],
        COUNT as u64
    );
    for site in [&east, &west] {
        let report = consume(site, topic, 2 * COUNT, Duration::from_secs(15));
        for origin in ["east", "west"] {
            assert_eq!(
                sequence(&report, origin),
                (0..COUNT as u64).collect::<Vec<_>>(),
                "{} holds {origin}'s messages out of order, twice or not at all",
                site.name
            );
        }
    }
    // Brokers are dropped (killed) before the bookies and etcd.
    drop((east, west));
}

#[test]
fn a_replicated_subscription_resumes_in_the_other_cluster_where_it_stopped() {
    let east = Site::start("east");
    let west = Site::start("west");
    link(&[&east, &west], "geo/subs", false);
    let topic = "persistent://geo/subs/orders";
    let quick = Duration::from_secs(2);
    // The subscription exists in east before the messages, which are
    // unbatched: a subscription moves past whole entries only.
    consume_on(&east, topic, "billing", 0, quick, true);
    let url = east.pulsar_url();
    let args = [
        "produce",
        url.as_str(),
        topic,
        "east",
        "100",
        "0",
        "unbatched",
    ];
    let produced = run_python_json("geo.py", &args, Duration::from_secs(120)).expect("produce");
    assert_eq!(produced["acked"], 100, "{produced}");
    let first = consume_on(&east, topic, "billing", 60, quick, true);
    assert_eq!(sequence(&first, "east"), (0..60).collect::<Vec<_>>());

    // West's copy follows east's acknowledgements, no further.
    wait_for(
        "west's copy of the subscription moves",
        Duration::from_secs(30),
        || west.stats(topic)["subscriptions"]["billing"]["msgBacklog"] == 40,
    );
    let rest = consume_on(&west, topic, "billing", 41, Duration::from_secs(5), true);
    assert_eq!(
        sequence(&rest, "east"),
        (60..100).collect::<Vec<_>>(),
        "the consumer in west did not resume where east stopped"
    );
}

#[test]
fn partitioned_topics_replicate_once_partition_counts_agree() {
    let east = Site::start("east");
    let west = Site::start("west");
    link(&[&east, &west], "geo/parts", false);
    let topic = "persistent://geo/parts/events";
    let partitions = "/admin/v2/persistent/geo/parts/events/partitions";
    assert_eq!(
        http_put(&east.http_addr(), partitions, "2").unwrap().status,
        204
    );
    assert_eq!(
        http_put(&west.http_addr(), partitions, "1").unwrap().status,
        204
    );
    const COUNT: usize = 200;
    assert_eq!(
        produce(&east, topic, "east", COUNT, None)["acked"],
        COUNT as u64
    );

    // The counts differ: replication waits and says why.
    let partition = format!("{topic}-partition-0");
    wait_for("the mismatch is reported", Duration::from_secs(30), || {
        east.stats(&partition)["replication"]["west"]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("partitions"))
    });
    // Grown to match, west receives every message.
    west.admin(&[
        "topics",
        "update-partitioned-topic",
        topic,
        "--partitions",
        "2",
    ]);
    let report = consume(&west, topic, COUNT, Duration::from_secs(20));
    let mut seqs = sequence(&report, "east");
    seqs.sort_unstable();
    assert_eq!(seqs, (0..COUNT as u64).collect::<Vec<_>>(), "{report}");
}

/// Benchmark, not a test (ignored; `scripts/bench geo` runs it): the
/// replication lag between two loopback clusters at a steady rate
/// (`BENCH_RATE`, 5,000 msg/s, for `BENCH_SECONDS`, 30), measured from each
/// message's intended send time in east to its arrival at a consumer in
/// west; then the catch-up rate after west was down for `BENCH_OUTAGE_SECS`
/// (60) while east went on at the same rate.
#[test]
#[ignore]
fn bench_replication_lag_and_catch_up() {
    let env_or = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (rate, seconds, outage) = (
        env_or("BENCH_RATE", 5000),
        env_or("BENCH_SECONDS", 30),
        env_or("BENCH_OUTAGE_SECS", 60),
    );
    let east = Site::start("east");
    let mut west = Site::start("west");
    link(&[&east, &west], "geo/bench", false);

    let topic = "persistent://geo/bench/lag";
    let (from, to) = (east.pulsar_url(), west.pulsar_url());
    let args = [
        from.as_str(),
        to.as_str(),
        topic,
        &rate.to_string(),
        &seconds.to_string(),
    ];
    let lag =
        run_python_json("geo_lag.py", &args, Duration::from_secs(seconds + 180)).expect("lag run");
    println!(
        "BENCH replication lag at {rate} msg/s for {seconds} s: received={} p50={}ms p99={}ms max={}ms",
        lag["received"], lag["p50_ms"], lag["p99_ms"], lag["max_ms"]
    );

    let topic = "persistent://geo/bench/catch-up";
    // The topic and its replicator exist before west goes down.
    assert_eq!(produce(&east, topic, "east", 10, None)["acked"], 10);
    wait_for("first messages replicate", Duration::from_secs(30), || {
        east.stats(topic)["replication"]["west"]["replicationBacklog"] == 0
    });
    west.process.kill9().expect("kill west");
    let count = (rate * outage) as usize;
    let produced = produce(&east, topic, "east", count, Some(rate as u32));
    assert_eq!(produced["acked"], count as u64, "{produced}");
    let before = east.stats(topic)["replication"]["west"]["msgOutCount"]
        .as_u64()
        .unwrap_or(0);
    west.process.restart(START_TIMEOUT).expect("restart west");
    let started = Instant::now();
    wait_for("west catches up", Duration::from_secs(600), || {
        east.stats(topic)["replication"]["west"]["replicationBacklog"] == 0
    });
    let elapsed = started.elapsed().as_secs_f64();
    let shipped = east.stats(topic)["replication"]["west"]["msgOutCount"]
        .as_u64()
        .unwrap_or(0)
        - before;
    println!(
        "BENCH replication catch-up after {outage} s down: {shipped} messages in {elapsed:.1} s from west's restart = {:.0} msg/s",
        shipped as f64 / elapsed
    );
}
