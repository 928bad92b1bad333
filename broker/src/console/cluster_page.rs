//! The cluster page (`/ui`): brokers with their load and the leader,
//! bookies with their state, disk and ledgers, the metadata store's
//! health, bundles with their owners, the load manager's recent decisions,
//! and the clusters this one knows (for geo-replication). It needs the
//! broker routes, so a superuser's view when authorization is on.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::api::ApiError;
use super::layout::{bytes, enc, flag, page, rate, respond, time, Flash};
use super::session::{handle, Visitor};
use super::ConsoleState;
use crate::admin::MetadataHealth;
use crate::cluster::decisions::Decision;
use crate::cluster::registry::{BrokerInfo, LeaderInfo};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct BookieView {
    bookie_id: String,
    state: String,
    free_bytes: u64,
    ledger_count: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BookiesView {
    bookies: Vec<BookieView>,
}

/// A card with an error in place of what could not be read.
fn unavailable(title: &str, error: &ApiError) -> Markup {
    html! {
        div.card.error {
            h2 { (title) }
            p { (error.to_string()) }
        }
    }
}

pub async fn cluster(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Query(flash): Query<Flash>,
) -> Response {
    let api = &state.api;
    let caller = &visitor.caller;
    let reports_path = format!("/admin/v2/brokers/{}/loadReports", enc(&state.cluster));
    let brokers: BTreeMap<String, BrokerInfo> = match api.get(caller, &reports_path).await {
        Ok(brokers) => brokers,
        // A bare protocol service has no cluster part: no brokers to list.
        Err(error) if error.status() == StatusCode::NOT_FOUND => BTreeMap::new(),
        Err(error) => return handle(error, &visitor),
    };
    let leader: Option<LeaderInfo> = api.get(caller, "/admin/v2/brokers/leaderBroker").await.ok();
    let bookies: Result<BookiesView, ApiError> = api.get(caller, "/admin/v2/bookies/all").await;
    let metadata: Result<MetadataHealth, ApiError> =
        api.get(caller, "/admin/v2/brokers/metadataHealth").await;
    let decisions: Result<Vec<Decision>, ApiError> = api
        .get(caller, "/admin/v2/brokers/loadManagerDecisions")
        .await;
    let clusters: Vec<String> = api
        .get(caller, "/admin/v2/clusters")
        .await
        .unwrap_or_default();
    let mut bundles: Vec<(String, String)> = Vec::new();
    for broker in brokers.keys() {
        let path = format!(
            "/admin/v2/brokers/{}/{}/ownedNamespaces",
            enc(&state.cluster),
            enc(broker)
        );
        let owned: BTreeMap<String, serde_json::Value> =
            api.get(caller, &path).await.unwrap_or_default();
        bundles.extend(owned.into_keys().map(|bundle| (bundle, broker.clone())));
    }
    bundles.sort();
    let leader_id = leader.as_ref().map(|l| l.broker_id.as_str());
    let body = html! {
        h1 { "Cluster " (state.cluster) }
        (flash.render())
        div.card #brokers data-live {
                h2 { "Brokers (" (brokers.len()) ")" }
                @if brokers.is_empty() {
                    p.muted { "No broker records: this broker runs without cluster membership." }
                } @else {
                    table {
                        tr { th { "Broker" } th.num { "msg/s in" } th.num { "msg/s out" } th.num { "Topics" } th.num { "Bundles" } th.num { "CPU %" } th.num { "Memory" } }
                        @for (id, broker) in &brokers {
                            tr {
                                td {
                                    (id)
                                    @if Some(id.as_str()) == leader_id { " " span.badge.ok { "leader" } }
                                    @if broker.draining { " " span.badge.warn { "draining" } }
                                    br; span.muted { (broker.web_service_url) }
                                }
                                td.num { (rate(broker.load.msg_rate_in)) }
                                td.num { (rate(broker.load.msg_rate_out)) }
                                td.num { (broker.load.topics) }
                                td.num { (broker.load.bundles.len()) }
                                td.num { (format!("{:.1}", broker.load.cpu_percent)) }
                                td.num { (bytes(broker.load.memory_bytes as f64)) }
                            }
                        }
                    }
                }
                @if leader.is_none() && !brokers.is_empty() {
                    p.warn { "No leader is elected right now." }
                }
        }
        div.grid {
            @match &bookies {
                Ok(view) => {
                    div.card #bookies data-live {
                        h2 { "Bookies (" (view.bookies.len()) ")" }
                        table {
                            tr { th { "Bookie" } th { "State" } th.num { "Free disk" } th.num { "Ledgers" } }
                            @for bookie in &view.bookies {
                                tr {
                                    td { (bookie.bookie_id) }
                                    td { (flag(bookie.state == "writable", "writable", "read-only", true)) }
                                    td.num { (bytes(bookie.free_bytes as f64)) }
                                    td.num { (bookie.ledger_count) }
                                }
                            }
                        }
                    }
                }
                Err(error) => { (unavailable("Bookies", error)) }
            }
            @match &metadata {
                Ok(health) => {
                    div.card #metadata data-live {
                        h2 { "Metadata store" }
                        p {
                            (flag(health.healthy, "healthy", "failing", true))
                            " a read took " (format!("{:.2}", health.latency_millis)) " ms"
                        }
                        @if let Some(error) = &health.error { p.bad { (error) } }
                    }
                }
                Err(error) => { (unavailable("Metadata store", error)) }
            }
            div.card #clusters {
                h2 { "Clusters" }
                ul {
                    @for name in &clusters {
                        li { (name) @if *name == state.cluster { " " span.muted { "(this one)" } } }
                    }
                }
                p.muted { "Replication per topic shows on each topic's page." }
            }
        }
        div.card #bundles data-live {
            h2 { "Bundles and their owners (" (bundles.len()) ")" }
            table {
                tr { th { "Bundle" } th { "Owner" } th {} }
                @for (bundle, owner) in &bundles {
                    tr {
                        td { (bundle) }
                        td { (owner) }
                        td { (unload_button(bundle)) }
                    }
                }
            }
        }
        @match &decisions {
            Ok(decisions) => {
                div.card #decisions data-live {
                    h2 { "Load manager decisions" }
                    @if decisions.is_empty() {
                        p.muted { "None yet: the leader sheds and splits when the load calls for it." }
                    } @else {
                        table {
                            tr { th { "When" } th { "Decision" } th { "Bundle" } th { "From" } th { "To" } th { "Why" } }
                            @for decision in decisions.iter().rev() {
                                tr {
                                    td { (time(decision.time_millis)) }
                                    td { (decision.kind) }
                                    td { (decision.bundle) }
                                    td { (decision.from) }
                                    td { (decision.to.as_deref().unwrap_or("-")) }
                                    td { (decision.reason) }
                                }
                            }
                        }
                    }
                }
            }
            Err(error) => { (unavailable("Load manager decisions", error)) }
        }
    };
    respond(StatusCode::OK, page("Cluster", visitor.user(), body))
}

/// The unload button of a bundle named `tenant/namespace/range`.
fn unload_button(bundle: &str) -> Markup {
    let parts: Vec<&str> = bundle.splitn(3, '/').collect();
    let [tenant, namespace, range] = parts.as_slice() else {
        return html! {};
    };
    html! {
        form.inline method="post" action=(format!("/ui/namespaces/{}/{}/bundles/{}/unload", enc(tenant), enc(namespace), enc(range))) {
            button.plain type="submit" { "Unload" }
        }
    }
}
