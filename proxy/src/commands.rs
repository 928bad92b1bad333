//! Request ids of the commands a lookup connection forwards to a broker,
//! and of their answers. The proxy multiplexes many clients over one broker
//! connection, so it gives each forwarded request its own id and puts the
//! client's id back on the answer.

use magnetar_proto::pulsar::api::base_command::Type;
use magnetar_proto::pulsar::api::BaseCommand;
use magnetar_proto::pulsar::commands::command_type;

/// The request id of a request the proxy forwards, `None` for any other
/// command.
pub fn request_id(command: &BaseCommand) -> Option<u64> {
    match command_type(command)? {
        Type::Lookup => command.lookup_topic.as_ref().map(|c| c.request_id),
        Type::PartitionedMetadata => command.partition_metadata.as_ref().map(|c| c.request_id),
        Type::GetTopicsOfNamespace => command
            .get_topics_of_namespace
            .as_ref()
            .map(|c| c.request_id),
        Type::GetSchema => command.get_schema.as_ref().map(|c| c.request_id),
        _ => None,
    }
}

/// Sets the request id of a forwarded request; false if `command` is not one.
pub fn set_request_id(command: &mut BaseCommand, id: u64) -> bool {
    let slot = match command_type(command) {
        Some(Type::Lookup) => command.lookup_topic.as_mut().map(|c| &mut c.request_id),
        Some(Type::PartitionedMetadata) => command
            .partition_metadata
            .as_mut()
            .map(|c| &mut c.request_id),
        Some(Type::GetTopicsOfNamespace) => command
            .get_topics_of_namespace
            .as_mut()
            .map(|c| &mut c.request_id),
        Some(Type::GetSchema) => command.get_schema.as_mut().map(|c| &mut c.request_id),
        _ => None,
    };
    match slot {
        Some(slot) => {
            *slot = id;
            true
        }
        None => false,
    }
}

/// The request id an answer from a broker refers to.
pub fn response_id(command: &BaseCommand) -> Option<u64> {
    match command_type(command)? {
        Type::LookupResponse => command.lookup_topic_response.as_ref().map(|c| c.request_id),
        Type::PartitionedMetadataResponse => command
            .partition_metadata_response
            .as_ref()
            .map(|c| c.request_id),
        Type::GetTopicsOfNamespaceResponse => command
            .get_topics_of_namespace_response
            .as_ref()
            .map(|c| c.request_id),
        Type::GetSchemaResponse => command.get_schema_response.as_ref().map(|c| c.request_id),
        Type::Error => command.error.as_ref().map(|c| c.request_id),
        _ => None,
    }
}

/// Sets the request id of an answer before it goes back to the client.
pub fn set_response_id(command: &mut BaseCommand, id: u64) {
    let slot = match command_type(command) {
        Some(Type::LookupResponse) => command
            .lookup_topic_response
            .as_mut()
            .map(|c| &mut c.request_id),
        Some(Type::PartitionedMetadataResponse) => command
            .partition_metadata_response
            .as_mut()
            .map(|c| &mut c.request_id),
        Some(Type::GetTopicsOfNamespaceResponse) => command
            .get_topics_of_namespace_response
            .as_mut()
            .map(|c| &mut c.request_id),
        Some(Type::GetSchemaResponse) => command
            .get_schema_response
            .as_mut()
            .map(|c| &mut c.request_id),
        Some(Type::Error) => command.error.as_mut().map(|c| &mut c.request_id),
        _ => None,
    };
    if let Some(slot) = slot {
        *slot = id;
    }
}

/// The request id of any command that carries one (see the protocol crate).
pub use magnetar_proto::pulsar::commands::any_request_id;

#[cfg(test)]
mod tests {
    use magnetar_proto::pulsar::api::{
        CommandGetSchema, CommandLookupTopic, CommandLookupTopicResponse, CommandProducer,
        CommandWatchTopicList,
    };

    use super::*;

    #[test]
    fn ids_are_read_and_rewritten() {
        let mut lookup: BaseCommand = CommandLookupTopic {
            topic: "t".into(),
            request_id: 7,
            ..Default::default()
        }
        .into();
        assert_eq!(request_id(&lookup), Some(7));
        assert!(set_request_id(&mut lookup, 99));
        assert_eq!(request_id(&lookup), Some(99));

        let mut answer: BaseCommand = CommandLookupTopicResponse {
            request_id: 99,
            ..Default::default()
        }
        .into();
        assert_eq!(response_id(&answer), Some(99));
        set_response_id(&mut answer, 7);
        assert_eq!(response_id(&answer), Some(7));

        let schema: BaseCommand = CommandGetSchema {
            topic: "t".into(),
            request_id: 3,
            ..Default::default()
        }
        .into();
        assert_eq!(request_id(&schema), Some(3));
    }

    #[test]
    fn other_commands_are_not_forwarded_but_can_be_answered() {
        let mut producer: BaseCommand = CommandProducer {
            topic: "t".into(),
            producer_id: 1,
            request_id: 5,
            ..Default::default()
        }
        .into();
        assert_eq!(request_id(&producer), None);
        assert!(!set_request_id(&mut producer, 1));
        assert_eq!(any_request_id(&producer), Some(5));

        // Topic-list watchers are not served on a lookup connection, but
        // the request is answered (with an error), never dropped.
        let watch: BaseCommand = CommandWatchTopicList {
            request_id: 6,
            watcher_id: 1,
            namespace: "public/default".into(),
            topics_pattern: ".*".into(),
            topics_hash: None,
        }
        .into();
        assert_eq!(request_id(&watch), None);
        assert_eq!(any_request_id(&watch), Some(6));
    }
}
