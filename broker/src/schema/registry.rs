//! Schema versions in the metadata store: one key per topic,
//! `/schemas/<tenant>/<namespace>/<encoded topic>`, holding every version
//! (JSON). Partitions share their partitioned topic's schemas. A delete
//! appends a tombstone: the versions before it are no longer the topic's
//! schema, and the next schema starts a new history (its version number
//! still grows, so a version never names two schemas).
//!
//! Writes are compare-and-set on the key, retried a few times when
//! another broker wrote in between.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use magnetar_metadata::{Expected, MetadataError, MetadataStore, PutOptions};
use serde::{Deserialize, Serialize};

use super::compat::{check, SchemaDefinition};
use super::kind::SchemaKind;
use super::SchemaError;
use crate::namespace::{url_encode, CompatibilityStrategy, PolicyStore, TopicName};

pub const SCHEMAS_ROOT: &str = "/schemas/";
/// Attempts of one write against concurrent writers.
const CAS_ATTEMPTS: usize = 5;

/// One stored version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSchema {
    pub version: u64,
    pub kind: SchemaKind,
    /// The definition, base64.
    pub data: String,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// A tombstone: the schema was deleted here.
    #[serde(default)]
    pub deleted: bool,
}

impl StoredSchema {
    pub fn definition(&self) -> SchemaDefinition {
        SchemaDefinition {
            kind: self.kind,
            data: base64::engine::general_purpose::STANDARD
                .decode(&self.data)
                .unwrap_or_default(),
            properties: self.properties.clone(),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SchemaHistory {
    versions: Vec<StoredSchema>,
}

impl SchemaHistory {
    /// The versions since the last tombstone.
    fn live(&self) -> &[StoredSchema] {
        let start = self
            .versions
            .iter()
            .rposition(|v| v.deleted)
            .map_or(0, |i| i + 1);
        &self.versions[start..]
    }

    fn next_version(&self) -> u64 {
        self.versions.last().map_or(0, |v| v.version + 1)
    }
}

/// The schema registry.
#[derive(Clone)]
pub struct SchemaRegistry {
    policies: PolicyStore,
    default_strategy: CompatibilityStrategy,
}

impl SchemaRegistry {
    pub fn new(policies: PolicyStore, default_strategy: CompatibilityStrategy) -> Self {
        SchemaRegistry {
            policies,
            default_strategy,
        }
    }

    fn metadata(&self) -> &Arc<dyn MetadataStore> {
        self.policies.metadata()
    }

    /// The latest live version of `topic`'s schema.
    pub async fn latest(&self, topic: &TopicName) -> Result<Option<StoredSchema>, SchemaError> {
        let (history, _) = self.read(topic).await?;
        Ok(history.live().last().cloned())
    }

    /// Version `version` of `topic`'s schema (tombstones are not versions).
    pub async fn version(
        &self,
        topic: &TopicName,
        version: u64,
    ) -> Result<Option<StoredSchema>, SchemaError> {
        let (history, _) = self.read(topic).await?;
        Ok(history
            .versions
            .into_iter()
            .find(|v| v.version == version && !v.deleted))
    }

    /// The version of `candidate` on `topic`: an existing live version with
    /// the same definition, or a new one if it is compatible under the
    /// namespace's strategy.
    pub async fn get_or_create(
        &self,
        topic: &TopicName,
        candidate: &SchemaDefinition,
    ) -> Result<u64, SchemaError> {
        candidate.validate()?;
        let strategy = self.strategy(topic).await?;
        for _ in 0..CAS_ATTEMPTS {
            let (mut history, version) = self.read(topic).await?;
            let live: Vec<SchemaDefinition> = history
                .live()
                .iter()
                .map(StoredSchema::definition)
                .collect();
            if let Some(index) = live.iter().position(|d| d == candidate) {
                return Ok(history.live()[index].version);
            }
            check(strategy, &live, candidate)?;
            let new_version = history.next_version();
            history.versions.push(StoredSchema {
                version: new_version,
                kind: candidate.kind,
                data: base64::engine::general_purpose::STANDARD.encode(&candidate.data),
                properties: candidate.properties.clone(),
                timestamp: now_ms(),
                deleted: false,
            });
            if self.write(topic, &history, version).await? {
                tracing::info!(%topic, version = new_version, kind = %candidate.kind, "registered schema");
                return Ok(new_version);
            }
        }
        Err(SchemaError::Conflict(topic.to_string()))
    }

    /// Whether a consumer with `candidate` may read `topic`: a topic with
    /// no schema takes it as its first; otherwise it must be one of the
    /// versions or compatible with them.
    pub async fn check_for_consumer(
        &self,
        topic: &TopicName,
        candidate: &SchemaDefinition,
    ) -> Result<(), SchemaError> {
        candidate.validate()?;
        let (history, _) = self.read(topic).await?;
        let live: Vec<SchemaDefinition> = history
            .live()
            .iter()
            .map(StoredSchema::definition)
            .collect();
        if live.is_empty() {
            return self.get_or_create(topic, candidate).await.map(|_| ());
        }
        if live.contains(candidate) {
            return Ok(());
        }
        check(self.strategy(topic).await?, &live, candidate)
    }

    /// Deletes the schema (a tombstone); returns the tombstone's version,
    /// `None` when the topic had no schema.
    pub async fn delete(&self, topic: &TopicName) -> Result<Option<u64>, SchemaError> {
        for _ in 0..CAS_ATTEMPTS {
            let (mut history, version) = self.read(topic).await?;
            if history.live().is_empty() {
                return Ok(None);
            }
            let tombstone = history.next_version();
            history.versions.push(StoredSchema {
                version: tombstone,
                kind: SchemaKind::None,
                data: String::new(),
                properties: BTreeMap::new(),
                timestamp: now_ms(),
                deleted: true,
            });
            if self.write(topic, &history, version).await? {
                tracing::info!(%topic, version = tombstone, "deleted schema");
                return Ok(Some(tombstone));
            }
        }
        Err(SchemaError::Conflict(topic.to_string()))
    }

    /// The namespace's strategy, else the broker's.
    async fn strategy(&self, topic: &TopicName) -> Result<CompatibilityStrategy, SchemaError> {
        let policies = self
            .policies
            .namespace_policies(topic.namespace())
            .await
            .map_err(SchemaError::Namespace)?;
        Ok(policies
            .schema_compatibility_strategy
            .unwrap_or(self.default_strategy))
    }

    async fn read(
        &self,
        topic: &TopicName,
    ) -> Result<(SchemaHistory, Option<magnetar_metadata::Version>), SchemaError> {
        let key = schema_key(topic);
        match self.metadata().get(&key).await? {
            Some(stored) => {
                let history =
                    serde_json::from_slice(&stored.value).map_err(|e| SchemaError::Corrupt {
                        key,
                        reason: e.to_string(),
                    })?;
                Ok((history, Some(stored.version)))
            }
            None => Ok((SchemaHistory::default(), None)),
        }
    }

    /// Writes `history` if the key is still at `version`; false when not.
    async fn write(
        &self,
        topic: &TopicName,
        history: &SchemaHistory,
        version: Option<magnetar_metadata::Version>,
    ) -> Result<bool, SchemaError> {
        let key = schema_key(topic);
        let value = serde_json::to_vec(history).map_err(|e| SchemaError::Corrupt {
            key: key.clone(),
            reason: e.to_string(),
        })?;
        let expected = version.map_or(Expected::Absent, Expected::Version);
        match self
            .metadata()
            .put(&key, Bytes::from(value), PutOptions::expect(expected))
            .await
        {
            Ok(_) => Ok(true),
            Err(MetadataError::BadVersion { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}

/// The key of a topic's schemas (the partitioned topic's for a partition).
pub fn schema_key(topic: &TopicName) -> String {
    let base = topic.partitioned_topic();
    format!(
        "{SCHEMAS_ROOT}{}/{}",
        base.namespace(),
        url_encode(base.local_name())
    )
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use magnetar_metadata::MemoryStore;

    use super::*;
    use crate::namespace::ClusterData;

    fn json(fields: &str) -> SchemaDefinition {
        SchemaDefinition {
            kind: SchemaKind::Json,
            data: format!(r#"{{"type":"record","name":"R","fields":[{fields}]}}"#).into_bytes(),
            properties: Default::default(),
        }
    }

    async fn registry() -> SchemaRegistry {
        let policies = PolicyStore::new(Arc::new(MemoryStore::new()));
        policies
            .bootstrap("standalone", ClusterData::default())
            .await
            .unwrap();
        SchemaRegistry::new(policies, CompatibilityStrategy::Full)
    }

    #[tokio::test]
    async fn versions_grow_and_survive_a_delete() {
        let registry = registry().await;
        let topic = TopicName::parse("orders").unwrap();
        let v1 = json(r#"{"name":"a","type":"string"}"#);
        let v2 = json(
            r#"{"name":"a","type":"string"},{"name":"b","type":["null","int"],"default":null}"#,
        );
        assert_eq!(registry.get_or_create(&topic, &v1).await.unwrap(), 0);
        assert_eq!(registry.get_or_create(&topic, &v1).await.unwrap(), 0);
        assert_eq!(
            registry
                .get_or_create(&topic.partition(3), &v2)
                .await
                .unwrap(),
            1
        );
        assert_eq!(registry.latest(&topic).await.unwrap().unwrap().version, 1);
        let breaking = json(r#"{"name":"a","type":"int"}"#);
        assert!(matches!(
            registry.get_or_create(&topic, &breaking).await,
            Err(SchemaError::Incompatible(_))
        ));
        assert_eq!(registry.latest(&topic).await.unwrap().unwrap().version, 1);
        assert_eq!(registry.delete(&topic).await.unwrap(), Some(2));
        assert!(registry.latest(&topic).await.unwrap().is_none());
        assert!(registry.version(&topic, 0).await.unwrap().is_some());
        // After a delete, any schema starts a new history.
        assert_eq!(registry.get_or_create(&topic, &breaking).await.unwrap(), 3);
        assert_eq!(
            registry
                .delete(&TopicName::parse("none").unwrap())
                .await
                .unwrap(),
            None
        );
    }
}
