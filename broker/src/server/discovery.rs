//! Discovery commands: LOOKUP, PARTITIONED_METADATA, GET_TOPICS_OF_NAMESPACE
//! and GET_SCHEMA.

use magnetar_proto::pulsar::api::command_lookup_topic_response::LookupType;
use magnetar_proto::pulsar::api::command_partitioned_topic_metadata_response::LookupType as MetadataLookupType;
use magnetar_proto::pulsar::api::{
    CommandGetOrCreateSchema, CommandGetOrCreateSchemaResponse, CommandGetSchema,
    CommandGetSchemaResponse, CommandGetTopicsOfNamespace, CommandGetTopicsOfNamespaceResponse,
    CommandLookupTopic, CommandLookupTopicResponse, CommandPartitionedTopicMetadata,
    CommandPartitionedTopicMetadataResponse, ServerError,
};

use super::connection::Connection;
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
            Ok(topic) => self
                .context
                .ownership
                .lookup(&topic, authoritative, listener)
                .await
                .map_err(TopicError::from),
            Err(error) => Err(error.into()),
        };
        let response = match result {
            Ok(LookupAnswer::Connect(target)) => CommandLookupTopicResponse {
                broker_service_url: Some(target.service_url),
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

    /// Auto-created topics are non-partitioned: 0 partitions.
    pub(super) fn handle_partitioned_metadata(&self, request: CommandPartitionedTopicMetadata) {
        let response = match TopicName::parse(&request.topic) {
            Ok(_) => CommandPartitionedTopicMetadataResponse {
                partitions: Some(0),
                request_id: request.request_id,
                response: Some(MetadataLookupType::Success as i32),
                ..Default::default()
            },
            Err(error) => CommandPartitionedTopicMetadataResponse {
                request_id: request.request_id,
                response: Some(MetadataLookupType::Failed as i32),
                error: Some(ServerError::InvalidTopicName as i32),
                message: Some(error.to_string()),
                ..Default::default()
            },
        };
        self.out.send(response);
    }

    /// Lists the namespace's persistent topics from the stored managed ledgers.
    pub(super) async fn handle_topics_of_namespace(&self, request: CommandGetTopicsOfNamespace) {
        tracing::debug!(namespace = %request.namespace, request_id = request.request_id, "GET_TOPICS_OF_NAMESPACE");
        let prefix = format!("{}/persistent/", request.namespace.trim_end_matches('/'));
        match self.context.topics.factory().list(&prefix).await {
            Ok(names) => {
                let topics = names
                    .iter()
                    .filter_map(|name| TopicName::from_persistence_name(name).ok())
                    .map(|topic| topic.to_string())
                    .collect();
                self.out.send(CommandGetTopicsOfNamespaceResponse {
                    request_id: request.request_id,
                    topics,
                    filtered: Some(false),
                    topics_hash: None,
                    changed: Some(true),
                });
            }
            Err(error) => {
                tracing::warn!(namespace = %request.namespace, error = %error, "listing topics failed");
                self.out.send(magnetar_proto::pulsar::commands::error(
                    request.request_id,
                    storage_server_error(&error),
                    error.to_string(),
                ));
            }
        }
    }

    /// No schema registry: every topic answers "no schema", which clients
    /// treat as a schema-less (bytes) topic.
    /// Schemas are not stored yet: the client gets a clear refusal rather
    /// than no answer (a producer or consumer with a schema then fails to
    /// start instead of hanging). Clients without a schema never send it.
    pub(super) fn handle_get_or_create_schema(&self, request: CommandGetOrCreateSchema) {
        self.out.send(CommandGetOrCreateSchemaResponse {
            request_id: request.request_id,
            error_code: Some(ServerError::NotAllowedError as i32),
            error_message: Some(format!(
                "this broker does not store schemas yet; topic {} takes schema-less (bytes) producers and consumers",
                request.topic
            )),
            schema_version: None,
        });
    }

    pub(super) fn handle_get_schema(&self, request: CommandGetSchema) {
        self.out.send(CommandGetSchemaResponse {
            request_id: request.request_id,
            error_code: Some(ServerError::TopicNotFound as i32),
            error_message: Some(format!("no schema for topic {}", request.topic)),
            schema: None,
            schema_version: None,
        });
    }
}
