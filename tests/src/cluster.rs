//! A multi-broker cluster on loopback (or on a test network, a network
//! namespace per process, see [`crate::netns`]): one metadata service (its
//! own etcd, or an embedded Raft group of one voter), three bookies, and
//! `magnetar broker` processes sharing them, each with ledgers at E=3,
//! Qw=3, Qa=2.
//!
//! This module owns the processes: starting brokers (all with the same
//! flags, plus per-broker ones), and kill -9, SIGSTOP/SIGCONT, SIGTERM and
//! restart of one broker by its index. A broker's id is its HTTP address
//! (`host:port`). The admin queries on the cluster (lookup, ownership,
//! leader, bundles) are in [`crate::cluster_admin`]. On drop the brokers are
//! killed first, then the bookies, then the metadata service.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use crate::bookies::BookieCluster;
use crate::broker::{BrokerProcess, Quorum};
use crate::netns::{bind_ip, Host};
use crate::process::MagnetarProcess;
use crate::raft::RaftGroup;
use crate::wait::blocking;

/// Ledger quorum of every broker: no spare bookie.
pub const CLUSTER_QUORUM: Quorum = (3, 3, 2);
/// Bookies in the cluster.
pub const CLUSTER_BOOKIES: usize = 3;
/// The session TTL of [`SHORT_TIMINGS`] (`--session-timeout-ms`).
pub const SHORT_SESSION: Duration = Duration::from_millis(3_000);
/// Broker flags that keep cluster scenarios short: a 3 s session, load
/// reports every second, shedding every 5 s.
pub const SHORT_TIMINGS: [&str; 6] = [
    "--session-timeout-ms",
    "3000",
    "--load-report-interval-ms",
    "1000",
    "--shedding-interval-ms",
    "5000",
];
/// How long a proxy may take to become ready.
pub const PROXY_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a broker may take to exit after SIGTERM (it unloads its bundles).
pub const TERMINATE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the harness did to a broker last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerState {
    Running,
    /// SIGSTOPped: its sockets accept connections but nothing answers.
    Paused,
    /// Killed or terminated.
    Stopped,
}

struct Member {
    broker: BrokerProcess,
    state: BrokerState,
}

/// Brokers, bookies and a metadata service.
pub struct BrokerCluster {
    // Declared before `bookies`: brokers are killed first on drop.
    members: Vec<Member>,
    bookies: BookieCluster,
    shared_args: Vec<String>,
    /// Where the proxies started by [`BrokerCluster::start_proxy`] run,
    /// when the test has a network.
    proxy_hosts: Vec<Arc<Host>>,
}

impl BrokerCluster {
    /// Starts etcd, three bookies and `brokers` brokers, each with
    /// `extra_args` (e.g. short session and shedding timings).
    pub async fn start(brokers: usize, extra_args: &[&str]) -> Result<BrokerCluster> {
        let bookies = BookieCluster::start(CLUSTER_BOOKIES)
            .await
            .context("start etcd and the bookies")?;
        BrokerCluster::with_bookies(bookies, brokers, extra_args).await
    }

    /// As [`BrokerCluster::start`], on one `magnetar metadata` voter
    /// (`raft://`) instead of etcd.
    pub async fn start_on_raft(brokers: usize, extra_args: &[&str]) -> Result<BrokerCluster> {
        let group = blocking(|| RaftGroup::start(1)).context("start a metadata node")?;
        group.wait_for_leader().await?;
        let url = group.url();
        let mut bookies = BookieCluster::with_metadata(&url, group);
        bookies
            .add_bookies(CLUSTER_BOOKIES)
            .await
            .context("start the bookies")?;
        BrokerCluster::with_bookies(bookies, brokers, extra_args).await
    }

    /// Starts `brokers` brokers at the same time on `bookies`' metadata
    /// (a bookie cluster the caller built, e.g. on small disks).
    pub async fn with_bookies(
        bookies: BookieCluster,
        brokers: usize,
        extra_args: &[&str],
    ) -> Result<BrokerCluster> {
        let url_owned = bookies.metadata_url().to_string();
        let url: &str = &url_owned;
        let started = futures::future::try_join_all(
            (0..brokers).map(move |_| BrokerProcess::start(url, CLUSTER_QUORUM, extra_args)),
        )
        .await
        .context("start the brokers")?;
        Ok(BrokerCluster {
            members: started
                .into_iter()
                .map(|broker| Member {
                    broker,
                    state: BrokerState::Running,
                })
                .collect(),
            bookies,
            shared_args: extra_args.iter().map(|arg| arg.to_string()).collect(),
            proxy_hosts: Vec::new(),
        })
    }

    /// Starts a `magnetar proxy` in front of this cluster's brokers, on
    /// ephemeral ports.
    /// It runs in a network namespace of its own when the test has a
    /// network ([`crate::netns`]).
    pub fn start_proxy(&mut self) -> Result<MagnetarProcess> {
        let host = Host::next()?;
        self.proxy_hosts.extend(host.clone());
        let bind = bind_ip(host.as_ref()).to_string();
        let args = [
            "proxy",
            "--metadata",
            self.metadata_url(),
            "--bind",
            &bind,
            "--pulsar-port",
            "0",
            "--http-port",
            "0",
        ];
        MagnetarProcess::spawn_on(host, &args, None)?.wait_ready(PROXY_START_TIMEOUT)
    }

    /// The addresses of the proxies started on the test network.
    pub fn proxy_ips(&self) -> Vec<Ipv4Addr> {
        self.proxy_hosts.iter().map(|host| host.ip()).collect()
    }

    /// Starts one more broker with the shared flags; returns its index.
    pub async fn add_broker(&mut self) -> Result<usize> {
        self.add_broker_with(&[]).await
    }

    /// Starts one more broker with the shared flags and `extra_args`;
    /// returns its index.
    pub async fn add_broker_with(&mut self, extra_args: &[&str]) -> Result<usize> {
        let mut args: Vec<&str> = self.shared_args.iter().map(String::as_str).collect();
        args.extend_from_slice(extra_args);
        let broker = BrokerProcess::start(self.bookies.metadata_url(), CLUSTER_QUORUM, &args)
            .await
            .context("start a broker")?;
        self.members.push(Member {
            broker,
            state: BrokerState::Running,
        });
        Ok(self.members.len() - 1)
    }

    /// Brokers started so far, in any state.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Broker `i` (panics when there is none).
    pub fn broker(&self, i: usize) -> &BrokerProcess {
        &self.members[i].broker
    }

    pub fn broker_mut(&mut self, i: usize) -> &mut BrokerProcess {
        &mut self.members[i].broker
    }

    pub fn state(&self, i: usize) -> BrokerState {
        self.members[i].state
    }

    /// Indices of the brokers neither killed, terminated nor paused.
    pub fn live_brokers(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| self.members[i].state == BrokerState::Running)
            .collect()
    }

    /// The metadata URL every process was started with.
    pub fn metadata_url(&self) -> &str {
        self.bookies.metadata_url()
    }

    pub fn bookies(&self) -> &BookieCluster {
        &self.bookies
    }

    pub fn bookies_mut(&mut self) -> &mut BookieCluster {
        &mut self.bookies
    }

    /// The id of broker `i`: its HTTP `host:port` (a restart changes it).
    pub fn broker_id(&self, i: usize) -> Result<String> {
        self.members[i].broker.http_addr()
    }

    /// `pulsar://host:port` of broker `i`.
    pub fn pulsar_url(&self, i: usize) -> Result<String> {
        self.members[i].broker.pulsar_url()
    }

    /// `pulsar://h1:p1,h2:p2,…` naming every live broker.
    pub fn service_url(&self) -> Result<String> {
        let addrs = self
            .live_brokers()
            .into_iter()
            .map(|i| -> Result<String> {
                Ok(self.members[i]
                    .broker
                    .process
                    .ready
                    .addr("pulsar")?
                    .to_string())
            })
            .collect::<Result<Vec<String>>>()?;
        ensure!(!addrs.is_empty(), "no live broker");
        Ok(format!("pulsar://{}", addrs.join(",")))
    }

    /// The broker whose id (HTTP `host:port`) is `id`, in any state.
    pub fn index_of_id(&self, id: &str) -> Option<usize> {
        (0..self.members.len()).find(|&i| self.broker_id(i).ok().as_deref() == Some(id))
    }

    /// The broker an `http://host:port` URL (a lookup's `httpUrl`) names.
    pub fn index_of_http_url(&self, url: &str) -> Option<usize> {
        let id = url.strip_prefix("http://").unwrap_or(url);
        self.index_of_id(id.trim_end_matches('/'))
    }

    /// kill -9 of broker `i`: no unload, its session lives until its TTL.
    pub fn kill9(&mut self, i: usize) -> Result<()> {
        tracing::info!(broker = i, "kill -9");
        let member = &mut self.members[i];
        member.state = BrokerState::Stopped;
        member.broker.process.kill9()
    }

    /// SIGSTOP of broker `i`: a zombie that holds its sockets and, once it
    /// is resumed, its old view of what it owns.
    pub fn pause(&mut self, i: usize) -> Result<()> {
        ensure!(
            self.members[i].state == BrokerState::Running,
            "broker {i} is {:?}, not running",
            self.members[i].state
        );
        tracing::info!(broker = i, "SIGSTOP");
        self.signal(i, "-STOP")?;
        self.members[i].state = BrokerState::Paused;
        Ok(())
    }

    /// SIGCONT of a paused broker `i`.
    pub fn resume(&mut self, i: usize) -> Result<()> {
        ensure!(
            self.members[i].state == BrokerState::Paused,
            "broker {i} is {:?}, not paused",
            self.members[i].state
        );
        tracing::info!(broker = i, "SIGCONT");
        self.signal(i, "-CONT")?;
        self.members[i].state = BrokerState::Running;
        Ok(())
    }

    /// SIGTERM of broker `i` and a wait for its exit, which must be clean
    /// (status 0) within [`TERMINATE_TIMEOUT`].
    pub fn terminate(&mut self, i: usize) -> Result<()> {
        tracing::info!(broker = i, "SIGTERM");
        let member = &mut self.members[i];
        member.state = BrokerState::Stopped;
        let broker = &mut member.broker;
        blocking(|| broker.terminate(TERMINATE_TIMEOUT))
    }

    /// Starts broker `i` again (killed first if it runs or is paused) with
    /// the same flags, on new ephemeral ports: it comes back with a new id.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        tracing::info!(broker = i, "restart");
        let member = &mut self.members[i];
        member.state = BrokerState::Stopped;
        member.broker.restart().await?;
        member.state = BrokerState::Running;
        Ok(())
    }

    /// Sends `signal` (e.g. `-STOP`) to broker `i`.
    fn signal(&self, i: usize, signal: &str) -> Result<()> {
        self.members[i]
            .broker
            .process
            .signal(signal)
            .with_context(|| format!("broker {i}"))
    }
}
