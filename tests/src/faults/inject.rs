//! Injecting one fault into a [`BrokerCluster`] and healing it: signals
//! and restarts of processes, partitions and cut links, a full disk and a
//! power loss.

use std::time::Duration;

use anyhow::{Context, Result};
use magnetar_metadata::testing::EtcdServer;

use crate::bookies::BookieProcess;
use crate::cluster::BrokerCluster;
use crate::faults::FaultKind;
use crate::http::http_get;
use crate::net_group;
use crate::partition::{LinkEnd, Partition};
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

/// The port of a `host:port` or `scheme://host:port` address.
fn port_of(address: &str) -> Result<u16> {
    address
        .rsplit(':')
        .next()
        .and_then(|port| port.trim_end_matches('/').parse().ok())
        .with_context(|| format!("no port in {address}"))
}

/// Broker `index` as one end of a link: its control group and ports.
fn broker_end(cluster: &BrokerCluster, index: usize) -> Result<LinkEnd> {
    let pid = cluster
        .broker(index)
        .process
        .pid()
        .with_context(|| format!("broker {index} is not running"))?;
    let group = net_group::group_of(pid).with_context(|| {
        format!("broker {index} (pid {pid}) has no control group: net_group::enable() first")
    })?;
    Ok(LinkEnd {
        group: Some(group),
        ports: vec![
            port_of(&cluster.pulsar_url(index)?)?,
            port_of(&cluster.broker_id(index)?)?,
        ],
    })
}

/// The metadata store as one end of a link: every port its URL names
/// (`etcd://host:port,host:port/prefix`, `raft://host:port,...`).
fn metadata_end(cluster: &BrokerCluster) -> Result<LinkEnd> {
    let url = cluster.metadata_url();
    let hosts = url.split_once("://").map_or(url, |(_, rest)| rest);
    let hosts = hosts.split('/').next().unwrap_or(hosts);
    let ports = hosts.split(',').map(port_of).collect::<Result<Vec<_>>>()?;
    Ok(LinkEnd { group: None, ports })
}

/// The cluster's etcd, for the faults that hit it.
fn etcd(cluster: &mut BrokerCluster) -> Result<&mut EtcdServer> {
    cluster
        .bookies_mut()
        .etcd_mut()
        .context("the cluster's metadata store is not an etcd of its own")
}

fn signal_etcd(cluster: &mut BrokerCluster, signal: &str) -> Result<()> {
    let pid = etcd(cluster)?.pid().context("etcd is not running")?;
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .context("run kill")?;
    anyhow::ensure!(status.success(), "kill {signal} {pid}: {status}");
    Ok(())
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
            let bookie = LinkEnd {
                group: None,
                ports: vec![port_of(&bookie_id(cluster, peer)?)?],
            };
            return Partition::cut_link(&broker_end(cluster, target)?, &bookie).map(Some);
        }
        FaultKind::CutBrokerFromMetadata => {
            let metadata = metadata_end(cluster)?;
            return Partition::cut_link(&broker_end(cluster, target)?, &metadata).map(Some);
        }
        FaultKind::CutBrokerFromBroker => {
            let other = (target + 1 + peer) % cluster.len().max(1);
            anyhow::ensure!(other != target, "one broker cannot be cut from itself");
            let (a, b) = (broker_end(cluster, target)?, broker_end(cluster, other)?);
            return Partition::cut_link(&a, &b).map(Some);
        }
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
        FaultKind::KillMetadata => {
            etcd(cluster)?.stop();
            Ok(())
        }
        FaultKind::PowerLossBookie => {
            let restored = bookie(cluster, target)?.power_loss()?;
            tracing::info!(bookie = target, restored, "power lost");
            Ok(())
        }
        FaultKind::PauseMetadata => signal_etcd(cluster, "-STOP"),
        FaultKind::IsolateBroker
        | FaultKind::IsolateBookie
        | FaultKind::CutBrokerFromBookie
        | FaultKind::CutBrokerFromMetadata
        | FaultKind::CutBrokerFromBroker => Ok(()),
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
        FaultKind::KillMetadata => etcd(cluster)?.restart().await.context("restart etcd"),
        FaultKind::PauseMetadata => signal_etcd(cluster, "-CONT"),
        FaultKind::PowerLossBookie => bookie(cluster, target)?.restart().await,
        FaultKind::IsolateBroker
        | FaultKind::IsolateBookie
        | FaultKind::CutBrokerFromBookie
        | FaultKind::CutBrokerFromMetadata
        | FaultKind::CutBrokerFromBroker => Ok(()),
    }
}
