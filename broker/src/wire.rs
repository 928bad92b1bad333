//! Low-level helpers for talking to a client, shared by the producer,
//! consumer, topic and server modules: the sending half of a connection
//! ([`Outbound`]), the wire form of positions ([`message_id`], [`position`]),
//! the `request_id` of broker-initiated commands and the mapping of storage
//! errors to the `ServerError` codes a client acts on.
//!
//! Frames go through an unbounded queue to the connection's writer task.
//! The queue is bounded in practice by the protocol: receipts by the
//! per-connection limit on pending publishes, messages by consumer permits.

use magnetar_bookie::LedgerError;
use magnetar_metadata::MetadataError;
use magnetar_proto::pulsar::api::{BaseCommand, CommandSendError, MessageIdData, ServerError};
use magnetar_proto::pulsar::Frame;
use tokio::sync::mpsc;

use crate::managed_ledger::{ManagedLedgerError, Position};

/// `request_id` the broker puts on commands it initiates.
pub const BROKER_REQUEST_ID: u64 = u64::MAX;

/// Cloneable handle for sending frames to one client connection: the
/// connection's own replies, producers' receipt tasks and subscription
/// dispatchers all send through it.
#[derive(Debug, Clone)]
pub struct Outbound {
    cid: u64,
    frames: mpsc::UnboundedSender<Frame>,
}

impl Outbound {
    pub(crate) fn new(cid: u64, frames: mpsc::UnboundedSender<Frame>) -> Self {
        Self { cid, frames }
    }

    /// Connection id, for logs.
    pub fn cid(&self) -> u64 {
        self.cid
    }

    /// Queues a command; `false` when the connection is gone.
    pub fn send(&self, command: impl Into<BaseCommand>) -> bool {
        self.send_frame(Frame::Command(command.into()))
    }

    /// Queues a frame; `false` when the connection is gone.
    pub fn send_frame(&self, frame: Frame) -> bool {
        self.frames.send(frame).is_ok()
    }

    pub fn is_closed(&self) -> bool {
        self.frames.is_closed()
    }
}

/// The wire form of a position.
pub fn message_id(position: Position) -> MessageIdData {
    MessageIdData {
        ledger_id: position.ledger_id,
        entry_id: position.entry_id as u64,
        ..Default::default()
    }
}

/// The position a client's message id names.
pub fn position(id: &MessageIdData) -> Position {
    Position::new(id.ledger_id, id.entry_id as i64)
}

/// A send error reply for a message that was not appended.
pub fn send_error(
    producer_id: u64,
    sequence_id: u64,
    error: ServerError,
    message: impl Into<String>,
) -> CommandSendError {
    CommandSendError {
        producer_id,
        sequence_id,
        error: error as i32,
        message: message.into(),
    }
}

/// A metadata store that is down, or a session that just ended, passes: the
/// client is told to look the topic up again (`ServiceNotReady`), which
/// every official client retries. Clients give up on `MetadataError`, so it
/// is kept for what a retry cannot mend (a bad key, corrupt data); a
/// subscribe refused with it during an etcd restart once left its consumer
/// closed for good.
pub fn metadata_server_error(error: &MetadataError) -> ServerError {
    match error {
        MetadataError::Unavailable(_)
        | MetadataError::SessionExpired(_)
        | MetadataError::ShuttingDown => ServerError::ServiceNotReady,
        _ => ServerError::MetadataError,
    }
}

/// Fencing means another broker took the topic over: the client must look it
/// up again. Metadata failures and ledger failures keep their own codes;
/// an unwritable topic and failed writes are `PersistenceError` (what a
/// client retries after reconnecting; the hold before `NotWritable` paces it);
/// an add to a terminated topic is `TopicTerminatedError` (never retried).
pub fn storage_server_error(error: &ManagedLedgerError) -> ServerError {
    match error {
        ManagedLedgerError::NotWritable { .. } | ManagedLedgerError::WriteFailed { .. } => {
            ServerError::PersistenceError
        }
        ManagedLedgerError::Fenced { .. } | ManagedLedgerError::Closed { .. } => {
            ServerError::ServiceNotReady
        }
        ManagedLedgerError::Metadata(error) => metadata_server_error(error),
        ManagedLedgerError::Corrupt { .. } => ServerError::MetadataError,
        ManagedLedgerError::InvalidName { .. } => ServerError::InvalidTopicName,
        ManagedLedgerError::Terminated { .. } => ServerError::TopicTerminatedError,
        _ => ServerError::PersistenceError,
    }
}

/// The text of a send error: the error, plus what to do about a write that
/// failed for lack of bookies.
pub fn storage_error_message(error: &ManagedLedgerError) -> String {
    match error {
        ManagedLedgerError::WriteFailed {
            source: LedgerError::NotEnoughBookies { .. },
            ..
        } => format!("{error}; the topic is writable again once enough bookies are up"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritable_and_failed_writes_are_persistence_errors_with_a_reason() {
        let not_writable = ManagedLedgerError::NotWritable {
            name: "public/default/persistent/t".into(),
            reason: "since 12:00:03 UTC: not enough bookies: need 3, 1 available".into(),
        };
        assert_eq!(
            storage_server_error(&not_writable),
            ServerError::PersistenceError
        );
        assert!(storage_error_message(&not_writable).contains("not writable since 12:00:03"));
        let failed = ManagedLedgerError::WriteFailed {
            name: "t".into(),
            source: LedgerError::NotEnoughBookies {
                needed: 3,
                available: 1,
            },
        };
        assert_eq!(storage_server_error(&failed), ServerError::PersistenceError);
        assert!(storage_error_message(&failed).contains("once enough bookies are up"));
        let fenced = ManagedLedgerError::Fenced { name: "t".into() };
        assert_eq!(storage_server_error(&fenced), ServerError::ServiceNotReady);
        let terminated = ManagedLedgerError::Terminated { name: "t".into() };
        assert_eq!(
            storage_server_error(&terminated),
            ServerError::TopicTerminatedError
        );
    }

    #[test]
    fn a_metadata_outage_in_a_write_asks_the_client_to_retry() {
        let down = ManagedLedgerError::Metadata(MetadataError::Unavailable("etcd down".into()));
        assert_eq!(storage_server_error(&down), ServerError::ServiceNotReady);
        let expired = MetadataError::SessionExpired(3);
        assert_eq!(
            metadata_server_error(&expired),
            ServerError::ServiceNotReady
        );
        let corrupt = MetadataError::Corrupt {
            key: "/managed-ledgers/t".into(),
            reason: "not json".into(),
        };
        assert_eq!(metadata_server_error(&corrupt), ServerError::MetadataError);
        let stale = ManagedLedgerError::Metadata(MetadataError::BadVersion { key: "k".into() });
        assert_eq!(storage_server_error(&stale), ServerError::MetadataError);
    }
}
