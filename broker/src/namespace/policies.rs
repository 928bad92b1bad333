//! Clusters, tenants and namespace policies in the metadata store, and the
//! idempotent bootstrap of the default `standalone` / `public` /
//! `public/default` resources.
//!
//! Keys (JSON values, Pulsar field names):
//! - `/admin/clusters/<cluster>`: [`ClusterData`]
//! - `/admin/tenants/<tenant>`: [`TenantInfo`]
//! - `/admin/policies/<tenant>/<namespace>`: [`NamespacePolicies`]
//!
//! Creation is a put with `Expected::Absent`, so concurrent creators agree
//! on one winner and the others see `AlreadyExists`.

use std::sync::Arc;

use bytes::Bytes;
use magnetar_metadata::{Expected, MetadataError, MetadataStore, PutOptions};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::bundles::{BundleRange, BundlesData, NamespaceBundles, DEFAULT_BUNDLE_COUNT};
use super::compatibility::CompatibilityStrategy;
use super::expiry::InactiveTopicPolicies;
use super::limits::{
    BacklogQuota, BacklogQuotaMap, BacklogQuotaType, RetentionPolicies, TopicLimits,
};
use super::partitioned::AutoTopicCreation;
use super::permissions::AuthPolicies;
use super::topic_name::{is_valid_segment, DEFAULT_NAMESPACE, DEFAULT_TENANT};
use super::{NamespaceError, NamespaceName, TopicNameError};

pub const CLUSTERS_ROOT: &str = "/admin/clusters/";
pub const TENANTS_ROOT: &str = "/admin/tenants/";
pub const POLICIES_ROOT: &str = "/admin/policies/";
pub const DEFAULT_CLUSTER: &str = "standalone";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterData {
    pub service_url: String,
    pub broker_service_url: String,
    /// What replicators present to this cluster's brokers: a client
    /// plugin (`token`, `basic`, or Pulsar's class names) and its
    /// parameters, as Pulsar's cluster data carries them. Unset: the
    /// broker's own client credential, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_plugin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(write_only)]
    pub authentication_parameters: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct TenantInfo {
    pub admin_roles: Vec<String>,
    pub allowed_clusters: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacePolicies {
    pub bundles: BundlesData,
    #[serde(default)]
    pub replication_clusters: Vec<String>,
    /// Overrides the broker's auto-creation of topics (`None`: the broker's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_topic_creation_override: Option<AutoTopicCreation>,
    /// Overrides the broker's deduplication (`None`: the broker's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deduplication_enabled: Option<bool>,
    /// How new schema versions are checked (`None`: the broker's); Pulsar's
    /// field name.
    #[serde(
        default,
        rename = "schema_compatibility_strategy",
        skip_serializing_if = "Option::is_none"
    )]
    pub schema_compatibility_strategy: Option<CompatibilityStrategy>,
    /// Consumed messages kept (`None`: the broker's, which keeps nothing).
    #[serde(
        default,
        rename = "retention_policies",
        skip_serializing_if = "Option::is_none"
    )]
    pub retention_policies: Option<RetentionPolicies>,
    /// Messages older than this leave every backlog (`None` or 0: never).
    #[serde(
        default,
        rename = "message_ttl_in_seconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_ttl_in_seconds: Option<u32>,
    #[serde(
        default,
        rename = "backlog_quota_map",
        skip_serializing_if = "BacklogQuotaMap::is_empty"
    )]
    #[schema(value_type = std::collections::BTreeMap<BacklogQuotaType, BacklogQuota>)]
    pub backlog_quota_map: BacklogQuotaMap,
    #[serde(
        default,
        rename = "max_producers_per_topic",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_producers_per_topic: Option<u32>,
    #[serde(
        default,
        rename = "max_consumers_per_topic",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_consumers_per_topic: Option<u32>,
    /// Unacknowledged messages at which a consumer, or a subscription's
    /// consumers together, get nothing more (`None`: the broker's; 0: no
    /// limit).
    #[serde(
        default,
        rename = "max_unacked_messages_per_consumer",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_unacked_messages_per_consumer: Option<u32>,
    #[serde(
        default,
        rename = "max_unacked_messages_per_subscription",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_unacked_messages_per_subscription: Option<u32>,
    /// Subscriptions without consumers for this long are deleted (`None`:
    /// the broker's; 0: never).
    #[serde(
        default,
        rename = "subscription_expiration_time_minutes",
        skip_serializing_if = "Option::is_none"
    )]
    pub subscription_expiration_time_minutes: Option<u32>,
    /// Whether topics without clients are deleted (`None`: the broker's).
    #[serde(
        default,
        rename = "inactive_topic_policies",
        skip_serializing_if = "Option::is_none"
    )]
    pub inactive_topic_policies: Option<InactiveTopicPolicies>,
    /// Bytes not yet compacted at which a topic is compacted (`None`, 0:
    /// never); Pulsar's field name.
    #[serde(
        default,
        rename = "compaction_threshold",
        skip_serializing_if = "Option::is_none"
    )]
    pub compaction_threshold: Option<i64>,
    /// Roles and what each may do (Pulsar's `auth_policies`).
    #[serde(
        default,
        rename = "auth_policies",
        skip_serializing_if = "AuthPolicies::is_empty"
    )]
    pub auth_policies: AuthPolicies,
}

impl NamespacePolicies {
    pub fn with_bundles(count: u32) -> Result<Self, NamespaceError> {
        Ok(NamespacePolicies {
            bundles: NamespaceBundles::equal(count)?.to_data(),
            replication_clusters: Vec::new(),
            auto_topic_creation_override: None,
            deduplication_enabled: None,
            schema_compatibility_strategy: None,
            retention_policies: None,
            message_ttl_in_seconds: None,
            backlog_quota_map: BacklogQuotaMap::new(),
            max_producers_per_topic: None,
            max_consumers_per_topic: None,
            max_unacked_messages_per_consumer: None,
            max_unacked_messages_per_subscription: None,
            subscription_expiration_time_minutes: None,
            inactive_topic_policies: None,
            compaction_threshold: None,
            auth_policies: AuthPolicies::default(),
        })
    }

    /// What these policies say for each topic of the namespace; a cap of
    /// 0 is no cap, as in Pulsar.
    pub fn topic_limits(&self) -> TopicLimits {
        TopicLimits {
            retention: self.retention_policies,
            message_ttl: self
                .message_ttl_in_seconds
                .filter(|&s| s > 0)
                .map(|s| std::time::Duration::from_secs(u64::from(s))),
            backlog_quotas: self.backlog_quota_map.clone(),
            max_producers: self.max_producers_per_topic.filter(|&n| n > 0),
            max_consumers: self.max_consumers_per_topic.filter(|&n| n > 0),
            replication_clusters: self.replication_clusters.clone(),
            max_unacked_per_consumer: self.max_unacked_messages_per_consumer.map(u64::from),
            max_unacked_per_subscription: self.max_unacked_messages_per_subscription.map(u64::from),
            subscription_expiration_minutes: self.subscription_expiration_time_minutes,
            inactive_topics: self.inactive_topic_policies,
            compaction_threshold: self
                .compaction_threshold
                .and_then(|t| u64::try_from(t).ok())
                .filter(|&t| t > 0),
        }
    }
}

/// Typed access to clusters, tenants and namespace policies.
#[derive(Clone)]
pub struct PolicyStore {
    metadata: Arc<dyn MetadataStore>,
}

impl PolicyStore {
    pub fn new(metadata: Arc<dyn MetadataStore>) -> Self {
        PolicyStore { metadata }
    }

    pub fn metadata(&self) -> &Arc<dyn MetadataStore> {
        &self.metadata
    }

    /// Creates cluster `cluster`, tenant `public` and namespace
    /// `public/default` (4 bundles) when absent. Safe to run on every start
    /// and from several brokers at once.
    pub async fn bootstrap(&self, cluster: &str, data: ClusterData) -> Result<(), NamespaceError> {
        ignore_exists(self.create_cluster(cluster, &data).await)?;
        let tenant = TenantInfo {
            admin_roles: Vec::new(),
            allowed_clusters: vec![cluster.to_string()],
        };
        ignore_exists(self.create_tenant(DEFAULT_TENANT, &tenant).await)?;
        let namespace = NamespaceName::new(DEFAULT_TENANT, DEFAULT_NAMESPACE)?;
        let mut policies = NamespacePolicies::with_bundles(DEFAULT_BUNDLE_COUNT)?;
        policies.replication_clusters = vec![cluster.to_string()];
        ignore_exists(self.create_namespace(&namespace, &policies).await)?;
        tracing::info!(
            cluster,
            "bootstrapped default cluster, tenant and namespace"
        );
        Ok(())
    }

    pub async fn create_cluster(
        &self,
        name: &str,
        data: &ClusterData,
    ) -> Result<(), NamespaceError> {
        check_segment(name)?;
        self.create(
            &format!("{CLUSTERS_ROOT}{name}"),
            data,
            format!("cluster {name}"),
        )
        .await
    }

    pub async fn cluster(&self, name: &str) -> Result<ClusterData, NamespaceError> {
        self.read(&format!("{CLUSTERS_ROOT}{name}"))
            .await?
            .ok_or_else(|| NamespaceError::ClusterNotFound(name.into()))
    }

    pub async fn clusters(&self) -> Result<Vec<String>, NamespaceError> {
        self.child_names(CLUSTERS_ROOT).await
    }

    pub async fn create_tenant(&self, name: &str, info: &TenantInfo) -> Result<(), NamespaceError> {
        check_segment(name)?;
        self.create(
            &format!("{TENANTS_ROOT}{name}"),
            info,
            format!("tenant {name}"),
        )
        .await
    }

    pub async fn tenant(&self, name: &str) -> Result<TenantInfo, NamespaceError> {
        self.read(&format!("{TENANTS_ROOT}{name}"))
            .await?
            .ok_or_else(|| NamespaceError::TenantNotFound(name.into()))
    }

    pub async fn tenants(&self) -> Result<Vec<String>, NamespaceError> {
        self.child_names(TENANTS_ROOT).await
    }

    /// Creates a namespace; its tenant must exist.
    pub async fn create_namespace(
        &self,
        namespace: &NamespaceName,
        policies: &NamespacePolicies,
    ) -> Result<(), NamespaceError> {
        NamespaceBundles::from_data(&policies.bundles)?;
        self.tenant(namespace.tenant()).await?;
        self.create(
            &policies_key(namespace),
            policies,
            format!("namespace {namespace}"),
        )
        .await
    }

    pub async fn namespace_policies(
        &self,
        namespace: &NamespaceName,
    ) -> Result<NamespacePolicies, NamespaceError> {
        self.read(&policies_key(namespace))
            .await?
            .ok_or_else(|| NamespaceError::NamespaceNotFound(namespace.to_string()))
    }

    pub async fn namespace_bundles(
        &self,
        namespace: &NamespaceName,
    ) -> Result<NamespaceBundles, NamespaceError> {
        NamespaceBundles::from_data(&self.namespace_policies(namespace).await?.bundles)
    }

    /// Replaces `range` by its two halves in the namespace's boundaries
    /// (one CAS on the policies, so concurrent splits cannot lose one).
    pub async fn split_bundle(
        &self,
        namespace: &NamespaceName,
        range: &BundleRange,
    ) -> Result<[BundleRange; 2], NamespaceError> {
        self.update_namespace_policies(namespace, |policies| {
            let (bundles, halves) = NamespaceBundles::from_data(&policies.bundles)?.split(range)?;
            policies.bundles = bundles.to_data();
            Ok(halves)
        })
        .await
    }

    /// Changes a namespace's policies with `change` (one CAS; a concurrent
    /// change is `Conflict`) and returns what `change` returned.
    pub async fn update_namespace_policies<T>(
        &self,
        namespace: &NamespaceName,
        change: impl FnOnce(&mut NamespacePolicies) -> Result<T, NamespaceError>,
    ) -> Result<T, NamespaceError> {
        let key = policies_key(namespace);
        let stored = self
            .metadata
            .get(&key)
            .await?
            .ok_or_else(|| NamespaceError::NamespaceNotFound(namespace.to_string()))?;
        let mut policies: NamespacePolicies =
            serde_json::from_slice(&stored.value).map_err(|e| corrupt(&key, e))?;
        let changed = change(&mut policies)?;
        let value = Bytes::from(serde_json::to_vec(&policies).map_err(|e| corrupt(&key, e))?);
        match self
            .metadata
            .put(
                &key,
                value,
                PutOptions::expect(Expected::Version(stored.version)),
            )
            .await
        {
            Ok(_) => Ok(changed),
            Err(MetadataError::BadVersion { .. }) => {
                Err(NamespaceError::Conflict(namespace.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Namespaces of a tenant as `tenant/namespace`; the tenant must exist.
    pub async fn namespaces(&self, tenant: &str) -> Result<Vec<String>, NamespaceError> {
        self.tenant(tenant).await?;
        let names = self
            .child_names(&format!("{POLICIES_ROOT}{tenant}/"))
            .await?;
        Ok(names
            .into_iter()
            .map(|ns| format!("{tenant}/{ns}"))
            .collect())
    }

    pub(super) async fn create<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        what: String,
    ) -> Result<(), NamespaceError> {
        let bytes = Bytes::from(serde_json::to_vec(value).map_err(|e| corrupt(key, e))?);
        match self
            .metadata
            .put(key, bytes, PutOptions::expect(Expected::Absent))
            .await
        {
            Ok(_) => Ok(()),
            Err(MetadataError::BadVersion { .. }) => Err(NamespaceError::AlreadyExists(what)),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn read<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
    ) -> Result<Option<T>, NamespaceError> {
        match self.metadata.get(key).await? {
            Some(stored) => serde_json::from_slice(&stored.value)
                .map(Some)
                .map_err(|e| corrupt(key, e)),
            None => Ok(None),
        }
    }

    /// Direct children names under `prefix` (deeper keys are skipped).
    pub(super) async fn child_names(&self, prefix: &str) -> Result<Vec<String>, NamespaceError> {
        Ok(self
            .metadata
            .list_all(prefix)
            .await?
            .iter()
            .map(|(k, _)| &k[prefix.len()..])
            .filter(|n| !n.contains('/'))
            .map(String::from)
            .collect())
    }
}

pub fn policies_key(namespace: &NamespaceName) -> String {
    format!(
        "{POLICIES_ROOT}{}/{}",
        namespace.tenant(),
        namespace.namespace()
    )
}

fn check_segment(name: &str) -> Result<(), NamespaceError> {
    if is_valid_segment(name) {
        Ok(())
    } else {
        Err(TopicNameError::InvalidNamespace {
            name: name.to_string(),
            reason: "use only [A-Za-z0-9-_=:.]",
        }
        .into())
    }
}

fn ignore_exists(result: Result<(), NamespaceError>) -> Result<(), NamespaceError> {
    match result {
        Err(NamespaceError::AlreadyExists(_)) => Ok(()),
        other => other,
    }
}

fn corrupt(key: &str, error: serde_json::Error) -> NamespaceError {
    NamespaceError::Corrupt {
        key: key.to_string(),
        reason: error.to_string(),
    }
}
