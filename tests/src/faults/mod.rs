//! Seeded fault schedules and their injection into a [`BrokerCluster`]:
//! kill -9 and restart, SIGSTOP and SIGCONT of brokers, bookies and the
//! metadata store (etcd, or a Raft node); network partitions of a broker or a bookie from
//! everyone, and of the link between a broker and one bookie, the
//! metadata store, another broker or the proxy, or between two bookies
//! (on the test network of [`crate::netns`]); a bookie's disk filling up;
//! and a bookie's power lost. One fault at a time, each healed before the
//! next.
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

use crate::cluster::BrokerCluster;
use crate::wait::blocking;

mod inject;

pub use inject::{broker_host, broker_ip, metadata_ips};
use inject::{heal, inject};

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
    /// A broker that reaches only the metadata store and the bookies
    /// ([`crate::partition`]): alive, in the metadata store and owning its
    /// bundles, but out of reach of clients, the proxy and other brokers.
    IsolateBroker,
    /// A bookie that reaches only the metadata store: registered, but
    /// unreachable.
    IsolateBookie,
    /// kill -9 of the metadata store (etcd, or the one node of a Raft
    /// group), restarted on its data and ports when healed.
    KillMetadata,
    /// SIGSTOP of the metadata store, SIGCONT when healed.
    PauseMetadata,
    /// The link between a broker and one bookie cut, both ways; each
    /// still reaches everyone else.
    CutBrokerFromBookie,
    /// The link between a broker and the metadata store cut: its session
    /// runs out while clients, bookies and the other brokers still reach
    /// it.
    CutBrokerFromMetadata,
    /// The link between two brokers cut.
    CutBrokerFromBroker,
    /// A bookie's power lost: kill -9, and every write to its disk not yet
    /// fsynced dropped; started again when healed. Needs bookies on lossy
    /// disks ([`crate::lossy_fs`]).
    PowerLossBookie,
    /// The link between a broker and the proxy cut: the proxy's clients
    /// lose that broker's topics while it serves everyone else.
    CutProxyFromBroker,
    /// The link between two bookies cut (what recovery and re-replication
    /// read from the other bookies).
    CutBookieFromBookie,
}

impl FaultKind {
    pub const ALL: [FaultKind; 15] = [
        FaultKind::KillBroker,
        FaultKind::PauseBroker,
        FaultKind::KillBookie,
        FaultKind::PauseBookie,
        FaultKind::FillBookieDisk,
        FaultKind::IsolateBroker,
        FaultKind::IsolateBookie,
        FaultKind::KillMetadata,
        FaultKind::PauseMetadata,
        FaultKind::CutBrokerFromBookie,
        FaultKind::CutBrokerFromMetadata,
        FaultKind::CutBrokerFromBroker,
        FaultKind::PowerLossBookie,
        FaultKind::CutProxyFromBroker,
        FaultKind::CutBookieFromBookie,
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
            FaultKind::KillMetadata => "kill -9 metadata",
            FaultKind::PauseMetadata => "SIGSTOP metadata",
            FaultKind::CutBrokerFromBookie => "broker cut from a bookie",
            FaultKind::CutBrokerFromMetadata => "broker cut from metadata",
            FaultKind::CutBrokerFromBroker => "broker cut from a broker",
            FaultKind::PowerLossBookie => "bookie power loss",
            FaultKind::CutProxyFromBroker => "broker cut from the proxy",
            FaultKind::CutBookieFromBookie => "bookie cut from a bookie",
        }
    }

    /// Whether the fault's target is a broker (else a bookie, or the one
    /// metadata store).
    fn on_broker(self) -> bool {
        matches!(
            self,
            FaultKind::KillBroker
                | FaultKind::PauseBroker
                | FaultKind::IsolateBroker
                | FaultKind::CutBrokerFromBookie
                | FaultKind::CutBrokerFromMetadata
                | FaultKind::CutBrokerFromBroker
                | FaultKind::CutProxyFromBroker
        )
    }

    /// Whether the fault hits the one metadata store (no target to draw).
    pub fn on_metadata(self) -> bool {
        matches!(self, FaultKind::KillMetadata | FaultKind::PauseMetadata)
    }

    /// Whether the fault cuts the network (a test network of
    /// [`crate::netns`] needed).
    pub fn cuts_the_network(self) -> bool {
        matches!(
            self,
            FaultKind::IsolateBroker
                | FaultKind::IsolateBookie
                | FaultKind::CutBrokerFromBookie
                | FaultKind::CutBrokerFromMetadata
                | FaultKind::CutBrokerFromBroker
                | FaultKind::CutProxyFromBroker
                | FaultKind::CutBookieFromBookie
        )
    }

    /// How many processes the fault's other end is drawn from: the bookies
    /// or the other brokers; 0 when there is no other end to choose.
    fn peers(self, brokers: usize, bookies: usize) -> usize {
        match self {
            FaultKind::CutBrokerFromBookie => bookies,
            FaultKind::CutBrokerFromBroker => brokers.saturating_sub(1),
            FaultKind::CutBookieFromBookie => bookies.saturating_sub(1),
            _ => 0,
        }
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
    /// The other end of a cut link: a bookie's index, or a draw among the
    /// brokers other than the target (0 is the first broker after it).
    pub peer: usize,
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
            let peers = kind.peers(brokers, bookies);
            let peer = if peers > 0 {
                rng.gen_range(0..peers)
            } else {
                0
            };
            let fault = Fault {
                kind,
                target,
                peer,
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
            let partition = inject(cluster, fault.kind, target, fault.peer)
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
            let mut target = match fault.target {
                Target::Index(index) => format!("#{index}"),
                Target::TopicOwner => "owning the topic".to_string(),
            };
            if fault.kind.peers(usize::MAX, usize::MAX) > 0 {
                target.push_str(&format!(" and #{}", fault.peer));
            }
            if fault.kind.on_metadata() {
                target = "once".to_string();
            }
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
        let schedule = FaultSchedule::generate(7, Duration::from_secs(240), &FaultKind::ALL, 2, 3);
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
            assert!(fault.at < Duration::from_secs(240));
            let peers = fault.kind.peers(2, 3);
            assert!(fault.peer < peers.max(1), "{fault:?}");
        }
        assert!(
            schedule.faults.iter().any(|f| f.kind.peers(2, 3) > 0),
            "a long mixed schedule cuts some link"
        );
        let only =
            FaultSchedule::generate(7, Duration::from_secs(60), &[FaultKind::KillBookie], 2, 3);
        assert!(only.faults.iter().all(|f| f.kind == FaultKind::KillBookie));
    }
}
