//! The fault harness: `magnetar verify` drives a cluster (etcd and three
//! brokers, or one Raft metadata node and two brokers; three bookies;
//! clients through a `magnetar proxy`) while a seeded schedule kills,
//! restarts, pauses and resumes brokers, bookies and the metadata store
//! (etcd, or the Raft node), partitions a broker or a bookie from everyone,
//! cuts the link between a broker and one bookie, the metadata store,
//! another broker or the proxy, or between two bookies, fills a bookie's
//! disk, or makes a bookie lose its power (a kill -9 that also drops every
//! write not yet fsynced). Every run must end with nothing acknowledged
//! lost, nothing reordered and, with deduplication on, nothing stored
//! twice.
//!
//! - CI runs one seed per fault kind and one mixing all kinds on etcd, and
//!   on Raft one that kills its node, one that pauses it and one mixing
//!   all kinds. Bookies run on small tmpfs disks when
//!   the tests run as root, so that a fault can fill one up; with root,
//!   `ip` and iptables, every server runs in a network namespace of its own
//!   on a test network ([`magnetar_tests::netns`]), so that partitions and
//!   cut links drop traffic by address; with root and `/dev/fuse`, bookies
//!   run on lossy disks (over the small ones), so that one can lose its
//!   power. A fault kind that cannot be injected here is left out.
//! - `MAGNETAR_FAULT_SEEDS=7,8,9` runs those seeds (all kinds, or those
//!   named in `MAGNETAR_FAULT_KINDS=KillMetadata,PauseBroker`) instead: a
//!   failing run prints its seed, and this replays its schedule.
//! - `MAGNETAR_SOAK_SECS=3600` keeps running fresh seeds that long.
//!
//! A second test shows a cut link parts two servers and nothing else.
//! A third proves the checker has teeth: a broker built with the
//! `fault-injection` feature and told to acknowledge every 100th message
//! without storing it fails verification, where a sound one passes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use magnetar_broker::fault::ACK_WITHOUT_STORE_EVERY;
use magnetar_tests::cluster::{CLUSTER_BOOKIES, SHORT_TIMINGS};
use magnetar_tests::faults::{broker_host, metadata_ips, FaultKind, FaultSchedule};
use magnetar_tests::http::http_get;
use magnetar_tests::lossy_fs::LossyDisk;
use magnetar_tests::netns::TestNet;
use magnetar_tests::partition::Partition;
use magnetar_tests::small_disk::SmallDisk;
use magnetar_tests::verify_command::{VerifyCommand, VerifyOutcome};
use magnetar_tests::wait::{blocking, poll, run_scenario};
use magnetar_tests::{BookieCluster, BrokerCluster, RaftGroup, Standalone};

/// Brokers on etcd, and on the Raft metadata node.
const BROKERS: usize = 3;
const RAFT_BROKERS: usize = 2;
/// `magnetar verify`'s default namespace.
const VERIFY_NAMESPACE: &str = "public/verify";
/// How long each run's producers send; faults start within it.
const PRODUCE_SECS: u64 = 12;
/// How long a whole `magnetar verify` run may take, drain included.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(240);
/// The CI runs: one per fault kind, then all kinds mixed.
const CI_RUNS: [(u64, &[FaultKind]); 16] = [
    (11, &[FaultKind::KillBroker]),
    (12, &[FaultKind::PauseBroker]),
    (13, &[FaultKind::KillBookie]),
    (14, &[FaultKind::PauseBookie]),
    (16, &[FaultKind::FillBookieDisk]),
    (17, &[FaultKind::IsolateBroker]),
    (18, &[FaultKind::IsolateBookie]),
    (22, &[FaultKind::KillMetadata]),
    (23, &[FaultKind::PauseMetadata]),
    (24, &[FaultKind::CutBrokerFromBookie]),
    (25, &[FaultKind::CutBrokerFromMetadata]),
    (26, &[FaultKind::CutBrokerFromBroker]),
    (27, &[FaultKind::PowerLossBookie]),
    (28, &[FaultKind::CutProxyFromBroker]),
    (29, &[FaultKind::CutBookieFromBookie]),
    (15, &FaultKind::ALL),
];
/// On the Raft metadata store: its node killed, its node paused, then one
/// run mixing all kinds.
const CI_RAFT_RUNS: [(u64, &[FaultKind]); 3] = [
    (30, &[FaultKind::KillMetadata]),
    (31, &[FaultKind::PauseMetadata]),
    (21, &FaultKind::ALL),
];
/// Each bookie's disk (a tmpfs), room for two preallocated journal files
/// and the rest of its data.
const BOOKIE_DISK_MB: u64 = 320;

/// Figures of one fault kind (or of a mix) over the runs.
#[derive(Default)]
struct Figures {
    schedules: u32,
    faults: u32,
    acked: u64,
    lost: u64,
    duplicated: u64,
    reordered: u64,
    longest_unavailability_ms: u64,
}

impl Figures {
    fn add(&mut self, injected: &BTreeMap<FaultKind, u32>, outcome: &VerifyOutcome) {
        self.schedules += 1;
        self.faults += injected.values().sum::<u32>();
        self.acked += outcome.number("acked");
        self.lost += outcome.total("lost");
        self.duplicated += outcome.total("duplicated");
        self.reordered += outcome.total("reordered");
        self.longest_unavailability_ms = self
            .longest_unavailability_ms
            .max(outcome.number("longest_unavailability_ms"));
    }
}

fn label(kinds: &[FaultKind]) -> String {
    if kinds.len() == 1 {
        kinds[0].name().to_string()
    } else {
        "all kinds mixed".to_string()
    }
}

/// The metadata store under the cluster.
#[derive(Clone, Copy)]
enum Metadata {
    Etcd,
    Raft,
}

impl Metadata {
    fn brokers(self) -> usize {
        match self {
            Metadata::Etcd => BROKERS,
            Metadata::Raft => RAFT_BROKERS,
        }
    }
}

/// Starts the metadata store, three bookies (on small disks when this
/// process may mount them, on lossy disks when it may mount FUSE) and the
/// brokers.
async fn start_cluster(metadata: Metadata, small_disks: bool, lossy_disks: bool) -> BrokerCluster {
    let mut bookies = match metadata {
        Metadata::Etcd => BookieCluster::start(0).await.unwrap(),
        Metadata::Raft => {
            let group = blocking(|| RaftGroup::start(1)).unwrap();
            group.wait_for_leader().await.unwrap();
            let url = group.url();
            BookieCluster::with_metadata(&url, group)
        }
    };
    for _ in 0..CLUSTER_BOOKIES {
        bookies
            .add_bookie_on_disks(small_disks.then_some(BOOKIE_DISK_MB), lossy_disks)
            .await
            .unwrap();
    }
    BrokerCluster::with_bookies(bookies, metadata.brokers(), &SHORT_TIMINGS)
        .await
        .unwrap()
}

/// The runs asked for: `MAGNETAR_FAULT_SEEDS` (the kinds of `MAGNETAR_FAULT_KINDS`, else all mixed), else
/// `default`; then fresh seeds while `MAGNETAR_SOAK_SECS` lasts.
fn planned_runs(default: &[(u64, &[FaultKind])]) -> (Vec<(u64, Vec<FaultKind>)>, Option<Instant>) {
    let kinds = match std::env::var("MAGNETAR_FAULT_KINDS") {
        Ok(names) => names
            .split(',')
            .map(|name| {
                FaultKind::ALL
                    .into_iter()
                    .find(|kind| format!("{kind:?}").eq_ignore_ascii_case(name.trim()))
                    .unwrap_or_else(|| panic!("no fault kind {name}: {:?}", FaultKind::ALL))
            })
            .collect(),
        Err(_) => FaultKind::ALL.to_vec(),
    };
    let runs = match std::env::var("MAGNETAR_FAULT_SEEDS") {
        Ok(seeds) => seeds
            .split(',')
            .map(|s| {
                let seed = s.trim().parse().expect("seeds are numbers");
                (seed, kinds.clone())
            })
            .collect(),
        Err(_) => default.iter().map(|(s, k)| (*s, k.to_vec())).collect(),
    };
    let soak_until = std::env::var("MAGNETAR_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(|secs| Instant::now() + Duration::from_secs(secs));
    (runs, soak_until)
}

/// Runs `magnetar verify` under each planned schedule and asserts each
/// verdict; prints the figures per fault kind at the end.
async fn run_schedules(metadata: Metadata, default: &[(u64, &[FaultKind])]) {
    let small_disks = SmallDisk::can_mount();
    if !small_disks {
        eprintln!("not root: no small disks, so no full-disk faults");
    }
    // Before the first process starts: each runs in a namespace of its
    // own, so that a fault can cut it off by address.
    let net = TestNet::enable();
    if net.is_none() {
        eprintln!("no test network: no partitions or cut links");
    }
    let lossy_disks = LossyDisk::available();
    if !lossy_disks {
        eprintln!("no FUSE: no bookie power loss");
    }
    let mut cluster = start_cluster(metadata, small_disks, lossy_disks).await;
    let proxy = cluster.start_proxy().expect("proxy starts");
    let url = proxy.pulsar_url().unwrap();
    let admin = proxy.http_url().unwrap();

    let (runs, soak_until) = planned_runs(default);
    let mut queue = runs.into_iter();
    let mut figures: BTreeMap<String, Figures> = BTreeMap::new();
    loop {
        let (seed, mut kinds) = match queue.next() {
            Some(run) => run,
            None => match soak_until {
                Some(until) if Instant::now() < until => (fresh_seed(), FaultKind::ALL.to_vec()),
                _ => break,
            },
        };
        kinds.retain(|kind| match kind {
            FaultKind::FillBookieDisk => small_disks,
            kind if kind.cuts_the_network() => net.is_some(),
            FaultKind::PowerLossBookie => lossy_disks,
            _ => true,
        });
        if kinds.is_empty() {
            continue;
        }
        let schedule = FaultSchedule::generate(
            seed,
            Duration::from_secs(PRODUCE_SECS - 2),
            &kinds,
            metadata.brokers(),
            CLUSTER_BOOKIES,
        );
        eprintln!("fault run: {schedule}");
        let produce_secs = PRODUCE_SECS.to_string();
        let topic = format!("faults-{seed}-{}", fresh_seed());
        let verify = VerifyCommand::spawn(
            &url,
            &admin,
            &[
                "--duration-secs",
                &produce_secs,
                "--rate",
                "200",
                "--topic",
                &topic,
            ],
        )
        .unwrap();
        let full_name = format!("persistent://{VERIFY_NAMESPACE}/{topic}");
        let injected = schedule
            .run(&mut cluster, &full_name)
            .await
            .unwrap_or_else(|error| panic!("seed {seed}: fault injection failed: {error:#}"));
        let outcome = blocking(|| verify.wait(VERIFY_TIMEOUT)).unwrap_or_else(|error| {
            panic!("seed {seed} (replay: MAGNETAR_FAULT_SEEDS={seed}): {error:#}")
        });
        eprintln!("{}", outcome.stdout);
        assert_verdict(seed, &outcome);
        figures
            .entry(label(&kinds))
            .or_default()
            .add(&injected, &outcome);
    }
    eprintln!("| faults | schedules | faults injected | acked | lost | duplicated | reordered | longest unavailability |");
    for (kind, f) in &figures {
        eprintln!(
            "| {kind} | {} | {} | {} | {} | {} | {} | {:.1} s |",
            f.schedules,
            f.faults,
            f.acked,
            f.lost,
            f.duplicated,
            f.reordered,
            f.longest_unavailability_ms as f64 / 1000.0
        );
    }
}

#[test]
fn nothing_acknowledged_is_lost_under_randomized_faults() {
    run_scenario(run_schedules(Metadata::Etcd, &CI_RUNS));
}

#[test]
fn nothing_acknowledged_is_lost_under_randomized_faults_on_raft_metadata() {
    run_scenario(run_schedules(Metadata::Raft, &CI_RAFT_RUNS));
}

fn assert_verdict(seed: u64, outcome: &VerifyOutcome) {
    let replay = format!("seed {seed} (replay: MAGNETAR_FAULT_SEEDS={seed})");
    assert!(outcome.passed(), "{replay} failed:\n{}", outcome.stdout);
    assert_eq!(outcome.total("lost"), 0, "{replay}");
    assert_eq!(outcome.total("reordered"), 0, "{replay}");
    assert_eq!(
        outcome.total("duplicated"),
        0,
        "{replay}: deduplication is on"
    );
    assert!(
        outcome.number("acked") > 0,
        "{replay}: nothing acknowledged"
    );
}

fn fresh_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

#[test]
fn verification_fails_against_a_broker_that_acks_without_storing() {
    let verify_against = |standalone: &Standalone| {
        VerifyCommand::spawn(
            &standalone.pulsar_url().unwrap(),
            &standalone.http_url().unwrap(),
            &["--duration-secs", "4", "--rate", "250"],
        )
        .unwrap()
        .wait(VERIFY_TIMEOUT)
        .unwrap()
    };

    let sound = Standalone::start().unwrap();
    let outcome = verify_against(&sound);
    assert!(
        outcome.passed(),
        "a sound broker passes:\n{}",
        outcome.stdout
    );
    assert_eq!(outcome.total("lost"), 0);
    drop(sound);

    // Inherited by the next standalone only: each test runs in its own process.
    std::env::set_var(ACK_WITHOUT_STORE_EVERY, "100");
    let faulty = Standalone::start().unwrap();
    let outcome = verify_against(&faulty);
    assert!(!outcome.status.success(), "{}", outcome.stdout);
    assert_eq!(outcome.report["passed"], false);
    let acked = outcome.number("acked");
    let subscriptions = outcome.report["subscriptions"].as_array().unwrap();
    assert_eq!(subscriptions.len(), 5);
    for sub in subscriptions {
        let lost = sub["lost"].as_u64().unwrap();
        // Every 100th of the acked messages was never stored.
        assert!(
            lost >= acked / 100 - 1 && lost <= acked / 100 + 1,
            "{}: {lost} lost of {acked} acked",
            sub["name"]
        );
    }
    assert!(
        outcome.stdout.contains("verdict: FAILED"),
        "{}",
        outcome.stdout
    );
    assert!(outcome
        .stdout
        .contains("acknowledged messages never delivered"));
}

/// A cut link parts two servers and nothing else: a broker cut from the
/// metadata store loses its session (its open connection to etcd is cut
/// too, not only new ones), while the test still reaches both the broker
/// and etcd; once healed, the broker opens a new session.
#[test]
fn a_cut_link_parts_two_servers_only() {
    let Some(_net) = TestNet::enable() else {
        eprintln!("needs root, ip and iptables for a test network: skipped");
        return;
    };
    run_scenario(async {
        let cluster = BrokerCluster::start(1, &SHORT_TIMINGS).await.unwrap();
        let expired = |cluster: &BrokerCluster| {
            cluster
                .broker(0)
                .log()
                .matching(&["metadata session presumed expired"])
                .len()
        };
        assert_eq!(expired(&cluster), 0);

        let broker = broker_host(&cluster, 0).unwrap();
        let mut cut = Partition::cut_link(&broker, &metadata_ips(&cluster).unwrap()).unwrap();
        poll(
            Duration::from_secs(20),
            "the cut broker's session expires",
            || {
                let seen = expired(&cluster);
                async move { Ok((seen > 0).then_some(())) }
            },
        )
        .await;
        // Everyone else still reaches both ends.
        let metrics = blocking(|| http_get(&cluster.broker(0).http_addr()?, "/metrics")).unwrap();
        assert_eq!(metrics.status, 200, "the test reaches the cut broker");
        let store = cluster.bookies().metadata().await.unwrap();
        store
            .get("/link-cut-probe")
            .await
            .expect("the test reaches etcd while the broker cannot");

        cut.heal().unwrap();
        poll(Duration::from_secs(30), "a new session once healed", || {
            let renewed = cluster
                .broker(0)
                .log()
                .matching(&["opened a new metadata session"])
                .len();
            async move { Ok((renewed > 0).then_some(())) }
        })
        .await;
    });
}
