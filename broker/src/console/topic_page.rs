//! A topic's page (`/ui/topics/{tenant}/{namespace}/{topic}`): live plots
//! of its rates, throughput, storage and backlog over the last 15 minutes;
//! its producers, subscriptions and replication to other clusters (stalls
//! flagged); its ledgers; its newest messages as text, JSON or hex; its
//! schema versions; and for a partitioned topic, its partitions.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::api::{AdminApi, Caller};
use super::layout::{bytes, destructive, enc, flag, page, rate, respond, time, Flash};
use super::plot::{plot, Line};
use super::session::{handle, Visitor};
use super::ConsoleState;
use crate::admin::TopicStats;
use crate::topic::{RateHistory, HISTORY_POINTS};

/// How many of the newest messages are shown.
const PEEKED: u64 = 5;

/// Bytes of a payload shown.
const PAYLOAD_SHOWN: usize = 2048;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TopicQuery {
    /// How payloads are shown: `text` (default), `json` or `hex`.
    view: String,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PartitionsView {
    partitions: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct LedgerView {
    ledger_id: u64,
    entries: i64,
    size: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct InternalStatsView {
    state: String,
    last_confirmed_entry: String,
    ledgers: Vec<LedgerView>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SchemaView {
    version: u64,
    #[serde(rename = "type")]
    kind: String,
    timestamp: u64,
}

/// One peeked message.
struct Peeked {
    id: String,
    publish_time: String,
    batch: Option<String>,
    payload: bytes::Bytes,
}

pub async fn topic(
    State(state): State<ConsoleState>,
    visitor: Visitor,
    Path((tenant, namespace, topic)): Path<(String, String, String)>,
    Query(query): Query<TopicQuery>,
) -> Response {
    let caller = &visitor.caller;
    let api = &state.api;
    let base = format!("{}/{}/{}", enc(&tenant), enc(&namespace), enc(&topic));
    let partitions: PartitionsView = match api
        .get(caller, &format!("/admin/v2/persistent/{base}/partitions"))
        .await
    {
        Ok(partitions) => partitions,
        Err(error) => return handle(error, &visitor),
    };
    let stats_path = if partitions.partitions > 0 {
        format!("/admin/v2/persistent/{base}/partitioned-stats")
    } else {
        format!("/admin/v2/persistent/{base}/stats")
    };
    let stats: TopicStats = match api.get(caller, &stats_path).await {
        Ok(stats) => stats,
        Err(error) => return handle(error, &visitor),
    };
    let flash = Flash {
        notice: query.notice.clone(),
        error: query.error.clone(),
    };
    let header = html! {
        p.crumbs {
            a href="/ui/tenants" { "Tenants" } " / "
            a href=(format!("/ui/tenants/{}", enc(&tenant))) { (tenant) } " / "
            a href=(format!("/ui/namespaces/{}/{}", enc(&tenant), enc(&namespace))) { (namespace) } " / " (topic)
        }
        h1 { "persistent://" (tenant) "/" (namespace) "/" (topic) }
        (flash.render())
        (summary(&stats))
    };
    let body = if partitions.partitions > 0 {
        html! {
            (header)
            div.card {
                h2 { "Partitions (" (partitions.partitions) ")" }
                ul {
                    @for i in 0..partitions.partitions {
                        @let name = format!("{topic}-partition-{i}");
                        li { a href=(format!("/ui/topics/{}/{}/{}", enc(&tenant), enc(&namespace), enc(&name))) { (name) } }
                    }
                }
            }
        }
    } else {
        let history: RateHistory = api
            .get(caller, &format!("/admin/v2/persistent/{base}/rateHistory"))
            .await
            .unwrap_or_default();
        let internal: InternalStatsView = api
            .get(
                caller,
                &format!("/admin/v2/persistent/{base}/internalStats"),
            )
            .await
            .unwrap_or_default();
        let messages = peek_newest(api, caller, &base).await;
        let schemas = schema_versions(api, caller, &tenant, &namespace, &topic).await;
        html! {
            (header)
            div.plots {
                (plot("plot-rates", "Messages per second", &[
                    Line { label: "in", points: &history.msg_rate_in },
                    Line { label: "out", points: &history.msg_rate_out },
                ], HISTORY_POINTS, rate))
                (plot("plot-throughput", "Throughput per second", &[
                    Line { label: "in", points: &history.msg_throughput_in },
                    Line { label: "out", points: &history.msg_throughput_out },
                ], HISTORY_POINTS, bytes))
                (plot("plot-storage", "Storage size", &[
                    Line { label: "stored", points: &history.storage_size },
                ], HISTORY_POINTS, bytes))
                (plot("plot-backlog", "Backlog (messages)", &[
                    Line { label: "backlog", points: &history.backlog },
                ], HISTORY_POINTS, rate))
            }
            (clients(&stats, &base))
            (replication(&stats))
            div.card #ledgers {
                h2 { "Ledgers (" (internal.ledgers.len()) ")" }
                p.muted { "State " (internal.state) ", last confirmed entry " (internal.last_confirmed_entry) }
                table {
                    tr { th { "Ledger" } th.num { "Entries" } th.num { "Size" } }
                    @for ledger in &internal.ledgers {
                        tr { td { (ledger.ledger_id) } td.num { (ledger.entries) } td.num { (bytes(ledger.size as f64)) } }
                    }
                }
            }
            (messages_card(&messages, &query.view))
            (schemas_card(&schemas))
            div.card {
                h2 { "Actions" }
                form.row method="post" action=(format!("/ui/topics/{base}/subscriptions")) {
                    label { "New subscription" input name="name" required; }
                    label { "Starting at" select name="position" { option value="latest" { "the end" } option value="earliest" { "the start" } } }
                    button type="submit" { "Create subscription" }
                }
                p {
                    form.inline method="post" action=(format!("/ui/topics/{base}/unload")) {
                        button type="submit" { "Unload topic" }
                    }
                    " "
                    (destructive(&format!("/ui/topics/{base}/delete"), &format!("topic {tenant}/{namespace}/{topic} and its messages"), "Delete topic"))
                }
            }
        }
    };
    respond(StatusCode::OK, page(&topic, visitor.user(), body))
}

fn summary(stats: &TopicStats) -> Markup {
    let backlog: u64 = stats.subscriptions.values().map(|s| s.msg_backlog).sum();
    html! {
        div.card #summary data-live {
            table {
                tr { th.num { "msg/s in" } th.num { "msg/s out" } th.num { "in/s" } th.num { "out/s" } th.num { "Storage" } th.num { "Backlog" } th.num { "Producers" } th.num { "Subscriptions" } th { "Writable" } }
                tr {
                    td.num { (rate(stats.msg_rate_in)) }
                    td.num { (rate(stats.msg_rate_out)) }
                    td.num { (bytes(stats.msg_throughput_in)) }
                    td.num { (bytes(stats.msg_throughput_out)) }
                    td.num { (bytes(stats.storage_size as f64)) }
                    td.num { (backlog) }
                    td.num { (stats.publishers.len()) }
                    td.num { (stats.subscriptions.len()) }
                    td {
                        @match stats.writable {
                            Some(writable) => { (flag(writable, "yes", "no", true)) }
                            None => { span.muted { "not loaded here" } }
                        }
                        @if let Some(reason) = &stats.not_writable_reason { " " span.bad { (reason) } }
                    }
                }
            }
        }
    }
}

fn clients(stats: &TopicStats, base: &str) -> Markup {
    html! {
        div.grid {
            div.card #producers data-live {
                h2 { "Producers (" (stats.publishers.len()) ")" }
                table {
                    tr { th { "Name" } th.num { "msg/s" } th.num { "Messages" } }
                    @for producer in &stats.publishers {
                        tr { td { (producer.producer_name) } td.num { (rate(producer.msg_rate_in)) } td.num { (producer.msg_in_counter) } }
                    }
                }
            }
            div.card #subscriptions data-live {
                h2 { "Subscriptions (" (stats.subscriptions.len()) ")" }
                table {
                    tr { th { "Name" } th { "Type" } th.num { "Backlog" } th.num { "msg/s out" } th.num { "Consumers" } }
                    @for (name, sub) in &stats.subscriptions {
                        tr {
                            td { a href=(format!("/ui/topics/{base}/subscriptions/{}", enc(name))) { (name) } }
                            td { (sub.kind.as_deref().unwrap_or("-")) }
                            td.num { (sub.msg_backlog) }
                            td.num { (rate(sub.msg_rate_out)) }
                            td.num { (sub.consumers.len()) }
                        }
                    }
                }
            }
        }
    }
}

fn replication(stats: &TopicStats) -> Markup {
    if stats.replication.is_empty() {
        return html! {};
    }
    html! {
        div.card #replication data-live {
            h2 { "Geo-replication" }
            table {
                tr { th { "To cluster" } th { "Connected" } th.num { "Backlog" } th.num { "Delay" } th.num { "msg/s" } th { "Last receipt" } th { "Status" } }
                @for (cluster, r) in &stats.replication {
                    tr {
                        td { (cluster) }
                        td { (flag(r.connected, "yes", "no", true)) }
                        td.num { (r.replication_backlog) }
                        td.num { (r.replication_delay_in_seconds) " s" }
                        td.num { (rate(r.msg_rate_out)) }
                        td { (time(r.last_confirmed_timestamp)) }
                        td {
                            @if r.stalled { span.badge.bad { "stalled" } } @else { span.badge.ok { "flowing" } }
                            @if let Some(error) = &r.last_error { br; span.bad { (error) } }
                        }
                    }
                }
            }
        }
    }
}

/// The newest messages, newest first; fewer when the topic holds fewer.
async fn peek_newest(api: &AdminApi, caller: &Caller, base: &str) -> Vec<Peeked> {
    let mut messages = Vec::new();
    for n in 1..=PEEKED {
        let path = format!(
            "/admin/v2/persistent/{base}/examinemessage?initialPosition=latest&messagePosition={n}"
        );
        let Ok(answer) = api.ok(caller, Method::GET, &path, None).await else {
            break;
        };
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        messages.push(Peeked {
            id: header("X-Pulsar-Message-ID").unwrap_or_default(),
            publish_time: header("X-Pulsar-publish-time").unwrap_or_default(),
            batch: header("X-Pulsar-num-batch-message"),
            payload: answer.body,
        });
    }
    messages
}

fn messages_card(messages: &[Peeked], view: &str) -> Markup {
    let views = [("text", "Text"), ("json", "JSON"), ("hex", "Hex")];
    let view = if views.iter().any(|(v, _)| *v == view) {
        view
    } else {
        "text"
    };
    html! {
        div.card #messages {
            h2 { "Newest messages" }
            p {
                @for (value, label) in views {
                    @if value == view { strong { (label) } } @else { a href=(format!("?view={value}")) { (label) } }
                    " "
                }
            }
            @if messages.is_empty() { p.muted { "The topic holds no messages." } }
            @for message in messages {
                div {
                    p.muted {
                        (message.id) " · " (message.publish_time)
                        @if let Some(count) = &message.batch { " · a batch of " (count) " messages, shown as stored" }
                    }
                    pre { (render_payload(&message.payload, view)) }
                }
            }
        }
    }
}

/// A payload as text, pretty JSON (text when it is not JSON) or hex.
fn render_payload(payload: &[u8], view: &str) -> String {
    let shown = &payload[..payload.len().min(PAYLOAD_SHOWN)];
    let cut = if payload.len() > PAYLOAD_SHOWN {
        format!("\n… {} more bytes", payload.len() - PAYLOAD_SHOWN)
    } else {
        String::new()
    };
    match view {
        "hex" => {
            let lines: Vec<String> = shown
                .chunks(16)
                .enumerate()
                .map(|(i, chunk)| {
                    let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                    format!("{:08x}  {}", i * 16, hex.join(" "))
                })
                .collect();
            lines.join("\n") + &cut
        }
        "json" => match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_default(),
            Err(_) => format!("(not JSON)\n{}{cut}", String::from_utf8_lossy(shown)),
        },
        _ => format!("{}{cut}", String::from_utf8_lossy(shown)),
    }
}

/// Every schema version, newest first (at most 20); none without a schema.
async fn schema_versions(
    api: &AdminApi,
    caller: &Caller,
    tenant: &str,
    namespace: &str,
    topic: &str,
) -> Vec<SchemaView> {
    let base = format!(
        "/admin/v2/schemas/{}/{}/{}/schema",
        enc(tenant),
        enc(namespace),
        enc(topic)
    );
    let Ok(latest) = api.get::<SchemaView>(caller, &base).await else {
        return Vec::new();
    };
    let mut versions = Vec::new();
    for version in (0..latest.version).rev().take(19) {
        if let Ok(schema) = api
            .get::<SchemaView>(caller, &format!("{base}/{version}"))
            .await
        {
            versions.push(schema);
        }
    }
    versions.insert(0, latest);
    versions
}

fn schemas_card(schemas: &[SchemaView]) -> Markup {
    html! {
        div.card #schemas {
            h2 { "Schema versions" }
            @if schemas.is_empty() { p.muted { "No schema: producers send bytes." } }
            @else {
                table {
                    tr { th.num { "Version" } th { "Type" } th { "Registered" } }
                    @for schema in schemas {
                        tr { td.num { (schema.version) } td { (schema.kind) } td { (time(schema.timestamp)) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_show_as_asked() {
        assert_eq!(render_payload(b"hello", "text"), "hello");
        assert_eq!(render_payload(b"{\"a\":1}", "json"), "{\n  \"a\": 1\n}");
        assert!(render_payload(b"plain", "json").starts_with("(not JSON)"));
        assert_eq!(render_payload(&[0, 1, 255], "hex"), "00000000  00 01 ff");
        let long = vec![b'x'; PAYLOAD_SHOWN + 10];
        assert!(render_payload(&long, "text").ends_with("10 more bytes"));
    }
}
