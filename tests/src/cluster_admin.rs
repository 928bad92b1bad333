//! Admin queries on a [`BrokerCluster`] over its brokers' HTTP ports: topic
//! lookup (which broker owns a topic), the bundles a broker owns, the
//! leader broker, the registered brokers, a namespace's bundles, and hand
//! unload and split. A query that any broker can answer goes to the live
//! brokers in turn, never to a paused one (its socket accepts but never
//! answers). Waits are bounded and panic like [`crate::wait::poll`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::Value;

use crate::cluster::{BrokerCluster, BrokerState};
use crate::http::{http_get, http_put, metric_value, redirect_target};
use crate::placement::{bundle_names, bundle_of, full_topic_name};
use crate::wait::poll;

/// The cluster name brokers register under.
pub const CLUSTER_NAME: &str = "standalone";
/// Counter of the bundles the load manager unloaded (sample name).
pub const LB_UNLOADS: &str = "magnetar_broker_lb_unloads_total";
/// Gauge of the bundles a broker owns.
pub const BUNDLES_OWNED: &str = "magnetar_broker_bundles_owned";
/// Redirects a lookup follows at most.
const LOOKUP_REDIRECTS: usize = 5;
/// Interval between ownership samples while waiting for it to settle.
const SETTLE_SAMPLE: Duration = Duration::from_millis(500);

/// `tenant/namespace/topic` of a persistent topic name.
fn topic_path(topic: &str) -> Result<String> {
    let full = full_topic_name(topic);
    let path = full
        .strip_prefix("persistent://")
        .with_context(|| format!("{topic} is not a persistent topic"))?;
    ensure!(
        path.split('/').count() == 3 && !path.split('/').any(str::is_empty),
        "{topic} is not persistent://tenant/namespace/topic"
    );
    Ok(path.to_string())
}

impl BrokerCluster {
    /// `GET {path}` on broker `i`, which must answer 200 with JSON.
    pub fn get_json(&self, i: usize, path: &str) -> Result<Value> {
        let response = self.broker(i).get(path)?;
        ensure!(
            response.status == 200,
            "GET {path} on broker {i}: {} {}",
            response.status,
            response.body
        );
        serde_json::from_str(&response.body)
            .with_context(|| format!("GET {path} on broker {i}: not JSON: {}", response.body))
    }

    /// `GET {path}` on the live brokers in turn until one answers 200.
    pub fn get_json_any(&self, path: &str) -> Result<Value> {
        let mut last = anyhow!("no live broker");
        for i in self.live_brokers() {
            match self.get_json(i, path) {
                Ok(value) => return Ok(value),
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    /// `PUT {path}` through broker `via`, following redirects to the
    /// owner; the final answer must be 204.
    pub fn put(&self, via: usize, path: &str, body: &str) -> Result<()> {
        let addr = self.broker_id(via)?;
        let response = http_put(&addr, path, body)?;
        ensure!(
            response.status == 204,
            "PUT {path} through broker {via}: {} {}",
            response.status,
            response.body
        );
        Ok(())
    }

    /// `httpUrl` of the broker that owns `topic`, by an HTTP lookup that
    /// starts on a live broker and follows its redirects (non-owner →
    /// owner, or non-leader → leader → chosen broker, which acquires an
    /// unowned bundle). An authoritative redirect to a paused or stopped
    /// broker names that broker (it still holds the bundle) without asking
    /// it.
    pub fn owner_of(&self, topic: &str) -> Result<String> {
        let path = format!("/lookup/v2/topic/persistent/{}", topic_path(topic)?);
        let mut last = anyhow!("no live broker");
        for i in self.live_brokers() {
            match self.lookup_from(&self.broker_id(i)?, &path) {
                Ok(url) => return Ok(url),
                Err(error) => last = error.context(format!("lookup of {topic} from broker {i}")),
            }
        }
        Err(last)
    }

    fn lookup_from(&self, addr: &str, path: &str) -> Result<String> {
        let (mut addr, mut path) = (addr.to_string(), path.to_string());
        for _ in 0..=LOOKUP_REDIRECTS {
            let response = http_get(&addr, &path)?;
            if response.status == 200 {
                let answer: Value = serde_json::from_str(&response.body)
                    .with_context(|| format!("lookup answered {}", response.body))?;
                return answer["httpUrl"]
                    .as_str()
                    .map(str::to_string)
                    .with_context(|| format!("lookup answered {answer}"));
            }
            ensure!(
                matches!(response.status, 307 | 308),
                "GET {path} on {addr}: {} {}",
                response.status,
                response.body
            );
            let location = response
                .header("location")
                .context("a redirect without a Location header")?;
            (addr, path) = redirect_target(&addr, location)?;
            if let Some(j) = self.index_of_id(&addr) {
                let state = self.state(j);
                if state != BrokerState::Running {
                    ensure!(
                        path.contains("authoritative=true"),
                        "lookup redirected to broker {j} ({addr}), which is {state:?}"
                    );
                    return Ok(format!("http://{addr}"));
                }
            }
        }
        bail!("lookup {path}: more than {LOOKUP_REDIRECTS} redirects")
    }

    /// Index of the broker that owns `topic`.
    pub fn owner_index(&self, topic: &str) -> Result<usize> {
        let url = self.owner_of(topic)?;
        self.index_of_http_url(&url)
            .with_context(|| format!("{topic} is owned by {url}, not a broker of this cluster"))
    }

    /// A topic `persistent://{namespace}/{prefix}-k` that a broker other
    /// than `avoid` owns (looked up, so placed), with its owner.
    pub fn topic_not_on(
        &self,
        namespace: &str,
        prefix: &str,
        avoid: usize,
    ) -> Result<(String, usize)> {
        for k in 0..64 {
            let topic = format!("persistent://{namespace}/{prefix}-{k}");
            let owner = self.owner_index(&topic)?;
            if owner != avoid {
                return Ok((topic, owner));
            }
        }
        bail!("broker {avoid} owns every one of 64 topics of {namespace}")
    }

    /// Keys `tenant/namespace/0x…_0x…` of the bundles broker `i` owns, as
    /// a live broker reads them from the metadata store (so broker `i` may
    /// be paused or stopped).
    pub fn owned_bundles(&self, i: usize) -> Result<Vec<String>> {
        let id = self.broker_id(i)?;
        let owned = self.get_json_any(&format!(
            "/admin/v2/brokers/{CLUSTER_NAME}/{id}/ownedNamespaces"
        ))?;
        let owned = owned
            .as_object()
            .with_context(|| format!("ownedNamespaces of broker {i} is not an object: {owned}"))?;
        Ok(owned.keys().cloned().collect())
    }

    /// Owner (broker index) of every owned bundle of `namespace`, the
    /// owners among the live brokers. Fails when two brokers claim the same
    /// bundle.
    pub fn ownership(&self, namespace: &str) -> Result<BTreeMap<String, usize>> {
        let prefix = format!("{namespace}/");
        let mut owners = BTreeMap::new();
        for i in self.live_brokers() {
            for key in self.owned_bundles(i)? {
                if !key.starts_with(&prefix) {
                    continue;
                }
                if let Some(other) = owners.insert(key.clone(), i) {
                    bail!("bundle {key} is owned by both broker {other} and broker {i}");
                }
            }
        }
        Ok(owners)
    }

    /// Waits until the ownership of `namespace`'s bundles stays the same
    /// for `quiet`, sampling every 500 ms, for at most `limit`; returns it.
    pub async fn settled_ownership(
        &self,
        namespace: &str,
        quiet: Duration,
        limit: Duration,
    ) -> BTreeMap<String, usize> {
        let deadline = Instant::now() + limit;
        let mut last: Option<BTreeMap<String, usize>> = None;
        let mut since = Instant::now();
        loop {
            match self.ownership(namespace) {
                Ok(now) if last.as_ref() == Some(&now) => {
                    if since.elapsed() >= quiet {
                        return now;
                    }
                }
                Ok(now) => {
                    last = Some(now);
                    since = Instant::now();
                }
                Err(error) => {
                    tracing::debug!(%error, "ownership not readable yet");
                    last = None;
                }
            }
            assert!(
                Instant::now() < deadline,
                "ownership of {namespace} not steady for {quiet:?} within {limit:?}; last {last:?}"
            );
            tokio::time::sleep(SETTLE_SAMPLE).await;
        }
    }

    /// Broker ids registered in the cluster, as a live broker sees them.
    pub fn registered_brokers(&self) -> Result<Vec<String>> {
        let list = self.get_json_any(&format!("/admin/v2/brokers/{CLUSTER_NAME}"))?;
        list.as_array()
            .with_context(|| format!("broker list is not an array: {list}"))?
            .iter()
            .map(|id| {
                id.as_str()
                    .map(str::to_string)
                    .with_context(|| format!("broker id {id} is not a string"))
            })
            .collect()
    }

    /// The leader's broker id as broker `i` sees it.
    pub fn leader_seen_by(&self, i: usize) -> Result<String> {
        let answer = self.get_json(i, "/admin/v2/brokers/leaderBroker")?;
        answer["brokerId"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("leaderBroker answered {answer}"))
    }

    /// The leader's broker id, as a live broker sees it.
    pub fn leader(&self) -> Result<String> {
        let answer = self.get_json_any("/admin/v2/brokers/leaderBroker")?;
        answer["brokerId"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("leaderBroker answered {answer}"))
    }

    /// Waits up to `limit` until every live broker names the same leader,
    /// other than `old` and itself live; returns its id.
    pub async fn wait_for_leader_change(&self, old: &str, limit: Duration) -> String {
        let what = format!("a live leader other than {old}, agreed by every live broker");
        let cluster: &BrokerCluster = self;
        poll(limit, &what, move || async move {
            let mut agreed: Option<String> = None;
            for i in cluster.live_brokers() {
                let seen = cluster.leader_seen_by(i)?;
                if let Some(first) = &agreed {
                    ensure!(
                        *first == seen,
                        "brokers disagree on the leader: {first}, and {seen} on broker {i}"
                    );
                }
                agreed = Some(seen);
            }
            Ok(agreed.filter(|id| {
                id != old
                    && cluster
                        .index_of_id(id)
                        .is_some_and(|j| cluster.state(j) == BrokerState::Running)
            }))
        })
        .await
    }

    /// Creates `namespace` (`tenant/name`) with `bundles` bundles.
    pub fn create_namespace(&self, namespace: &str, bundles: u32) -> Result<()> {
        let via = *self.live_brokers().first().context("no live broker")?;
        self.put(
            via,
            &format!("/admin/v2/namespaces/{namespace}"),
            &format!("{{\"numBundles\":{bundles}}}"),
        )
    }

    /// The bundle names of `namespace`, in hash order.
    pub fn bundles(&self, namespace: &str) -> Result<Vec<String>> {
        let answer = self.get_json_any(&format!("/admin/v2/namespaces/{namespace}/bundles"))?;
        let boundaries = answer["boundaries"]
            .as_array()
            .with_context(|| format!("bundles of {namespace}: {answer}"))?
            .iter()
            .map(|bound| bound.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .with_context(|| format!("bundles of {namespace}: {answer}"))?;
        let names = bundle_names(&boundaries)?;
        ensure!(
            answer["numBundles"].as_u64() == Some(names.len() as u64),
            "bundles of {namespace}: numBundles disagrees with the boundaries: {answer}"
        );
        Ok(names)
    }

    /// The bundle of its namespace that holds `topic` right now.
    pub fn bundle_of(&self, topic: &str) -> Result<String> {
        let path = topic_path(topic)?;
        let (namespace, _) = path.rsplit_once('/').context("topic without namespace")?;
        bundle_of(topic, &self.bundles(namespace)?)
    }

    /// Unloads one bundle through broker `via` (redirected to its owner).
    pub fn unload_bundle(&self, via: usize, namespace: &str, bundle: &str) -> Result<()> {
        self.put(
            via,
            &format!("/admin/v2/namespaces/{namespace}/{bundle}/unload"),
            "",
        )
    }

    /// Unloads every bundle of `namespace` through broker `via`.
    pub fn unload_namespace(&self, via: usize, namespace: &str) -> Result<()> {
        self.put(via, &format!("/admin/v2/namespaces/{namespace}/unload"), "")
    }

    /// Splits one bundle in two through broker `via`.
    pub fn split_bundle(&self, via: usize, namespace: &str, bundle: &str) -> Result<()> {
        self.put(
            via,
            &format!("/admin/v2/namespaces/{namespace}/{bundle}/split"),
            "",
        )
    }

    /// The value of unlabelled sample `name` on broker `i`'s `/metrics`.
    pub fn metric(&self, i: usize, name: &str) -> Result<f64> {
        let response = self.broker(i).get("/metrics")?;
        ensure!(
            response.status == 200,
            "GET /metrics on broker {i}: {}",
            response.status
        );
        metric_value(&response.body, name)
            .with_context(|| format!("no sample {name} on broker {i}'s /metrics"))
    }

    /// Bundles the load managers of the live brokers unloaded so far.
    pub fn lb_unloads(&self) -> Result<f64> {
        self.live_brokers()
            .into_iter()
            .map(|i| self.metric(i, LB_UNLOADS))
            .sum()
    }
}
