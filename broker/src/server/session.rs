//! Session commands: CONNECT and the transaction-coordinator handshake.

use magnetar_proto::pulsar::api::{
    CommandConnect, CommandConnected, CommandTcClientConnectRequest,
    CommandTcClientConnectResponse, ServerError,
};
use magnetar_proto::pulsar::PROTOCOL_VERSION;

use super::connection::Connection;
use super::ConnectionError;

/// Reported to clients in CONNECTED.
const SERVER_VERSION: &str = concat!("magnetar-", env!("CARGO_PKG_VERSION"));

impl Connection {
    /// Answers CONNECTED with the lower of the client's and our protocol
    /// version. No authentication is performed.
    pub(super) fn handle_connect(
        &mut self,
        connect: CommandConnect,
    ) -> Result<(), ConnectionError> {
        if self.protocol_version.is_some() {
            return Err(ConnectionError::AlreadyConnected);
        }
        let client_version = connect.protocol_version.unwrap_or(0);
        let version = client_version.clamp(0, PROTOCOL_VERSION);
        self.protocol_version = Some(version);
        tracing::debug!(client = %connect.client_version, client_protocol = client_version, protocol = version, "client connected");
        self.out.send(CommandConnected {
            server_version: SERVER_VERSION.to_string(),
            protocol_version: Some(version),
            max_message_size: Some(
                i32::try_from(self.context.config.max_message_size).unwrap_or(i32::MAX),
            ),
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
