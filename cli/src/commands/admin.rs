//! `magnetar admin`: each verb becomes one admin REST request
//! (`admin_http.rs`; redirects to a topic's owner are followed); the answer
//! is printed as a table, or as the API's JSON with `--json`
//! (`admin_output.rs`). A refused request prints the broker's reason on
//! stderr and exits 1.

use anyhow::{anyhow, bail, Context, Result};
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::admin_http::{get, send_as, with, AdminAccess, Call};
use super::admin_output::{print_answer, print_message};
use crate::admin_args::{
    AdminArgs, AdminNoun, BookiesVerb, BrokersVerb, ClusterUrls, ClustersVerb, NamespacesVerb,
    QuotaPolicy, QuotaType, SchemasVerb, TenantsVerb, TopicsVerb,
};

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
        V::Terminate { topic, partitioned } => with(
            Method::POST,
            t(&topic)? + if partitioned { "/terminate/partitions" } else { "/terminate" },
            None,
        ),
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
        V::PeekMessages { .. } => bail!("peek-messages makes one request per message"),
        V::ExamineMessage {
            topic,
            initial_position,
            message_position,
        } => get(format!(
            "{}/examinemessage?initialPosition={initial_position}&messagePosition={message_position}",
            t(&topic)?
        )),
    })
}

fn call(noun: AdminNoun) -> Result<Call> {
    Ok(match noun {
        AdminNoun::Clusters(ClustersVerb::List) => get("/admin/v2/clusters".into()),
        AdminNoun::Clusters(ClustersVerb::Get { cluster }) => {
            get(format!("/admin/v2/clusters/{}", encode(&cluster)))
        }
        AdminNoun::Clusters(ClustersVerb::Create { cluster, urls }) => with(
            Method::PUT,
            format!("/admin/v2/clusters/{}", encode(&cluster)),
            Some(cluster_body(&urls)),
        ),
        AdminNoun::Clusters(ClustersVerb::Update { cluster, urls }) => with(
            Method::POST,
            format!("/admin/v2/clusters/{}", encode(&cluster)),
            Some(cluster_body(&urls)),
        ),
        AdminNoun::Clusters(ClustersVerb::Delete { cluster }) => with(
            Method::DELETE,
            format!("/admin/v2/clusters/{}", encode(&cluster)),
            None,
        ),
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

pub async fn run(args: AdminArgs) -> Result<()> {
    let access = AdminAccess::from_args(&args.auth)?;
    if let AdminNoun::Topics(TopicsVerb::PeekMessages {
        topic,
        subscription,
        count,
    }) = &args.noun
    {
        let base = format!(
            "/admin/v2/persistent/{}/subscription/{}",
            topic_path(topic)?,
            encode(subscription)
        );
        for n in 1..=*count {
            let position = get(format!("{base}/position/{n}"));
            let answer = send_as(&args.url, &access, &position).await?;
            if answer.status == StatusCode::NOT_FOUND && n > 1 {
                break; // fewer messages than asked for
            }
            print_message(&answer.success()?, args.json)?;
        }
        return Ok(());
    }
    let answer = send_as(&args.url, &access, &call(args.noun)?)
        .await?
        .success()?;
    if answer.header("x-pulsar-message-id").is_some() {
        print_message(&answer, args.json)
    } else if let Some(value) = answer.json() {
        print_answer(&value, args.json)
    } else {
        Ok(())
    }
}

/// Pulsar's `ClusterData` for a create or update.
fn cluster_body(urls: &ClusterUrls) -> Value {
    json!({"serviceUrl": urls.service_url, "brokerServiceUrl": urls.broker_service_url})
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
