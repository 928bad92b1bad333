//! Cluster membership of one broker over the life of its metadata
//! sessions. While a session lives, the broker:
//!
//! - publishes its registry record, with a fresh load report every report
//!   interval;
//! - carries out the load manager's requests addressed to it;
//! - campaigns for leadership, and runs the load manager while it leads;
//! - probes its successor among the brokers and ends the session of one
//!   that is gone ([`super::liveness`]).
//!
//! When the session expires, every ownership record of this broker is gone
//! and another broker may already serve its bundles. So it drops ownership,
//! closes every loaded topic at once (clients reconnect and look up again),
//! opens a new session and registers again. `/health` answers 503 until it
//! has one. A shutting-down broker first drains: it says so in its record,
//! resigns leadership and takes no new bundle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use magnetar_metadata::election::LeaderElection;
use magnetar_metadata::session::Session;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::control::BundleControl;
use super::leader::LoadManager;
use super::liveness;
use super::load::LoadSampler;
use super::placement::Placer;
use super::registry::{BrokerInfo, BrokerRegistry, LeaderInfo, LEADER_KEY};
use super::requests;
use super::ClusterConfig;
use crate::metrics;

/// Backoff between attempts to open a new session.
const REOPEN_BACKOFF_MIN: Duration = Duration::from_millis(200);
const REOPEN_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Pause after a failed campaign before the next.
const CAMPAIGN_RETRY: Duration = Duration::from_secs(1);

/// What the membership tasks share.
pub(super) struct Member {
    pub config: ClusterConfig,
    pub registry: BrokerRegistry,
    pub control: BundleControl,
    pub placer: Arc<Placer>,
    pub info: Mutex<BrokerInfo>,
    pub has_session: AtomicBool,
    pub draining: Arc<AtomicBool>,
    pub draining_tx: watch::Sender<bool>,
}

/// The running membership loop.
pub(super) struct MemberTask {
    stop: CancellationToken,
    task: JoinHandle<Option<Session>>,
}

impl MemberTask {
    pub fn spawn(member: Arc<Member>, session: Session) -> MemberTask {
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(member, session, stop.clone()));
        MemberTask { stop, task }
    }

    /// Stops the loop; returns the live session, if any, for closing.
    pub async fn stop(self) -> Option<Session> {
        self.stop.cancel();
        self.task.await.ok().flatten()
    }
}

async fn run(
    member: Arc<Member>,
    mut session: Session,
    stop: CancellationToken,
) -> Option<Session> {
    loop {
        member.control.namespaces().on_session_renewed(session.id());
        member.has_session.store(true, Ordering::Release);
        let expired = tokio::select! {
            _ = session.expired() => true,
            _ = stop.cancelled() => false,
            _ = serve_session(&member, &session) => false,
        };
        if !expired {
            return Some(session);
        }
        member.has_session.store(false, Ordering::Release);
        metrics::LB_LEADER.set(0);
        let lost = member.control.namespaces().on_session_lost();
        let closed = member.control.topics().close_all().await;
        tracing::error!(
            bundles = lost.len(),
            topics = closed,
            "metadata session expired: closed every topic, opening a new session"
        );
        let stale = session;
        session = reopen(&member, &stop).await?;
        tracing::info!(session = session.id(), "opened a new metadata session");
        // The old session is presumed expired, yet the store may still hold
        // it: etcd restores leases after a restart with a fresh TTL. Every
        // key it owned is given up already, so revoke it now rather than
        // leave its bundles "in transition" for one more TTL.
        let stale_id = stale.id();
        if let Err(error) = stale.close().await {
            tracing::info!(session = stale_id, %error, "revoking the old session failed; it expires by itself");
        }
    }
}

/// Opens a new session, retrying with backoff; `None` when stopped first.
async fn reopen(member: &Member, stop: &CancellationToken) -> Option<Session> {
    let mut backoff = REOPEN_BACKOFF_MIN;
    loop {
        let opened = tokio::select! {
            _ = stop.cancelled() => return None,
            opened = Session::open(member.registry.metadata().clone(), member.config.session_ttl) => opened,
        };
        match opened {
            Ok(session) => return Some(session),
            Err(error) => {
                tracing::warn!(%error, "opening a metadata session failed; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return None,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(REOPEN_BACKOFF_MAX);
            }
        }
    }
}

/// Everything a broker does while `session` lives; never returns.
async fn serve_session(member: &Arc<Member>, session: &Session) {
    let me = member.info.lock().broker_id.clone();
    tokio::join!(
        report(member, session),
        serve_requests(member),
        lead(member, session),
        liveness::watch_successor(
            &member.registry,
            member.config.peer_probe_interval,
            &me,
            session.id()
        )
    );
}

/// Publishes the registry record now and then every report interval.
async fn report(member: &Member, session: &Session) {
    let mut sampler = LoadSampler::new(
        Arc::clone(member.control.namespaces()),
        Arc::clone(member.control.topics()),
    );
    let mut draining = member.draining_tx.subscribe();
    loop {
        let load = sampler.sample().await;
        let info = {
            let mut info = member.info.lock();
            info.load = load;
            info.session = session.id();
            info.draining = member.draining.load(Ordering::Acquire);
            info.clone()
        };
        if let Err(error) = member.registry.publish(&info, session.id()).await {
            tracing::warn!(%error, "publishing the load report failed");
        }
        // A broker that starts draining says so at once.
        tokio::select! {
            _ = tokio::time::sleep(member.config.report_interval) => {}
            _ = draining.changed() => {}
        }
    }
}

async fn serve_requests(member: &Member) {
    let me = member.info.lock().broker_id.clone();
    loop {
        if let Err(error) =
            requests::serve_pending(member.registry.metadata(), &me, &member.control).await
        {
            tracing::debug!(%error, "reading load-manager requests failed");
        }
        tokio::time::sleep(member.config.request_poll_interval).await;
    }
}

/// Campaigns, and runs the load manager while leading, until draining.
async fn lead(member: &Member, session: &Session) {
    let election = LeaderElection::new(member.registry.metadata().clone());
    let value = {
        let info = member.info.lock();
        LeaderInfo {
            broker_id: info.broker_id.clone(),
            service_url: info.web_service_url.clone(),
        }
    };
    let value = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
    let mut draining = member.draining_tx.subscribe();
    loop {
        if *draining.borrow() {
            return std::future::pending().await;
        }
        let campaign = tokio::select! {
            campaign = election.campaign(LEADER_KEY, value.clone(), session) => campaign,
            _ = draining.wait_for(|d| *d) => continue,
        };
        let leadership = match campaign {
            Ok(leadership) => leadership,
            Err(error) => {
                tracing::debug!(%error, "leader campaign failed; retrying");
                tokio::time::sleep(CAMPAIGN_RETRY).await;
                continue;
            }
        };
        metrics::LB_LEADER.set(1);
        tracing::info!("this broker leads the load manager");
        let manager = LoadManager::new(
            member.config.load_manager.clone(),
            member.registry.clone(),
            member.control.namespaces().policies().clone(),
            Arc::clone(&member.placer),
        );
        let resign = tokio::select! {
            _ = leadership.lost() => false,
            _ = manager.run(session.id()) => false,
            _ = draining.wait_for(|d| *d) => true,
        };
        metrics::LB_LEADER.set(0);
        if resign {
            if let Err(error) = leadership.resign().await {
                tracing::warn!(%error, "resigning leadership failed");
            }
        }
    }
}
