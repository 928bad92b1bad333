//! Fast failover when a broker process dies: without it, a killed broker's
//! bundles stay unreachable until its metadata session expires (the session
//! timeout), and clients back off while they wait.
//!
//! Each broker probes one peer, its successor in the ring of broker ids,
//! every probe interval: a TCP connect to the peer's advertised Pulsar
//! address. A connect that is refused means no process listens there, so
//! the broker is gone (a paused or overloaded broker still completes the
//! handshake in its kernel; a crashed host times out instead, and then the
//! session timeout decides). After two refusals in a row the prober ends
//! the peer's session (`revoke_session`), which deletes its registration
//! and ownership records at once, and its bundles are placed again.
//!
//! Ending a live broker's session by mistake is safe: that broker handles
//! it as any session loss (drops its topics, opens a new session), and
//! ledger fencing keeps the data safe whatever the timing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use magnetar_metadata::SessionId;
use tokio::net::TcpStream;

use super::registry::{BrokerInfo, BrokerRegistry};
use crate::metrics;

/// Refusals in a row before the prober ends the peer's session.
pub const STRIKES: u32 = 2;
/// Longest wait for a probe's connect.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How often the prober reads the broker list to find its successor.
pub const PEER_REFRESH: Duration = Duration::from_secs(5);

/// The broker `me` probes: the next id after it, wrapping around.
pub fn successor<'a>(
    brokers: &'a BTreeMap<String, BrokerInfo>,
    me: &str,
) -> Option<&'a BrokerInfo> {
    let after = brokers.iter().filter(|(id, _)| id.as_str() > me);
    let before = brokers.iter().filter(|(id, _)| id.as_str() < me);
    after.chain(before).map(|(_, info)| info).next()
}

/// What one probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The peer accepted the connection (or the probe could not tell).
    Alive,
    /// Nothing listens at the peer's address.
    Refused,
}

/// Counts refusals of one peer session in a row.
#[derive(Debug, Default)]
pub struct Strikes {
    peer: Option<(String, SessionId)>,
    count: u32,
}

impl Strikes {
    /// Records a probe of `peer`; true when its session should end now.
    pub fn record(&mut self, peer: &BrokerInfo, probe: Probe) -> bool {
        let key = (peer.broker_id.clone(), peer.session);
        if self.peer.as_ref() != Some(&key) {
            self.peer = Some(key);
            self.count = 0;
        }
        match probe {
            Probe::Alive => self.count = 0,
            Probe::Refused => self.count += 1,
        }
        self.count >= STRIKES
    }
}

async fn probe(service_url: &str) -> Probe {
    let Some(address) = magnetar_proto::pulsar::service_address(service_url) else {
        return Probe::Alive;
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => Probe::Refused,
        _ => Probe::Alive,
    }
}

/// Probes `me`'s successor every `interval` while the session lives;
/// never returns (a zero interval turns probing off). The broker list is
/// read every [`PEER_REFRESH`], not at every probe, and the peer's record
/// is read again before its session is ended.
pub async fn watch_successor(
    registry: &BrokerRegistry,
    interval: Duration,
    me: &str,
    own_session: SessionId,
) {
    if interval.is_zero() {
        return std::future::pending().await;
    }
    let mut strikes = Strikes::default();
    let mut peer: Option<BrokerInfo> = None;
    let mut refreshed: Option<Instant> = None;
    loop {
        tokio::time::sleep(interval).await;
        if refreshed.is_none_or(|at| at.elapsed() >= PEER_REFRESH) {
            let Ok(brokers) = registry.brokers().await else {
                continue;
            };
            peer = successor(&brokers, me).cloned();
            refreshed = Some(Instant::now());
        }
        let Some(current) = peer.as_ref() else {
            continue;
        };
        if current.session == 0 || current.session == own_session {
            continue;
        }
        if !strikes.record(current, probe(&current.service_url).await) {
            continue;
        }
        // Re-read the list next round whatever happens here.
        refreshed = None;
        strikes = Strikes::default();
        let still_registered = matches!(
            registry.broker(&current.broker_id).await,
            Ok(Some(info)) if info.session == current.session
        );
        if !still_registered {
            continue;
        }
        match registry.metadata().revoke_session(current.session).await {
            Ok(()) => {
                metrics::PEERS_EVICTED.inc();
                tracing::warn!(broker = %current.broker_id, session = current.session, "broker refuses connections: ended its session, its bundles move");
            }
            Err(error) => {
                tracing::debug!(broker = %current.broker_id, %error, "ending a dead broker's session failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::load::LoadReport;
    use crate::cluster::registry::fixtures;

    fn with_session(id: &str, session: SessionId) -> BrokerInfo {
        let mut info = fixtures::broker(id, LoadReport::default());
        info.session = session;
        info
    }

    #[test]
    fn each_broker_probes_the_next_id_around_the_ring() {
        let brokers = fixtures::by_id(vec![
            with_session("a:1", 1),
            with_session("b:1", 2),
            with_session("c:1", 3),
        ]);
        let next = |me: &str| successor(&brokers, me).map(|b| b.broker_id.clone());
        assert_eq!(next("a:1").as_deref(), Some("b:1"));
        assert_eq!(next("b:1").as_deref(), Some("c:1"));
        assert_eq!(next("c:1").as_deref(), Some("a:1"), "wraps around");
        assert_eq!(
            next("0:1").as_deref(),
            Some("a:1"),
            "an unregistered id still has one"
        );
        let alone = fixtures::by_id(vec![with_session("a:1", 1)]);
        assert!(successor(&alone, "a:1").is_none());
    }

    #[test]
    fn two_refusals_in_a_row_of_one_session_end_it() {
        let mut strikes = Strikes::default();
        let peer = with_session("b:1", 7);
        assert!(!strikes.record(&peer, Probe::Refused));
        assert!(
            !strikes.record(&peer, Probe::Alive),
            "an answer resets the count"
        );
        assert!(!strikes.record(&peer, Probe::Refused));
        let restarted = with_session("b:1", 8);
        assert!(
            !strikes.record(&restarted, Probe::Refused),
            "a new session starts over"
        );
        assert!(strikes.record(&restarted, Probe::Refused));
    }

    #[tokio::test]
    async fn a_closed_port_is_refused_and_a_listener_is_alive() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        assert_eq!(probe(&format!("pulsar://{open}")).await, Probe::Alive);
        drop(listener);
        assert_eq!(probe(&format!("pulsar://{open}")).await, Probe::Refused);
        assert_eq!(probe("http://not-a-pulsar-url").await, Probe::Alive);
    }
}
