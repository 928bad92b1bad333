//! Seeded fault schedules and their injection into a [`BrokerCluster`]:
//! kill -9 and restart, SIGSTOP and SIGCONT, and network partitions of
//! brokers and bookies, and a bookie's disk filling up; one fault at a
//! time, each healed before the next.
//!
//! A schedule is a pure function of its seed and its span, so a failing
//! run is replayed by its seed. Timing is only ever a pacing choice: what
//! a test asserts afterwards (the verify verdict) holds whatever the
//! moment each fault lands.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::bookies::BookieProcess;
use crate::cluster::BrokerCluster;
use crate::http::http_get;
use crate::partition::Partition;
use crate::wait::{blocking, poll};

/// How long a bookie whose disk was freed may take to become writable (a
/// read-only bookie checks its disk every second).
const WRITABLE_AGAIN: Duration = Duration::from_secs(30);

/// What can go wrong with one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// kill -9 of a broker, restarted when healed (on new ports).
    KillBroker,
    /// SIGSTOP of a broker, SIGCONT when healed.
    PauseBroker,
    /// kill -9 of a bookie, restarted on its port and data when healed.
    KillBookie,
    /// SIGSTOP of a bookie, SIGCONT when healed.
    PauseBookie,
    /// A bookie's disk filled to the last byte, freed when healed. Needs
    /// bookies on small disks ([`crate::small_disk`]).
    FillBookieDisk,
    /// A broker's ports cut off ([`crate::partition`]): alive, in the
    /// metadata store and owning its bundles, but unreachable.
    IsolateBroker,
    /// A bookie's port cut off: registered, but unreachable.
    IsolateBookie,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        FaultKind::KillBroker,
        FaultKind::PauseBroker,
        FaultKind::KillBookie,
        FaultKind::PauseBookie,
        FaultKind::FillBookieDisk,
        FaultKind::IsolateBroker,
        FaultKind::IsolateBookie,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::KillBroker => "kill -9 broker",
            FaultKind::PauseBroker => "SIGSTOP broker",
            FaultKind::KillBookie => "kill -9 bookie",
            FaultKind::PauseBookie => "SIGSTOP bookie",
            FaultKind::FillBookieDisk => "full bookie disk",
            FaultKind::IsolateBroker => "partitioned broker",
            FaultKind::IsolateBookie => "partitioned bookie",
        }
    }

    fn on_broker(self) -> bool {
        matches!(
            self,
            FaultKind::KillBroker | FaultKind::PauseBroker | FaultKind::IsolateBroker
        )
    }
}

/// Which process a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// By index among the brokers or the bookies.
    Index(usize),
    /// The broker that owns the run's topic when the fault lands (looked
    /// up then; broker 0 when the lookup fails).
    TopicOwner,
}

/// One fault: what, on which process, when after the schedule starts, and
/// for how long before it is healed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub target: Target,
    pub at: Duration,
    pub hold: Duration,
}

/// The faults of one run, in time order, never overlapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSchedule {
    pub seed: u64,
    pub faults: Vec<Fault>,
}

impl FaultSchedule {
    /// Faults of `kinds` on `brokers` brokers and `bookies` bookies, each
    /// held 1–5 s with 1–3 s of calm between them, starting within `span`.
    /// Half the broker faults hit the topic's owner, whichever it is.
    pub fn generate(
        seed: u64,
        span: Duration,
        kinds: &[FaultKind],
        brokers: usize,
        bookies: usize,
    ) -> FaultSchedule {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut faults = Vec::new();
        let mut at = Duration::from_millis(rng.gen_range(1_000..3_000));
        while at < span && !kinds.is_empty() {
            let kind = kinds[rng.gen_range(0..kinds.len())];
            let targets = if kind.on_broker() { brokers } else { bookies };
            let index = rng.gen_range(0..targets.max(1));
            let target = if kind.on_broker() && rng.gen_bool(0.5) {
                Target::TopicOwner
            } else {
                Target::Index(index)
            };
            let fault = Fault {
                kind,
                target,
                at,
                hold: Duration::from_millis(rng.gen_range(1_000..5_000)),
            };
            at += fault.hold + Duration::from_millis(rng.gen_range(1_000..3_000));
            faults.push(fault);
        }
        FaultSchedule { seed, faults }
    }

    /// Injects each fault at its time and heals it after its hold; `topic`
    /// resolves [`Target::TopicOwner`]. Returns how many of each kind were
    /// injected.
    pub async fn run(
        &self,
        cluster: &mut BrokerCluster,
        topic: &str,
    ) -> Result<BTreeMap<FaultKind, u32>> {
        let start = Instant::now();
        let mut injected = BTreeMap::new();
        for fault in &self.faults {
            tokio::time::sleep_until(start + fault.at).await;
            let target = match fault.target {
                Target::Index(index) => index,
                Target::TopicOwner => blocking(|| cluster.owner_index(topic)).unwrap_or(0),
            };
            let partition = inject(cluster, fault.kind, target)
                .with_context(|| format!("inject {fault:?} on #{target}"))?;
            *injected.entry(fault.kind).or_insert(0) += 1;
            tokio::time::sleep(fault.hold).await;
            heal(cluster, fault.kind, target, partition)
                .await
                .with_context(|| format!("heal {fault:?} on #{target}"))?;
        }
        Ok(injected)
    }
}

impl fmt::Display for FaultSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed {}:", self.seed)?;
        for fault in &self.faults {
            let target = match fault.target {
                Target::Index(index) => format!("#{index}"),
                Target::TopicOwner => "owning the topic".to_string(),
            };
            write!(
                f,
                " [{:.1}s {} {target} for {:.1}s]",
                fault.at.as_secs_f64(),
                fault.kind.name(),
                fault.hold.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

fn bookie_id(cluster: &BrokerCluster, target: usize) -> Result<String> {
    cluster
        .bookies()
        .ids()
        .get(target)
        .cloned()
        .with_context(|| format!("no bookie #{target}"))
}

/// Bookie `target` of the cluster, by index.
fn bookie(cluster: &mut BrokerCluster, target: usize) -> Result<&mut BookieProcess> {
    let id = bookie_id(cluster, target)?;
    cluster.bookies_mut().bookie_mut(&id)
}

/// The port of a `host:port` or `scheme://host:port` address.
fn port_of(address: &str) -> Result<u16> {
    address
        .rsplit(':')
        .next()
        .and_then(|port| port.trim_end_matches('/').parse().ok())
        .with_context(|| format!("no port in {address}"))
}

/// Injects a fault; a partition is returned to be healed later.
fn inject(
    cluster: &mut BrokerCluster,
    kind: FaultKind,
    target: usize,
) -> Result<Option<Partition>> {
    tracing::info!(kind = kind.name(), target, "inject");
    match kind {
        FaultKind::IsolateBroker => {
            let ports = [
                port_of(&cluster.pulsar_url(target)?)?,
                port_of(&cluster.broker_id(target)?)?,
            ];
            return Partition::cut(&ports).map(Some);
        }
        FaultKind::IsolateBookie => {
            let port = port_of(&bookie_id(cluster, target)?)?;
            return Partition::cut(&[port]).map(Some);
        }
        _ => {}
    }
    match kind {
        FaultKind::KillBroker => cluster.kill9(target),
        FaultKind::PauseBroker => cluster.pause(target),
        FaultKind::KillBookie => bookie(cluster, target)?.kill9(),
        FaultKind::PauseBookie => bookie(cluster, target)?.pause(),
        FaultKind::FillBookieDisk => {
            let id = bookie_id(cluster, target)?;
            let bookie = bookie(cluster, target)?;
            let disk = bookie.disk().context("the bookie is not on a small disk")?;
            let filled = disk.fill()?;
            tracing::info!(bookie = %id, filled, "disk full");
            Ok(())
        }
        FaultKind::IsolateBroker | FaultKind::IsolateBookie => Ok(()),
    }
    .map(|()| None)
}

async fn heal(
    cluster: &mut BrokerCluster,
    kind: FaultKind,
    target: usize,
    partition: Option<Partition>,
) -> Result<()> {
    tracing::info!(kind = kind.name(), target, "heal");
    if let Some(mut partition) = partition {
        return partition.heal();
    }
    match kind {
        FaultKind::KillBroker => cluster.restart(target).await,
        FaultKind::PauseBroker => cluster.resume(target),
        FaultKind::KillBookie => bookie(cluster, target)?.restart().await,
        FaultKind::PauseBookie => bookie(cluster, target)?.resume(),
        FaultKind::FillBookieDisk => {
            let bookie = bookie(cluster, target)?;
            bookie
                .disk()
                .context("the bookie is not on a small disk")?
                .free()?;
            // The bookie notices the room at its next disk check; until then
            // it is read-only, and with no spare bookie no new ledger can be
            // made. Healed means writable again.
            let http = bookie.http_addr()?;
            poll(WRITABLE_AGAIN, "the bookie is writable again", || {
                let http = http.clone();
                async move {
                    let health = blocking(|| http_get(&http, "/health"))?;
                    Ok((health.status == 200 && health.body.trim() == "ok").then_some(()))
                }
            })
            .await;
            Ok(())
        }
        FaultKind::IsolateBroker | FaultKind::IsolateBookie => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_schedule() {
        let span = Duration::from_secs(60);
        let one = FaultSchedule::generate(42, span, &FaultKind::ALL, 2, 3);
        assert_eq!(
            one,
            FaultSchedule::generate(42, span, &FaultKind::ALL, 2, 3)
        );
        assert_ne!(
            one.faults,
            FaultSchedule::generate(43, span, &FaultKind::ALL, 2, 3).faults
        );
    }

    #[test]
    fn faults_stay_in_range_and_never_overlap() {
        let schedule = FaultSchedule::generate(7, Duration::from_secs(120), &FaultKind::ALL, 2, 3);
        assert!(schedule.faults.len() >= 10);
        for pair in schedule.faults.windows(2) {
            assert!(pair[0].at + pair[0].hold < pair[1].at);
        }
        for fault in &schedule.faults {
            let targets = if fault.kind.on_broker() { 2 } else { 3 };
            match fault.target {
                Target::Index(index) => assert!(index < targets, "{fault:?}"),
                Target::TopicOwner => assert!(fault.kind.on_broker(), "{fault:?}"),
            }
            assert!(fault.at < Duration::from_secs(120));
        }
        let only =
            FaultSchedule::generate(7, Duration::from_secs(60), &[FaultKind::KillBookie], 2, 3);
        assert!(only.faults.iter().all(|f| f.kind == FaultKind::KillBookie));
    }
}
