//! Wrapping sub-commands into the [`BaseCommand`] envelope.
//!
//! `BaseCommand` carries a `type` tag plus one optional field per command.
//! Setting the tag and the field by hand is easy to get inconsistent, so each
//! command type converts into a `BaseCommand` with `.into()`.

use super::api::base_command::Type;
use super::api::*;

macro_rules! into_base_command {
    ($($command:ident => $variant:ident, $field:ident;)*) => {
        $(
            impl From<$command> for BaseCommand {
                fn from(command: $command) -> Self {
                    BaseCommand {
                        r#type: Type::$variant as i32,
                        $field: Some(Box::new(command)),
                        ..Default::default()
                    }
                }
            }
        )*
    };
}

into_base_command! {
    CommandConnect => Connect, connect;
    CommandConnected => Connected, connected;
    CommandSubscribe => Subscribe, subscribe;
    CommandProducer => Producer, producer;
    CommandSend => Send, send;
    CommandSendReceipt => SendReceipt, send_receipt;
    CommandSendError => SendError, send_error;
    CommandMessage => Message, message;
    CommandAck => Ack, ack;
    CommandFlow => Flow, flow;
    CommandUnsubscribe => Unsubscribe, unsubscribe;
    CommandSuccess => Success, success;
    CommandError => Error, error;
    CommandCloseProducer => CloseProducer, close_producer;
    CommandCloseConsumer => CloseConsumer, close_consumer;
    CommandProducerSuccess => ProducerSuccess, producer_success;
    CommandPing => Ping, ping;
    CommandPong => Pong, pong;
    CommandRedeliverUnacknowledgedMessages => RedeliverUnacknowledgedMessages, redeliver_unacknowledged_messages;
    CommandPartitionedTopicMetadata => PartitionedMetadata, partition_metadata;
    CommandPartitionedTopicMetadataResponse => PartitionedMetadataResponse, partition_metadata_response;
    CommandLookupTopic => Lookup, lookup_topic;
    CommandLookupTopicResponse => LookupResponse, lookup_topic_response;
    CommandConsumerStats => ConsumerStats, consumer_stats;
    CommandConsumerStatsResponse => ConsumerStatsResponse, consumer_stats_response;
    CommandReachedEndOfTopic => ReachedEndOfTopic, reached_end_of_topic;
    CommandSeek => Seek, seek;
    CommandGetLastMessageId => GetLastMessageId, get_last_message_id;
    CommandGetLastMessageIdResponse => GetLastMessageIdResponse, get_last_message_id_response;
    CommandActiveConsumerChange => ActiveConsumerChange, active_consumer_change;
    CommandGetTopicsOfNamespace => GetTopicsOfNamespace, get_topics_of_namespace;
    CommandGetTopicsOfNamespaceResponse => GetTopicsOfNamespaceResponse, get_topics_of_namespace_response;
    CommandGetSchema => GetSchema, get_schema;
    CommandGetSchemaResponse => GetSchemaResponse, get_schema_response;
    CommandAuthChallenge => AuthChallenge, auth_challenge;
    CommandAuthResponse => AuthResponse, auth_response;
    CommandAckResponse => AckResponse, ack_response;
    CommandGetOrCreateSchema => GetOrCreateSchema, get_or_create_schema;
    CommandGetOrCreateSchemaResponse => GetOrCreateSchemaResponse, get_or_create_schema_response;
    CommandTcClientConnectRequest => TcClientConnectRequest, tc_client_connect_request;
    CommandTcClientConnectResponse => TcClientConnectResponse, tc_client_connect_response;
    CommandWatchTopicList => WatchTopicList, watch_topic_list;
    CommandWatchTopicListSuccess => WatchTopicListSuccess, watch_topic_list_success;
    CommandWatchTopicUpdate => WatchTopicUpdate, watch_topic_update;
    CommandWatchTopicListClose => WatchTopicListClose, watch_topic_list_close;
}

/// Builds a `CommandError` envelope.
pub fn error(request_id: u64, error: ServerError, message: impl Into<String>) -> BaseCommand {
    CommandError {
        request_id,
        error: error as i32,
        message: message.into(),
    }
    .into()
}

/// Builds a `CommandSuccess` envelope.
pub fn success(request_id: u64) -> BaseCommand {
    CommandSuccess {
        request_id,
        schema: None,
    }
    .into()
}

/// The command's `type` tag, `None` when this build does not know it.
pub fn command_type(command: &BaseCommand) -> Option<Type> {
    Type::try_from(command.r#type).ok()
}

/// The request id of any client command that carries one, so that a
/// command a server does not serve can still be answered with an error
/// instead of being dropped (a dropped request leaves the client waiting).
pub fn any_request_id(command: &BaseCommand) -> Option<u64> {
    let c = command;
    c.lookup_topic
        .as_ref()
        .map(|x| x.request_id)
        .or_else(|| c.partition_metadata.as_ref().map(|x| x.request_id))
        .or_else(|| c.get_topics_of_namespace.as_ref().map(|x| x.request_id))
        .or_else(|| c.get_schema.as_ref().map(|x| x.request_id))
        .or_else(|| c.get_or_create_schema.as_ref().map(|x| x.request_id))
        .or_else(|| c.producer.as_ref().map(|x| x.request_id))
        .or_else(|| c.subscribe.as_ref().map(|x| x.request_id))
        .or_else(|| c.unsubscribe.as_ref().map(|x| x.request_id))
        .or_else(|| c.close_producer.as_ref().map(|x| x.request_id))
        .or_else(|| c.close_consumer.as_ref().map(|x| x.request_id))
        .or_else(|| c.seek.as_ref().map(|x| x.request_id))
        .or_else(|| c.get_last_message_id.as_ref().map(|x| x.request_id))
        .or_else(|| c.consumer_stats.as_ref().map(|x| x.request_id))
        .or_else(|| c.tc_client_connect_request.as_ref().map(|x| x.request_id))
        .or_else(|| c.watch_topic_list.as_ref().map(|x| x.request_id))
        .or_else(|| c.watch_topic_list_close.as_ref().map(|x| x.request_id))
        .or_else(|| c.ack.as_ref().and_then(|x| x.request_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pulsar::Frame;

    /// `proto/build.rs` boxes every sub-command: unboxed, the envelope is
    /// about 4 KB and every move of a frame copies it.
    #[test]
    fn the_envelope_stays_small() {
        let sizes = (size_of::<BaseCommand>(), size_of::<Frame>());
        assert!(
            sizes.0 <= 512 && sizes.1 <= 512,
            "BaseCommand, Frame: {sizes:?} bytes"
        );
    }

    #[test]
    fn watch_requests_carry_their_request_id() {
        let watch: BaseCommand = CommandWatchTopicList {
            request_id: 4,
            watcher_id: 1,
            namespace: "public/default".into(),
            topics_pattern: ".*".into(),
            topics_hash: None,
        }
        .into();
        assert_eq!(command_type(&watch), Some(Type::WatchTopicList));
        assert_eq!(any_request_id(&watch), Some(4));
        let close: BaseCommand = CommandWatchTopicListClose {
            request_id: 5,
            watcher_id: 1,
        }
        .into();
        assert_eq!(command_type(&close), Some(Type::WatchTopicListClose));
        assert_eq!(any_request_id(&close), Some(5));
        let update: BaseCommand = CommandWatchTopicUpdate::default().into();
        assert_eq!(any_request_id(&update), None);
    }
}
