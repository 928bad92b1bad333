//! Partitioned topics and the rules for creating topics on first use.
//!
//! A partitioned topic `T` with N partitions is N ordinary topics
//! `T-partition-0 … T-partition-(N-1)`; only the count is stored, as JSON
//! `{"partitions": N}` under
//! `/admin/partitioned-topics/<tenant>/<namespace>/<domain>/<encoded local name>`
//! (Pulsar's key and shape). The count only ever grows: an update that
//! lowers it is refused, so a partition never disappears under a client.
//!
//! [`AutoTopicCreation`] is what happens when a client names a topic that
//! does not exist: the broker's default, which a namespace may override
//! (`autoTopicCreationOverride` in its policies, Pulsar's field).

use bytes::Bytes;
use magnetar_metadata::{Expected, MetadataError, PutOptions};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::policies::PolicyStore;
use super::topic_name::url_encode;
use super::{NamespaceError, NamespaceName, TopicName};

pub const PARTITIONED_TOPICS_ROOT: &str = "/admin/partitioned-topics/";

/// The largest partition count accepted, so that one request cannot ask
/// for millions of ledgers.
pub const MAX_PARTITIONS: u32 = 10_000;

/// Pulsar's `PartitionedTopicMetadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PartitionedTopicMetadata {
    pub partitions: u32,
}

/// The kind of topic created on first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
pub enum TopicType {
    #[default]
    #[serde(rename = "non-partitioned")]
    NonPartitioned,
    #[serde(rename = "partitioned")]
    Partitioned,
}

impl std::str::FromStr for TopicType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "non-partitioned" => Ok(TopicType::NonPartitioned),
            "partitioned" => Ok(TopicType::Partitioned),
            other => Err(format!(
                "unknown topic type {other:?}: use partitioned or non-partitioned"
            )),
        }
    }
}

/// Auto-creation of topics (Pulsar's `AutoTopicCreationOverride`, also the
/// broker's `allowAutoTopicCreation*` and `defaultNumPartitions` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoTopicCreation {
    pub allow_auto_topic_creation: bool,
    pub topic_type: TopicType,
    /// Partitions of an auto-created partitioned topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_num_partitions: Option<u32>,
}

impl Default for AutoTopicCreation {
    /// Pulsar's broker default: allowed, non-partitioned.
    fn default() -> Self {
        AutoTopicCreation {
            allow_auto_topic_creation: true,
            topic_type: TopicType::NonPartitioned,
            default_num_partitions: Some(1),
        }
    }
}

impl AutoTopicCreation {
    /// Refuses settings that contradict each other.
    pub fn validate(&self) -> Result<(), NamespaceError> {
        if self.topic_type == TopicType::Partitioned {
            match self.default_num_partitions {
                Some(n) => check_partitions(n)?,
                None => {
                    return Err(NamespaceError::InvalidPartitions(
                        "a partitioned topic type needs defaultNumPartitions".into(),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Partitions of a topic created on first use: `None` when topics are
    /// not created, `Some(0)` for a non-partitioned one.
    pub fn partitions_on_create(&self) -> Option<u32> {
        if !self.allow_auto_topic_creation {
            return None;
        }
        Some(match self.topic_type {
            TopicType::NonPartitioned => 0,
            TopicType::Partitioned => self.default_num_partitions.unwrap_or(1).max(1),
        })
    }
}

/// Refuses a partition count of 0 or above [`MAX_PARTITIONS`].
pub fn check_partitions(count: u32) -> Result<(), NamespaceError> {
    if count == 0 {
        return Err(NamespaceError::InvalidPartitions(
            "the number of partitions must be at least 1".into(),
        ));
    }
    if count > MAX_PARTITIONS {
        return Err(NamespaceError::InvalidPartitions(format!(
            "the number of partitions must be at most {MAX_PARTITIONS}"
        )));
    }
    Ok(())
}

/// The key of a partitioned topic's metadata.
pub fn partitioned_topic_key(topic: &TopicName) -> String {
    format!(
        "{PARTITIONED_TOPICS_ROOT}{}/{}/{}",
        topic.namespace(),
        topic.domain().as_str(),
        url_encode(topic.local_name())
    )
}

impl PolicyStore {
    /// The partition count of `topic`, `None` when it is not partitioned.
    pub async fn partitioned_topic(
        &self,
        topic: &TopicName,
    ) -> Result<Option<PartitionedTopicMetadata>, NamespaceError> {
        self.read(&partitioned_topic_key(topic)).await
    }

    /// Stores the count of a new partitioned topic; `AlreadyExists` if it
    /// is partitioned already.
    pub async fn create_partitioned_topic(
        &self,
        topic: &TopicName,
        partitions: u32,
    ) -> Result<(), NamespaceError> {
        check_partitions(partitions)?;
        self.create(
            &partitioned_topic_key(topic),
            &PartitionedTopicMetadata { partitions },
            format!("partitioned topic {topic}"),
        )
        .await
    }

    /// Raises the count (one CAS). Returns the previous count; refuses a
    /// count that is not larger.
    pub async fn update_partitioned_topic(
        &self,
        topic: &TopicName,
        partitions: u32,
    ) -> Result<u32, NamespaceError> {
        check_partitions(partitions)?;
        let key = partitioned_topic_key(topic);
        let stored = self
            .metadata()
            .get(&key)
            .await?
            .ok_or_else(|| NamespaceError::PartitionedTopicNotFound(topic.to_string()))?;
        let current: PartitionedTopicMetadata =
            serde_json::from_slice(&stored.value).map_err(|e| NamespaceError::Corrupt {
                key: key.clone(),
                reason: e.to_string(),
            })?;
        if partitions <= current.partitions {
            return Err(NamespaceError::InvalidPartitions(format!(
                "{topic} has {} partitions; the count can only grow",
                current.partitions
            )));
        }
        let value = serde_json::to_vec(&PartitionedTopicMetadata { partitions }).map_err(|e| {
            NamespaceError::Corrupt {
                key: key.clone(),
                reason: e.to_string(),
            }
        })?;
        match self
            .metadata()
            .put(
                &key,
                Bytes::from(value),
                PutOptions::expect(Expected::Version(stored.version)),
            )
            .await
        {
            Ok(_) => Ok(current.partitions),
            Err(MetadataError::BadVersion { .. }) => {
                Err(NamespaceError::Conflict(topic.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the count; `PartitionedTopicNotFound` when there is none.
    pub async fn delete_partitioned_topic(&self, topic: &TopicName) -> Result<(), NamespaceError> {
        let key = partitioned_topic_key(topic);
        if self.metadata().get(&key).await?.is_none() {
            return Err(NamespaceError::PartitionedTopicNotFound(topic.to_string()));
        }
        self.metadata().delete(&key, Expected::Any).await?;
        Ok(())
    }

    /// The partitioned topics of a namespace (persistent domain), as full names.
    pub async fn partitioned_topics(
        &self,
        namespace: &NamespaceName,
    ) -> Result<Vec<String>, NamespaceError> {
        let prefix = format!("{PARTITIONED_TOPICS_ROOT}{namespace}/persistent/");
        let names = self.child_names(&prefix).await?;
        Ok(names
            .iter()
            .filter_map(|encoded| super::url_decode(encoded))
            .filter_map(|local| {
                TopicName::new(super::TopicDomain::Persistent, namespace.clone(), &local).ok()
            })
            .map(|topic| topic.to_string())
            .collect())
    }

    /// The auto-creation rules for topics of `namespace`: its override, or
    /// `broker_default`. `NamespaceNotFound` when the namespace does not exist.
    pub async fn auto_topic_creation(
        &self,
        namespace: &NamespaceName,
        broker_default: AutoTopicCreation,
    ) -> Result<AutoTopicCreation, NamespaceError> {
        let policies = self.namespace_policies(namespace).await?;
        Ok(policies
            .auto_topic_creation_override
            .unwrap_or(broker_default))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_outside_one_to_max_are_refused() {
        assert!(check_partitions(0).is_err());
        assert!(check_partitions(1).is_ok());
        assert!(check_partitions(MAX_PARTITIONS).is_ok());
        assert!(check_partitions(MAX_PARTITIONS + 1).is_err());
    }

    #[test]
    fn auto_creation_json_has_pulsar_field_names() {
        let rules: AutoTopicCreation = serde_json::from_str(
            r#"{"allowAutoTopicCreation":true,"topicType":"partitioned","defaultNumPartitions":3}"#,
        )
        .unwrap();
        assert_eq!(rules.partitions_on_create(), Some(3));
        assert!(rules.validate().is_ok());
        let missing: AutoTopicCreation =
            serde_json::from_str(r#"{"allowAutoTopicCreation":true,"topicType":"partitioned"}"#)
                .unwrap();
        assert!(missing.validate().is_err());
        let off = AutoTopicCreation {
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        assert_eq!(off.partitions_on_create(), None);
        assert_eq!(AutoTopicCreation::default().partitions_on_create(), Some(0));
        assert!(serde_json::from_str::<AutoTopicCreation>(
            r#"{"allowAutoTopicCreation":true,"topicType":"sharded"}"#
        )
        .is_err());
    }

    #[test]
    fn keys_encode_the_local_name() {
        let topic = TopicName::parse("persistent://acme/ns/a b").unwrap();
        assert_eq!(
            partitioned_topic_key(&topic),
            "/admin/partitioned-topics/acme/ns/persistent/a+b"
        );
    }
}
