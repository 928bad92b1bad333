//! Injecting one fault into a [`BrokerCluster`] and healing it: signals
//! and restarts of processes, partitions and cut links (by address, on the
//! test network of [`crate::netns`]), a full disk and a power loss.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use magnetar_metadata::testing::EtcdServer;

use crate::bookies::BookieProcess;
use crate::cluster::BrokerCluster;
use crate::faults::FaultKind;
use crate::http::http_get;
use crate::netns::Host;
use crate::partition::Partition;
use crate::process::{signal_pid, MagnetarProcess};
use crate::raft::RAFT_START_TIMEOUT;
use crate::wait::{blocking, poll};

/// How long a bookie whose disk was freed may take to become writable (a
/// read-only bookie checks its disk every second).
const WRITABLE_AGAIN: Duration = Duration::from_secs(30);

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

/// The address of a `host:port` or `scheme://host:port` server.
fn ip_of(address: &str) -> Result<Ipv4Addr> {
    let host_port = address.split_once("://").map_or(address, |(_, rest)| rest);
    let host = host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host);
    host.parse()
        .with_context(|| format!("no IPv4 address in {address}"))
}

/// The network namespace of the server at `address`.
fn host_of(address: &str) -> Result<Arc<Host>> {
    let ip = ip_of(address)?;
    Host::at(IpAddr::V4(ip)).with_context(|| {
        format!("{address} is not on a test network: netns::TestNet::enable() first")
    })
}

/// The address of broker `index`.
pub fn broker_ip(cluster: &BrokerCluster, index: usize) -> Result<Ipv4Addr> {
    ip_of(&cluster.broker_id(index)?)
}

/// The addresses of the metadata store: every host its URL names
/// (`etcd://host:port,host:port/prefix`, `raft://host:port,...`).
pub fn metadata_ips(cluster: &BrokerCluster) -> Result<Vec<Ipv4Addr>> {
    let url = cluster.metadata_url();
    let hosts = url.split_once("://").map_or(url, |(_, rest)| rest);
    let hosts = hosts.split('/').next().unwrap_or(hosts);
    hosts.split(',').map(ip_of).collect()
}

/// Broker `index`'s namespace, to cut inside.
pub fn broker_host(cluster: &BrokerCluster, index: usize) -> Result<Arc<Host>> {
    host_of(&cluster.broker_id(index)?)
}

/// The cluster's own metadata server, for the faults that hit it: its
/// etcd, or the one node of its Raft group.
enum MetadataServer<'a> {
    Etcd(&'a mut EtcdServer),
    Raft(&'a mut MagnetarProcess),
}

fn metadata_server(cluster: &mut BrokerCluster) -> Result<MetadataServer<'_>> {
    let bookies = cluster.bookies_mut();
    if bookies.etcd().is_some() {
        return bookies
            .etcd_mut()
            .map(MetadataServer::Etcd)
            .context("no etcd");
    }
    bookies
        .raft_mut()
        .and_then(|group| group.nodes.first_mut())
        .map(MetadataServer::Raft)
        .context("the cluster's metadata store is neither an etcd nor a Raft group of its own")
}

fn signal_metadata(cluster: &mut BrokerCluster, signal: &str) -> Result<()> {
    match metadata_server(cluster)? {
        MetadataServer::Etcd(etcd) => {
            signal_pid(etcd.pid().context("etcd is not running")?, signal)
        }
        MetadataServer::Raft(node) => node.signal(signal),
    }
}

/// Injects a fault; a partition is returned to be healed later.
pub(super) fn inject(
    cluster: &mut BrokerCluster,
    kind: FaultKind,
    target: usize,
    peer: usize,
) -> Result<Option<Partition>> {
    tracing::info!(kind = kind.name(), target, peer, "inject");
    match kind {
        FaultKind::CutBrokerFromBookie => {
            let bookie = ip_of(&bookie_id(cluster, peer)?)?;
            return Partition::cut_link(&broker_host(cluster, target)?, &[bookie]).map(Some);
        }
        FaultKind::CutBrokerFromMetadata => {
            let metadata = metadata_ips(cluster)?;
            return Partition::cut_link(&broker_host(cluster, target)?, &metadata).map(Some);
        }
        FaultKind::CutBrokerFromBroker => {
            let other = (target + 1 + peer) % cluster.len().max(1);
            anyhow::ensure!(other != target, "one broker cannot be cut from itself");
            let other = broker_ip(cluster, other)?;
            return Partition::cut_link(&broker_host(cluster, target)?, &[other]).map(Some);
        }
        FaultKind::CutProxyFromBroker => {
            let proxies = cluster.proxy_ips();
            anyhow::ensure!(
                !proxies.is_empty(),
                "the cluster has no proxy on a test network"
            );
            return Partition::cut_link(&broker_host(cluster, target)?, &proxies).map(Some);
        }
        FaultKind::CutBookieFromBookie => {
            let bookies = cluster.bookies().ids().len();
            let other = (target + 1 + peer) % bookies.max(1);
            anyhow::ensure!(other != target, "one bookie cannot be cut from itself");
            let other = ip_of(&bookie_id(cluster, other)?)?;
            let host = host_of(&bookie_id(cluster, target)?)?;
            return Partition::cut_link(&host, &[other]).map(Some);
        }
        FaultKind::IsolateBroker => {
            // It keeps its session and its bookies: alive and owning its
            // bundles, but out of reach of clients, the proxy and the
            // other brokers.
            let mut keep = metadata_ips(cluster)?;
            for id in cluster.bookies().ids() {
                keep.push(ip_of(&id)?);
            }
            return Partition::isolate(&broker_host(cluster, target)?, &keep).map(Some);
        }
        FaultKind::IsolateBookie => {
            // Registered (it keeps its session), but out of reach of every
            // ledger writer and reader.
            let keep = metadata_ips(cluster)?;
            let host = host_of(&bookie_id(cluster, target)?)?;
            return Partition::isolate(&host, &keep).map(Some);
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
        FaultKind::KillMetadata => match metadata_server(cluster)? {
            MetadataServer::Etcd(etcd) => {
                etcd.stop();
                Ok(())
            }
            MetadataServer::Raft(node) => node.kill9(),
        },
        FaultKind::PowerLossBookie => {
            let restored = bookie(cluster, target)?.power_loss()?;
            tracing::info!(bookie = target, restored, "power lost");
            Ok(())
        }
        FaultKind::PauseMetadata => signal_metadata(cluster, "-STOP"),
        FaultKind::IsolateBroker
        | FaultKind::IsolateBookie
        | FaultKind::CutBrokerFromBookie
        | FaultKind::CutBrokerFromMetadata
        | FaultKind::CutBrokerFromBroker
        | FaultKind::CutProxyFromBroker
        | FaultKind::CutBookieFromBookie => Ok(()),
    }
    .map(|()| None)
}

pub(super) async fn heal(
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
        FaultKind::KillMetadata => match metadata_server(cluster)? {
            MetadataServer::Etcd(etcd) => etcd.restart().await.context("restart etcd"),
            MetadataServer::Raft(node) => {
                tokio::task::block_in_place(|| node.restart(RAFT_START_TIMEOUT))
                    .context("restart the metadata node")
            }
        },
        FaultKind::PauseMetadata => signal_metadata(cluster, "-CONT"),
        FaultKind::PowerLossBookie => bookie(cluster, target)?.restart().await,
        FaultKind::IsolateBroker
        | FaultKind::IsolateBookie
        | FaultKind::CutBrokerFromBookie
        | FaultKind::CutBrokerFromMetadata
        | FaultKind::CutBrokerFromBroker
        | FaultKind::CutProxyFromBroker
        | FaultKind::CutBookieFromBookie => Ok(()),
    }
}
