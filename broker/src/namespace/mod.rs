//! Namespaces: topic names, bundles (topic → hash range), namespace
//! policies (`limits.rs`: retention, TTL, backlog quotas, producer and
//! consumer caps; `expiry.rs`: inactive topics and subscriptions;
//! `permissions.rs`: roles and their actions), partitioned topics and auto-creation rules, the bootstrap of the default resources, and bundle ownership
//! bound to the broker's metadata session.

mod bundles;
mod compatibility;
mod error;
mod expiry;
mod lifecycle;
mod limits;
mod ownership;
mod partitioned;
mod permissions;
mod policies;
mod topic_name;

pub use bundles::{topic_hash, BundleRange, BundlesData, NamespaceBundles, DEFAULT_BUNDLE_COUNT};
pub use compatibility::CompatibilityStrategy;
pub use error::NamespaceError;
pub use expiry::{ExpiryDefaults, ExpiryLimits, InactiveTopicDeleteMode, InactiveTopicPolicies};
pub use limits::{
    check_quota_within_retention, BacklogQuota, BacklogQuotaMap, BacklogQuotaPolicy,
    BacklogQuotaType, RetentionPolicies, TopicLimits,
};
pub use ownership::{BundleRef, NamespaceService, OwnershipInfo, OWNERSHIP_ROOT};
pub use partitioned::{
    check_partitions, AutoTopicCreation, PartitionedTopicMetadata, TopicType, MAX_PARTITIONS,
    PARTITIONED_TOPICS_ROOT,
};
pub use permissions::{AuthAction, AuthPolicies};
pub use policies::{
    ClusterData, NamespacePolicies, PolicyStore, TenantInfo, CLUSTERS_ROOT, DEFAULT_CLUSTER,
    POLICIES_ROOT, TENANTS_ROOT,
};
pub use topic_name::{
    is_valid_segment, url_decode, url_encode, NamespaceName, TopicDomain, TopicName,
    TopicNameError, DEFAULT_NAMESPACE, DEFAULT_TENANT,
};
