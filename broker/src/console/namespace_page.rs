//! A namespace's page (`/ui/namespaces/{tenant}/{namespace}`): its
//! policies as the admin API stores them (retention, TTL, backlog quotas,
//! deduplication, replication clusters, permissions and the rest), its
//! bundles, its topics (filtered and paged, so that ten thousand topics
//! render quickly), its geo-replication per remote cluster
//! (`replication_view.rs`), and the forms that change them.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{destructive, enc, page, respond, Flash};
use super::replication_view;
use super::session::{handle, Visitor};
use super::tenant_pages::short;
use super::ConsoleState;

/// Topics per page.
const PAGE_SIZE: usize = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    filter: String,
    page: usize,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BundlesView {
    boundaries: Vec<String>,
}

pub async fn namespace(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path((tenant, namespace)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Response {
    let caller = &visitor.caller;
    let base = format!("{}/{}", enc(&tenant), enc(&namespace));
    let policies: serde_json::Value = match state
        .api
        .get(caller, &format!("/admin/v2/namespaces/{base}"))
        .await
    {
        Ok(policies) => policies,
        Err(error) => return handle(error, &visitor),
    };
    let bundles: BundlesView = state
        .api
        .get(caller, &format!("/admin/v2/namespaces/{base}/bundles"))
        .await
        .unwrap_or_default();
    let mut topics: Vec<String> = match state
        .api
        .get::<Vec<String>>(caller, &format!("/admin/v2/persistent/{base}"))
        .await
    {
        Ok(topics) => topics,
        Err(error) => return handle(error, &visitor),
    };
    let partitioned: Vec<String> = state
        .api
        .get(caller, &format!("/admin/v2/persistent/{base}/partitioned"))
        .await
        .unwrap_or_default();
    let replication_clusters = policies["replicationClusters"]
        .as_array()
        .map_or(0, Vec::len);
    let replication = replication_view::card(
        &state.api,
        caller,
        (&tenant, &namespace),
        replication_clusters,
        &topics,
    )
    .await;
    topics.extend(partitioned);
    let mut names: Vec<&str> = topics.iter().map(|t| short(t)).collect();
    names.sort_unstable();
    names.dedup();
    let filter = query.filter.trim();
    let matching: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| filter.is_empty() || name.contains(filter))
        .collect();
    let pages = matching.len().div_ceil(PAGE_SIZE).max(1);
    let current = query.page.min(pages - 1);
    let shown = matching.iter().skip(current * PAGE_SIZE).take(PAGE_SIZE);
    let page_link =
        |page: usize| format!("/ui/namespaces/{base}?page={page}&filter={}", enc(filter));
    let body = html! {
        p.crumbs {
            a href="/ui/tenants" { "Tenants" } " / "
            a href=(format!("/ui/tenants/{}", enc(&tenant))) { (tenant) } " / " (namespace)
        }
        h1 { "Namespace " (tenant) "/" (namespace) }
        (Flash { notice: query.notice.clone(), error: query.error.clone() }.render())
        div.card #topics {
            h2 { "Topics (" (matching.len()) @if !filter.is_empty() { " of " (names.len()) } ")" }
            form.row method="get" {
                label { "Filter" input name="filter" value=(filter) placeholder="part of a name"; }
                button type="submit" { "Filter" }
            }
            table {
                tr { th { "Topic" } }
                @for name in shown {
                    tr { td { a href=(format!("/ui/topics/{base}/{}", enc(name))) { (name) } } }
                }
            }
            div.pager {
                @if current > 0 { a href=(page_link(current - 1)) { "← previous" } }
                span.muted { "page " (current + 1) " of " (pages) }
                @if current + 1 < pages { a href=(page_link(current + 1)) { "next →" } }
            }
        }
        div.grid {
            form.card method="post" action=(format!("/ui/namespaces/{base}/topics")) {
                h2 { "Create a topic" }
                label { "Name" input name="name" required; }
                label { "Partitions (0: not partitioned)" input name="partitions" type="number" min="0" max="10000" value="0"; }
                p { button type="submit" { "Create" } }
            }
            div.card {
                h2 { "Bundles (" (bundles.boundaries.len().saturating_sub(1)) ")" }
                table {
                    @for pair in bundles.boundaries.windows(2) {
                        @let range = format!("{}_{}", pair[0], pair[1]);
                        tr {
                            td { (range) }
                            td {
                                form.inline method="post" action=(format!("/ui/namespaces/{base}/bundles/{}/unload", enc(&range))) {
                                    button.plain type="submit" { "Unload" }
                                }
                            }
                        }
                    }
                }
                p {
                    form.inline method="post" action=(format!("/ui/namespaces/{base}/unload")) {
                        button type="submit" { "Unload namespace" }
                    }
                    " "
                    (destructive(&format!("/ui/namespaces/{base}/clear-backlog"), &format!("the backlog of every subscription in {tenant}/{namespace}"), "Clear backlog"))
                    " "
                    (destructive(&format!("/ui/namespaces/{base}/delete"), &format!("namespace {tenant}/{namespace}"), "Delete namespace"))
                }
            }
        }
        (replication)
        div.card #policies {
            h2 { "Policies" }
            p.muted { "As stored; a policy not listed follows the broker's default." }
            (policies_table(&policies))
        }
        (policy_forms(&base))
    };
    respond(
        StatusCode::OK,
        page(
            &format!("Namespace {tenant}/{namespace}"),
            visitor.user(),
            body,
        ),
    )
}

/// The policies, one row each, values as compact JSON; unset ones say so.
fn policies_table(policies: &serde_json::Value) -> Markup {
    let Some(fields) = policies.as_object() else {
        return html! { pre { (policies.to_string()) } };
    };
    html! {
        table {
            @for (name, value) in fields {
                tr {
                    th { (name) }
                    td {
                        @if value.is_null() { span.muted { "not set (broker default)" } }
                        @else { code { (value.to_string()) } }
                    }
                }
            }
        }
    }
}

/// One form per policy the console sets; each posts to `…/policy`.
fn policy_forms(base: &str) -> Markup {
    let action = format!("/ui/namespaces/{base}/policy");
    html! {
        div.card {
            h2 { "Set a policy" }
            form.row method="post" action=(action) {
                input type="hidden" name="policy" value="retention";
                label { "Retention, minutes (-1: forever)" input name="minutes" type="number" min="-1" required; }
                label { "Retention, MB (-1: no limit)" input name="megabytes" type="number" min="-1" required; }
                button type="submit" { "Set retention" }
            }
            form.row method="post" action=(action) {
                input type="hidden" name="policy" value="messageTTL";
                label { "Message TTL, seconds" input name="seconds" type="number" min="0" required; }
                button type="submit" { "Set TTL" }
            }
            form.row method="post" action=(action) {
                input type="hidden" name="policy" value="deduplication";
                label { "Deduplication" select name="enabled" { option value="true" { "on" } option value="false" { "off" } } }
                button type="submit" { "Set deduplication" }
            }
            form.row method="post" action=(action) {
                input type="hidden" name="policy" value="backlogQuota";
                label { "Backlog limit, bytes (-1: none)" input name="limit_size" type="number" min="-1" value="-1"; }
                label { "Backlog limit, seconds (-1: none)" input name="limit_time" type="number" min="-1" value="-1"; }
                label { "When reached" select name="quota_policy" {
                    option value="producer_request_hold" { "hold producers" }
                    option value="producer_exception" { "refuse producers" }
                    option value="consumer_backlog_eviction" { "evict the oldest backlog" }
                } }
                button type="submit" { "Set backlog quota" }
            }
            form.row method="post" action=(action) {
                input type="hidden" name="policy" value="maxProducersPerTopic";
                label { "Max producers per topic (0: no limit)" input name="count" type="number" min="0" required; }
                button type="submit" { "Set" }
            }
            form.row method="post" action=(action) {
                input type="hidden" name="policy" value="maxConsumersPerTopic";
                label { "Max consumers per topic (0: no limit)" input name="count" type="number" min="0" required; }
                button type="submit" { "Set" }
            }
            form.row method="post" action=(action) {
                input type="hidden" name="policy" value="remove";
                label { "Remove a policy" select name="name" {
                    option value="retention" { "retention" }
                    option value="messageTTL" { "message TTL" }
                    option value="deduplication" { "deduplication" }
                    option value="backlogQuota" { "backlog quota" }
                    option value="maxProducersPerTopic" { "max producers per topic" }
                    option value="maxConsumersPerTopic" { "max consumers per topic" }
                } }
                button.plain type="submit" { "Remove" }
            }
        }
    }
}
