//! Why a connection is closed. Each of these ends the connection; errors
//! a client can recover from are answered with a reply instead.

use magnetar_proto::pulsar::FrameError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConnectionError {
    #[error("undecodable frame: {0}")]
    Frame(#[from] FrameError),
    #[error("{0} received before CONNECT")]
    NotConnected(&'static str),
    #[error("second CONNECT on an established connection")]
    AlreadyConnected,
    #[error("command type {0} has no command body")]
    MissingBody(i32),
    #[error("unknown command type {0}")]
    UnknownCommandType(i32),
    #[error("{command} for unknown producer {producer_id}")]
    UnknownProducer {
        command: &'static str,
        producer_id: u64,
    },
    #[error("{command} for unknown consumer {consumer_id}")]
    UnknownConsumer {
        command: &'static str,
        consumer_id: u64,
    },
    #[error("SEND without a message body")]
    SendWithoutPayload,
    #[error("keepalive timeout: no traffic for {0:?}")]
    KeepaliveTimeout(std::time::Duration),
    #[error("writer stopped")]
    WriterGone,
    #[error("{0}")]
    Authentication(crate::security::SecurityError),
    #[error("the client did not answer the credential challenge in time")]
    ChallengeTimeout,
}
