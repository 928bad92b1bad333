//! `magnetar admin`: each verb becomes one admin REST request (redirects to
//! a topic's owner are followed); the answer is printed as a table, or as
//! the API's JSON with `--json`. A refused request prints the broker's
//! reason on stderr and exits 1.

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use super::admin_output::print_answer;
use crate::admin_args::{
    AdminArgs, AdminNoun, BookiesVerb, BrokersVerb, ClustersVerb, NamespacesVerb, QuotaPolicy,
    QuotaType, SchemasVerb, TenantsVerb, TopicsVerb,
};

/// Redirects followed per request (a topic's owner answers directly).
const MAX_REDIRECTS: usize = 3;

/// One request: method, path below the admin URL, optional JSON body.
struct Call {
    method: Method,
    path: String,
    body: Option<Value>,
}

fn get(path: String) -> Call {
    Call {
        method: Method::GET,
        path,
        body: None,
    }
}

fn with(method: Method, path: String, body: Option<Value>) -> Call {
    Call { method, path, body }
}

/// `persistent://t/ns/topic`, `t/ns/topic` or `topic` → `t/ns/topic`,
/// with the topic part percent-encoded.
fn topic_path(topic: &str) -> Result<String> {
    let rest = topic.strip_prefix("persistent://").unwrap_or(topic);
    if rest.contains("://") {
        bail!("only persistent topics have admin operations: {topic:?}");
    }
    let parts: Vec<&str> = rest.splitn(3, '/').collect();
    let (tenant, namespace, local) = match parts.as_slice() {
        [local] => ("public", "default", *local),
        [tenant, namespace, local] => (*tenant, *namespace, *local),
        _ => bail!("a topic is persistent://tenant/namespace/topic, tenant/namespace/topic or a name: {topic:?}"),
    };
    if tenant.is_empty() || namespace.is_empty() || local.is_empty() {
        bail!("empty part in topic {topic:?}");
    }
    Ok(format!("{tenant}/{namespace}/{}", encode(local)))
}

/// `tenant/ns`, checked.
fn namespace_path(namespace: &str) -> Result<&str> {
    match namespace.split('/').collect::<Vec<_>>().as_slice() {
        [tenant, ns] if !tenant.is_empty() && !ns.is_empty() => Ok(namespace),
        _ => bail!("a namespace is tenant/namespace: {namespace:?}"),
    }
}

/// Percent-encodes what is not unreserved in a path segment.
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A message id as the admin API takes it.
fn message_id(text: &str) -> Result<Value> {
    let (ledger, entry) = match text {
        "earliest" => (-1, -1),
        "latest" => (i64::MAX, i64::MAX),
        other => {
            let (ledger, entry) = other.split_once(':').ok_or_else(|| {
                anyhow!("a message id is earliest, latest or LEDGER:ENTRY: {other:?}")
            })?;
            (
                ledger
                    .parse()
                    .with_context(|| format!("ledger id in {other:?}"))?,
                entry
                    .parse()
                    .with_context(|| format!("entry id in {other:?}"))?,
            )
        }
    };
    Ok(json!({"ledgerId": ledger, "entryId": entry, "partitionIndex": -1}))
}

fn quota_type(kind: QuotaType) -> &'static str {
    match kind {
        QuotaType::DestinationStorage => "destination_storage",
        QuotaType::MessageAge => "message_age",
    }
}

fn quota_policy(policy: QuotaPolicy) -> &'static str {
    match policy {
        QuotaPolicy::ProducerRequestHold => "producer_request_hold",
        QuotaPolicy::ProducerException => "producer_exception",
        QuotaPolicy::ConsumerBacklogEviction => "consumer_backlog_eviction",
    }
}

fn namespace_call(verb: NamespacesVerb) -> Result<Call> {
    use NamespacesVerb as V;
    let ns =
        |n: &str| -> Result<String> { Ok(format!("/admin/v2/namespaces/{}", namespace_path(n)?)) };
    Ok(match verb {
        V::List { tenant } => get(format!("/admin/v2/namespaces/{}", encode(&tenant))),
        V::Create { namespace, bundles } => with(
            Method::PUT,
            ns(&namespace)?,
            bundles.map(|n| json!({"numBundles": n})),
        ),
        V::Policies { namespace } => get(ns(&namespace)?),
        V::SetRetention {
            namespace,
            time,
            size,
        } => with(
            Method::POST,
            ns(&namespace)? + "/retention",
            Some(json!({"retentionTimeInMinutes": time, "retentionSizeInMB": size})),
        ),
        V::GetRetention { namespace } => get(ns(&namespace)? + "/retention"),
        V::RemoveRetention { namespace } => {
            with(Method::DELETE, ns(&namespace)? + "/retention", None)
        }
        V::SetMessageTtl { namespace, ttl } => with(
            Method::POST,
            ns(&namespace)? + "/messageTTL",
            Some(json!(ttl)),
        ),
        V::GetMessageTtl { namespace } => get(ns(&namespace)? + "/messageTTL"),
        V::RemoveMessageTtl { namespace } => {
            with(Method::DELETE, ns(&namespace)? + "/messageTTL", None)
        }
        V::SetBacklogQuota {
            namespace,
            r#type,
            limit_size,
            limit_time,
            policy,
        } => with(
            Method::POST,
            format!(
                "{}/backlogQuota?backlogQuotaType={}",
                ns(&namespace)?,
                quota_type(r#type)
            ),
            Some(json!({
                "limitSize": limit_size.unwrap_or(-1),
                "limitTime": limit_time.unwrap_or(-1),
                "policy": quota_policy(policy),
            })),
        ),
        V::GetBacklogQuotas { namespace } => get(ns(&namespace)? + "/backlogQuotaMap"),
        V::RemoveBacklogQuota { namespace, r#type } => with(
            Method::DELETE,
            format!(
                "{}/backlogQuota?backlogQuotaType={}",
                ns(&namespace)?,
                quota_type(r#type)
            ),
            None,
        ),
        V::SetDeduplication { namespace, enable } => with(
            Method::POST,
            ns(&namespace)? + "/deduplication",
            Some(json!(enable)),
        ),
        V::SetMaxProducersPerTopic { namespace, max } => with(
            Method::POST,
            ns(&namespace)? + "/maxProducersPerTopic",
            Some(json!(max)),
        ),
        V::SetMaxConsumersPerTopic { namespace, max } => with(
            Method::POST,
            ns(&namespace)? + "/maxConsumersPerTopic",
            Some(json!(max)),
        ),
        V::SetClusters {
            namespace,
            clusters,
        } => with(
            Method::POST,
            ns(&namespace)? + "/replication",
            Some(json!(clusters)),
        ),
        V::GetClusters { namespace } => get(ns(&namespace)? + "/replication"),
        V::ClearBacklog { namespace } => {
            with(Method::POST, ns(&namespace)? + "/clearBacklog", None)
        }
        V::Unload { namespace } => with(Method::PUT, ns(&namespace)? + "/unload", None),
        V::Bundles { namespace } => get(ns(&namespace)? + "/bundles"),
    })
}

fn topic_call(verb: TopicsVerb) -> Result<Call> {
    use TopicsVerb as V;
    let t = |topic: &str| -> Result<String> {
        Ok(format!("/admin/v2/persistent/{}", topic_path(topic)?))
    };
    let sub = |topic: &str, subscription: &str| -> Result<String> {
        Ok(format!(
            "{}/subscription/{}",
            t(topic)?,
            encode(subscription)
        ))
    };
    let force = |force: bool| if force { "?force=true" } else { "" };
    Ok(match verb {
        V::List { namespace } => get(format!(
            "/admin/v2/persistent/{}",
            namespace_path(&namespace)?
        )),
        V::Create { topic } => with(Method::PUT, t(&topic)?, None),
        V::Delete { topic, force: f } => with(Method::DELETE, t(&topic)? + force(f), None),
        V::Stats { topic } => get(t(&topic)? + "/stats"),
        V::StatsInternal { topic } => get(t(&topic)? + "/internalStats"),
        V::Subscriptions { topic } => get(t(&topic)? + "/subscriptions"),
        V::CreateSubscription {
            topic,
            subscription,
            message_id: id,
        } => with(
            Method::PUT,
            sub(&topic, &subscription)?,
            Some(message_id(&id)?),
        ),
        V::Unsubscribe {
            topic,
            subscription,
            force: f,
        } => with(Method::DELETE, sub(&topic, &subscription)? + force(f), None),
        V::Skip {
            topic,
            subscription,
            count,
        } => with(
            Method::POST,
            format!("{}/skip/{count}", sub(&topic, &subscription)?),
            None,
        ),
        V::ClearBacklog {
            topic,
            subscription,
        } => with(
            Method::POST,
            sub(&topic, &subscription)? + "/skip_all",
            None,
        ),
        V::ResetCursor {
            topic,
            subscription,
            time,
            message_id: id,
        } => match (time, id) {
            (Some(time), _) => with(
                Method::POST,
                format!("{}/resetcursor/{time}", sub(&topic, &subscription)?),
                None,
            ),
            (None, Some(id)) => with(
                Method::POST,
                sub(&topic, &subscription)? + "/resetcursor",
                Some(message_id(&id)?),
            ),
            (None, None) => bail!("give --time or --message-id"),
        },
        V::ExpireMessages {
            topic,
            subscription,
            expire_time,
        } => with(
            Method::POST,
            format!(
                "{}/expireMessages/{expire_time}",
                sub(&topic, &subscription)?
            ),
            None,
        ),
        V::LastMessageId { topic } => get(t(&topic)? + "/lastMessageId"),
        V::Unload { topic } => with(Method::PUT, t(&topic)? + "/unload", None),
        V::CreatePartitionedTopic { topic, partitions } => with(
            Method::PUT,
            t(&topic)? + "/partitions",
            Some(json!(partitions)),
        ),
        V::UpdatePartitionedTopic { topic, partitions } => with(
            Method::POST,
            t(&topic)? + "/partitions",
            Some(json!(partitions)),
        ),
        V::GetPartitionedTopicMetadata { topic } => get(t(&topic)? + "/partitions"),
        V::DeletePartitionedTopic { topic, force: f } => {
            with(Method::DELETE, t(&topic)? + "/partitions" + force(f), None)
        }
        V::PartitionedStats { topic } => get(t(&topic)? + "/partitioned-stats"),
    })
}

fn call(noun: AdminNoun) -> Result<Call> {
    Ok(match noun {
        AdminNoun::Clusters(ClustersVerb::List) => get("/admin/v2/clusters".into()),
        AdminNoun::Clusters(ClustersVerb::Get { cluster }) => {
            get(format!("/admin/v2/clusters/{}", encode(&cluster)))
        }
        AdminNoun::Tenants(TenantsVerb::List) => get("/admin/v2/tenants".into()),
        AdminNoun::Tenants(TenantsVerb::Get { tenant }) => {
            get(format!("/admin/v2/tenants/{}", encode(&tenant)))
        }
        AdminNoun::Tenants(TenantsVerb::Create {
            tenant,
            admin_roles,
            allowed_clusters,
        }) => with(
            Method::PUT,
            format!("/admin/v2/tenants/{}", encode(&tenant)),
            Some(json!({"adminRoles": admin_roles, "allowedClusters": allowed_clusters})),
        ),
        AdminNoun::Namespaces(verb) => namespace_call(verb)?,
        AdminNoun::Topics(verb) => topic_call(verb)?,
        AdminNoun::Brokers(BrokersVerb::List { cluster }) => {
            get(format!("/admin/v2/brokers/{}", encode(&cluster)))
        }
        AdminNoun::Brokers(BrokersVerb::LeaderBroker) => {
            get("/admin/v2/brokers/leaderBroker".into())
        }
        AdminNoun::Brokers(BrokersVerb::Health) => get("/admin/v2/brokers/health".into()),
        AdminNoun::Bookies(BookiesVerb::List) => get("/admin/v2/bookies/all".into()),
        AdminNoun::Schemas(SchemasVerb::Get { topic }) => {
            get(format!("/admin/v2/schemas/{}/schema", topic_path(&topic)?))
        }
        AdminNoun::Schemas(SchemasVerb::Upload { topic, filename }) => {
            let text = std::fs::read_to_string(&filename)
                .with_context(|| format!("read {}", filename.display()))?;
            let schema: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", filename.display()))?;
            with(
                Method::POST,
                format!("/admin/v2/schemas/{}/schema", topic_path(&topic)?),
                Some(schema),
            )
        }
        AdminNoun::Schemas(SchemasVerb::Delete { topic }) => with(
            Method::DELETE,
            format!("/admin/v2/schemas/{}/schema", topic_path(&topic)?),
            None,
        ),
    })
}

/// Sends `call`, following redirects; the final status and body.
async fn send(base: &str, call: &Call) -> Result<(StatusCode, Bytes)> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let body = match &call.body {
        Some(value) => Bytes::from(serde_json::to_vec(value)?),
        None => Bytes::new(),
    };
    let mut url = format!("{}{}", base.trim_end_matches('/'), call.path);
    for _ in 0..=MAX_REDIRECTS {
        let request = Request::builder()
            .method(call.method.clone())
            .uri(&url)
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .with_context(|| format!("bad URL {url:?}"))?;
        let response = client
            .request(request)
            .await
            .with_context(|| format!("{} {url}", call.method))?;
        let status = response.status();
        if status.is_redirection() {
            if let Some(location) = response.headers().get("location") {
                url = location.to_str().context("redirect location")?.to_string();
                continue;
            }
        }
        let bytes = response.into_body().collect().await?.to_bytes();
        return Ok((status, bytes));
    }
    bail!("{} {url}: more than {MAX_REDIRECTS} redirects", call.method)
}

pub async fn run(args: AdminArgs) -> Result<()> {
    let call = call(args.noun)?;
    let (status, body) = send(&args.url, &call).await?;
    let value: Option<Value> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())),
        )
    };
    if !status.is_success() {
        let reason = value
            .as_ref()
            .and_then(|v| v.get("reason"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        eprintln!(
            "error: {} {}: {reason}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        std::process::exit(1);
    }
    if let Some(value) = value {
        print_answer(&value, args.json)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_map_to_admin_paths() {
        assert_eq!(topic_path("orders").unwrap(), "public/default/orders");
        assert_eq!(topic_path("t/ns/a b").unwrap(), "t/ns/a%20b");
        assert_eq!(
            topic_path("persistent://t/ns/x-partition-1").unwrap(),
            "t/ns/x-partition-1"
        );
        assert!(topic_path("non-persistent://t/ns/x").is_err());
        assert!(topic_path("t/x").is_err());
        assert!(topic_path("t//x").is_err());
    }

    #[test]
    fn message_ids_parse_as_the_api_takes_them() {
        assert_eq!(message_id("earliest").unwrap()["ledgerId"], -1);
        assert_eq!(message_id("latest").unwrap()["entryId"], i64::MAX);
        assert_eq!(message_id("12:5").unwrap()["entryId"], 5);
        assert!(message_id("12").is_err());
        assert!(message_id("a:b").is_err());
    }
}
