//! Discovery commands: LOOKUP, PARTITIONED_METADATA, GET_TOPICS_OF_NAMESPACE
//! and GET_SCHEMA.

use magnetar_proto::pulsar::api::command_get_topics_of_namespace::Mode;
use magnetar_proto::pulsar::api::command_lookup_topic_response::LookupType;
use magnetar_proto::pulsar::api::command_partitioned_topic_metadata_response::LookupType as MetadataLookupType;
use magnetar_proto::pulsar::api::{
    CommandGetOrCreateSchema, CommandGetOrCreateSchemaResponse, CommandGetSchema,
    CommandGetSchemaResponse, CommandGetTopicsOfNamespace, CommandGetTopicsOfNamespaceResponse,
    CommandLookupTopic, CommandLookupTopicResponse, CommandPartitionedTopicMetadata,
    CommandPartitionedTopicMetadataResponse, KeyValue, Schema, ServerError,
};

use magnetar_proto::pulsar::commands;

use super::connection::Connection;
use super::topic_list::{topics_hash, topics_of_ledgers, TopicPattern};
use crate::namespace::NamespaceName;
use crate::schema::{parse_version, version_bytes};
use crate::security::TopicOperation;
use crate::topic::{LookupAnswer, TopicError, TopicName};
use crate::wire::storage_server_error;

impl Connection {
    /// Answers `Connect` with the owner's URL, or `Redirect` to the broker
    /// that owns or will place the topic's bundle (see `cluster::lookup`).
    pub(super) async fn handle_lookup(&self, lookup: CommandLookupTopic) {
        let request_id = lookup.request_id;
        let authoritative = lookup.authoritative.unwrap_or(false);
        let listener = lookup
            .advertised_listener_name
            .as_deref()
            .filter(|name| !name.is_empty());
        let result = match TopicName::parse(&lookup.topic) {
            Ok(topic) => match self
                .authorize_namespace(topic.namespace(), TopicOperation::Lookup)
                .await
            {
                Ok(()) => self
                    .context
                    .ownership
                    .lookup(&topic, authoritative, listener)
                    .await
                    .map_err(TopicError::from),
                Err(error) => Err(error.into()),
            },
            Err(error) => Err(error.into()),
        };
        let response = match result {
            Ok(LookupAnswer::Connect(target)) => CommandLookupTopicResponse {
                broker_service_url: Some(target.service_url),
                broker_service_url_tls: target.service_url_tls,
                response: Some(LookupType::Connect as i32),
                request_id,
                authoritative: Some(true),
                ..Default::default()
            },
            Ok(LookupAnswer::Redirect {
                target,
                authoritative,
            }) => CommandLookupTopicResponse {
                broker_service_url: Some(target.service_url),
                broker_service_url_tls: target.service_url_tls,
                response: Some(LookupType::Redirect as i32),
                request_id,
                authoritative: Some(authoritative),
                ..Default::default()
            },
            Err(error) => {
                tracing::info!(topic = %lookup.topic, error = %error, "lookup failed");
                CommandLookupTopicResponse {
                    response: Some(LookupType::Failed as i32),
                    request_id,
                    error: Some(error.server_error() as i32),
                    message: Some(error.to_string()),
                    ..Default::default()
                }
            }
        };
        self.out.send(response);
    }

    /// The partition count from the catalog (0: not partitioned); a topic
    /// that does not exist may be created partitioned here, as the
    /// auto-creation rules say and unless the client opted out.
    pub(super) async fn handle_partitioned_metadata(
        &self,
        request: CommandPartitionedTopicMetadata,
    ) {
        let create = request.metadata_auto_creation_enabled.unwrap_or(true);
        let result = match TopicName::parse(&request.topic) {
            Ok(topic) => match self
                .authorize_namespace(topic.namespace(), TopicOperation::Lookup)
                .await
            {
                Ok(()) => {
                    self.context
                        .topics
                        .catalog()
                        .partitions(&topic, create)
                        .await
                }
                Err(error) => Err(error.into()),
            },
            Err(error) => Err(error.into()),
        };
        let response = match result {
            Ok(partitions) => CommandPartitionedTopicMetadataResponse {
                partitions: Some(partitions),
                request_id: request.request_id,
                response: Some(MetadataLookupType::Success as i32),
                ..Default::default()
            },
            Err(error) => {
                tracing::info!(topic = %request.topic, error = %error, "partitioned metadata refused");
                CommandPartitionedTopicMetadataResponse {
                    request_id: request.request_id,
                    response: Some(MetadataLookupType::Failed as i32),
                    error: Some(error.server_error() as i32),
                    message: Some(error.to_string()),
                    ..Default::default()
                }
            }
        };
        self.out.send(response);
    }

    /// Lists the namespace's persistent topics from the stored managed
    /// ledgers, filtered by the request's pattern when it has a usable one
    /// (else the whole list, `filtered=false`, for the client to filter),
    /// with the list's hash; no topics and `changed=false` when the
    /// client's hash is current.
    pub(super) async fn handle_topics_of_namespace(&self, request: CommandGetTopicsOfNamespace) {
        tracing::debug!(namespace = %request.namespace, request_id = request.request_id, "GET_TOPICS_OF_NAMESPACE");
        if let Ok(namespace) = NamespaceName::parse(request.namespace.trim_end_matches('/')) {
            if let Err(error) = self
                .authorize_namespace(&namespace, TopicOperation::Lookup)
                .await
            {
                let error = TopicError::from(error);
                self.out.send(commands::error(
                    request.request_id,
                    error.server_error(),
                    error.to_string(),
                ));
                return;
            }
        }
        let prefix = format!("{}/persistent/", request.namespace.trim_end_matches('/'));
        // There are no non-persistent topics; ALL lists the persistent ones.
        let listed = match request.mode() {
            Mode::NonPersistent => Ok(Vec::new()),
            Mode::Persistent | Mode::All => self.context.topics.factory().list(&prefix).await,
        };
        match listed {
            Ok(names) => {
                let all = topics_of_ledgers(&names);
                let pattern = request.topics_pattern.as_deref().and_then(|pattern| {
                    TopicPattern::compile(pattern)
                        .inspect_err(|error| {
                            tracing::debug!(error = %error, "answering the topic list unfiltered");
                        })
                        .ok()
                });
                let filtered = pattern.is_some();
                let topics = match pattern {
                    Some(pattern) => pattern.filter(all),
                    None => all,
                };
                let hash = topics_hash(&topics);
                let changed = request.topics_hash.as_deref() != Some(hash.as_str());
                self.out.send(CommandGetTopicsOfNamespaceResponse {
                    request_id: request.request_id,
                    topics: if changed { topics } else { Vec::new() },
                    filtered: Some(filtered),
                    topics_hash: Some(hash),
                    changed: Some(changed),
                });
            }
            Err(error) => {
                tracing::warn!(namespace = %request.namespace, error = %error, "listing topics failed");
                self.out.send(commands::error(
                    request.request_id,
                    storage_server_error(&error),
                    error.to_string(),
                ));
            }
        }
    }

    /// The version of the client's schema, registered if it is new and
    /// compatible.
    pub(super) async fn handle_get_or_create_schema(&self, request: CommandGetOrCreateSchema) {
        let result: Result<_, TopicError> = async {
            let topic = TopicName::parse(&request.topic)?;
            self.authorize_namespace(topic.namespace(), TopicOperation::Produce)
                .await?;
            let definition = super::produce::definition(&request.schema)?;
            Ok(self
                .context
                .topics
                .catalog()
                .schemas()
                .get_or_create(&topic, &definition)
                .await?)
        }
        .await;
        let response = match result {
            Ok(version) => CommandGetOrCreateSchemaResponse {
                request_id: request.request_id,
                error_code: None,
                error_message: None,
                schema_version: Some(version_bytes(version)),
            },
            Err(error) => {
                tracing::info!(topic = %request.topic, error = %error, "schema refused");
                CommandGetOrCreateSchemaResponse {
                    request_id: request.request_id,
                    error_code: Some(error.server_error() as i32),
                    error_message: Some(error.to_string()),
                    schema_version: None,
                }
            }
        };
        self.out.send(response);
    }

    /// A version of the topic's schema: the one named, else the latest.
    pub(super) async fn handle_get_schema(&self, request: CommandGetSchema) {
        let found: Result<_, TopicError> = async {
            let topic = TopicName::parse(&request.topic)?;
            self.authorize_namespace(topic.namespace(), TopicOperation::Lookup)
                .await?;
            let schemas = self.context.topics.catalog().schemas();
            Ok(
                match request.schema_version.as_deref().filter(|v| !v.is_empty()) {
                    Some(bytes) => match parse_version(bytes) {
                        Some(version) => schemas.version(&topic, version).await?,
                        None => None,
                    },
                    None => schemas.latest(&topic).await?,
                },
            )
        }
        .await;
        let response = match found {
            Ok(Some(stored)) => {
                let definition = stored.definition();
                CommandGetSchemaResponse {
                    request_id: request.request_id,
                    error_code: None,
                    error_message: None,
                    schema: Some(Schema {
                        name: request.topic.clone(),
                        schema_data: definition.data.into(),
                        r#type: definition.kind.to_wire() as i32,
                        properties: definition
                            .properties
                            .into_iter()
                            .map(|(key, value)| KeyValue { key, value })
                            .collect(),
                    }),
                    schema_version: Some(version_bytes(stored.version)),
                }
            }
            Ok(None) => CommandGetSchemaResponse {
                request_id: request.request_id,
                error_code: Some(ServerError::TopicNotFound as i32),
                error_message: Some(format!("no schema for topic {}", request.topic)),
                schema: None,
                schema_version: None,
            },
            Err(error) => CommandGetSchemaResponse {
                request_id: request.request_id,
                error_code: Some(error.server_error() as i32),
                error_message: Some(error.to_string()),
                schema: None,
                schema_version: None,
            },
        };
        self.out.send(response);
    }
}
