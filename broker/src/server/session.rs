//! Session commands: CONNECT and the transaction-coordinator handshake.

use magnetar_proto::pulsar::api::{
    CommandConnect, CommandConnected, CommandTcClientConnectRequest,
    CommandTcClientConnectResponse, FeatureFlags, ServerError,
};
use magnetar_proto::pulsar::PROTOCOL_VERSION;

use super::connection::Connection;
use super::ConnectionError;

/// Reported to clients in CONNECTED.
pub(super) const SERVER_VERSION: &str = concat!("magnetar-", env!("CARGO_PKG_VERSION"));

/// The first protocol version with REACHED_END_OF_TOPIC.
const END_OF_TOPIC_VERSION: i32 = 9;

/// Whether a client understands REACHED_END_OF_TOPIC: Pulsar's rule is the
/// protocol version. The C++ client (and the Python and Node.js clients
/// built on it) announces the latest version but has no handler for the
/// command and drops its connection on any command it does not know, so
/// it would reconnect and be told again, in a loop: it is not told.
fn understands_end_of_topic(client_version: &str, protocol_version: i32) -> bool {
    protocol_version >= END_OF_TOPIC_VERSION && !client_version.starts_with("Pulsar-CPP")
}

impl Connection {
    /// Authenticates the client (`auth.rs`), then answers CONNECTED with
    /// the lower of the client's and our protocol version, advertising
    /// topic-list watchers.
    pub(super) fn handle_connect(
        &mut self,
        connect: CommandConnect,
    ) -> Result<(), ConnectionError> {
        if self.protocol_version.is_some() {
            return Err(ConnectionError::AlreadyConnected);
        }
        let client_version = connect.protocol_version.unwrap_or(0);
        let version = client_version.clamp(0, PROTOCOL_VERSION);
        self.authenticate_connect(&connect)?;
        self.protocol_version = Some(version);
        self.end_of_topic_notices = understands_end_of_topic(&connect.client_version, version);
        tracing::debug!(client = %connect.client_version, client_protocol = client_version, protocol = version, "client connected");
        self.out.send(CommandConnected {
            server_version: SERVER_VERSION.to_string(),
            protocol_version: Some(version),
            max_message_size: Some(
                i32::try_from(self.context.config.max_message_size).unwrap_or(i32::MAX),
            ),
            feature_flags: Some(FeatureFlags {
                supports_topic_watchers: Some(true),
                ..Default::default()
            }),
        });
        Ok(())
    }

    /// Transactions are not supported: tell the client there is no coordinator.
    pub(super) fn handle_tc_client_connect(&self, request: CommandTcClientConnectRequest) {
        self.out.send(CommandTcClientConnectResponse {
            request_id: request.request_id,
            error: Some(ServerError::TransactionCoordinatorNotFound as i32),
            message: Some("transactions are not supported".to_string()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_topic_is_told_to_clients_that_understand_it() {
        assert!(understands_end_of_topic("Pulsar-Java-v3.3.0", 21));
        assert!(understands_end_of_topic("raw-test", 9));
        assert!(!understands_end_of_topic("Pulsar-Java-v1.20", 8));
        assert!(!understands_end_of_topic("Pulsar-CPP-v3.7.0", 21));
        assert!(!understands_end_of_topic("Pulsar-CPP-v3.7.0-python", 21));
    }
}
