//! Authentication and authorization of a protocol connection.
//!
//! CONNECT carries the client's method and data; the broker's providers
//! (`security::authn`) turn them into a role, or the connection is answered
//! with an `AuthenticationError` and closed, as Pulsar does. A credential
//! that expires (a token's `exp`) is challenged again: at the next refresh
//! check the broker sends AUTH_CHALLENGE, the client answers AUTH_RESPONSE
//! with fresh data for the same role, and a connection that does not answer
//! within one more check, or answers wrongly, is closed.
//!
//! PRODUCER, SUBSCRIBE, LOOKUP and the topic metadata commands ask
//! `security::authz` first; a refusal is answered with `AuthorizationError`.

use std::time::SystemTime;

use magnetar_proto::pulsar::api::{
    AuthData, CommandAuthChallenge, CommandAuthResponse, CommandConnect, ServerError,
};
use magnetar_proto::pulsar::commands;
use tokio::time::Instant;

use super::connection::Connection;
use super::ConnectionError;
use crate::namespace::NamespaceName;
use crate::security::{Principal, SecurityError, TopicOperation};

/// Pulsar's challenge data asking a client for fresh credentials.
const REFRESH_AUTH_DATA: &[u8] = b"PulsarAuthRefresh";

/// The first protocol version with AUTH_CHALLENGE.
const AUTH_CHALLENGE_VERSION: i32 = 14;

/// The request id of errors that answer no request (a refused CONNECT).
const NO_REQUEST: u64 = u64::MAX;

/// Who the client of a connection is.
#[derive(Debug, Default)]
pub(crate) struct ConnectionAuth {
    /// The verified client certificate's common name (TLS listeners).
    common_name: Option<String>,
    /// Set by CONNECT.
    principal: Option<Principal>,
    /// The method the client authenticated with.
    method: Option<String>,
    /// While an AUTH_CHALLENGE waits for its answer: when to give up.
    challenge_deadline: Option<Instant>,
}

impl ConnectionAuth {
    pub(crate) fn with_certificate(common_name: Option<String>) -> Self {
        ConnectionAuth {
            common_name,
            ..Default::default()
        }
    }
}

impl Connection {
    /// Authenticates CONNECT. On failure the client is told why and the
    /// connection ends.
    pub(super) fn authenticate_connect(
        &mut self,
        connect: &CommandConnect,
    ) -> Result<(), ConnectionError> {
        let method = connect.auth_method_name.as_deref();
        let data = connect.auth_data.as_deref().unwrap_or_default();
        let result = self.context.security.authn.authenticate(
            method,
            data,
            self.auth.common_name.as_deref(),
        );
        match result {
            Ok(principal) => {
                if self.context.security.authn.enabled() {
                    tracing::debug!(role = %principal.role, method = method.unwrap_or("none"), "client authenticated");
                }
                self.auth.method = method.map(str::to_string);
                self.auth.principal = Some(principal);
                Ok(())
            }
            Err(error) => Err(self.refuse_credentials(method, error)),
        }
    }

    /// The client's role ("" before CONNECT or with authentication off).
    pub(super) fn role(&self) -> &str {
        self.auth
            .principal
            .as_ref()
            .map_or("", |principal| principal.role.as_str())
    }

    /// Whether the client may do `operation` on the namespace's topics.
    pub(super) async fn authorize_namespace(
        &self,
        namespace: &NamespaceName,
        operation: TopicOperation,
    ) -> Result<(), SecurityError> {
        let authz = &self.context.security.authz;
        if !authz.enabled() {
            return Ok(());
        }
        let result = authz
            .check_topic_operation(self.role(), namespace, operation)
            .await;
        if let Err(error) = &result {
            tracing::info!(role = %self.role(), %namespace, ?operation, error = %error, "refused");
        }
        result
    }

    /// Called at each refresh check: challenges an expired credential, and
    /// ends the connection when a challenge went unanswered.
    pub(super) fn check_credentials(&mut self) -> Result<(), ConnectionError> {
        if let Some(deadline) = self.auth.challenge_deadline {
            return if Instant::now() >= deadline {
                Err(ConnectionError::ChallengeTimeout)
            } else {
                Ok(())
            };
        }
        let expired = self
            .auth
            .principal
            .as_ref()
            .and_then(|principal| principal.expires_at)
            .is_some_and(|expires_at| SystemTime::now() >= expires_at);
        if !expired {
            return Ok(());
        }
        let version = self.protocol_version.unwrap_or(0);
        if version < AUTH_CHALLENGE_VERSION {
            let method = self.auth.method.clone();
            return Err(self.refuse_credentials(
                method.as_deref(),
                SecurityError::authentication("the credential expired"),
            ));
        }
        tracing::debug!(role = %self.role(), "credential expired: challenging the client");
        self.out.send(CommandAuthChallenge {
            server_version: Some(super::session::SERVER_VERSION.to_string()),
            challenge: Some(AuthData {
                auth_method_name: self.auth.method.clone(),
                auth_data: Some(bytes::Bytes::from_static(REFRESH_AUTH_DATA)),
            }),
            protocol_version: Some(version),
        });
        self.auth.challenge_deadline =
            Some(Instant::now() + self.context.security.authn.refresh_check_interval());
        Ok(())
    }

    /// AUTH_RESPONSE: fresh credentials for the same role.
    pub(super) fn handle_auth_response(
        &mut self,
        response: CommandAuthResponse,
    ) -> Result<(), ConnectionError> {
        if self.auth.challenge_deadline.is_none() {
            tracing::debug!("ignoring an AUTH_RESPONSE nobody asked for");
            return Ok(());
        }
        let data = response.response.unwrap_or_default();
        let method = data.auth_method_name.or_else(|| self.auth.method.clone());
        let result = self.context.security.authn.authenticate(
            method.as_deref(),
            data.auth_data.as_deref().unwrap_or_default(),
            self.auth.common_name.as_deref(),
        );
        match result {
            Ok(principal) if principal.role == self.role() => {
                tracing::debug!(role = %principal.role, "credential refreshed");
                self.auth.principal = Some(principal);
                self.auth.challenge_deadline = None;
                Ok(())
            }
            Ok(principal) => Err(self.refuse_credentials(
                method.as_deref(),
                SecurityError::authentication(format!(
                    "the refreshed credential is for role {:?}, not {:?}",
                    principal.role,
                    self.role()
                )),
            )),
            Err(error) => Err(self.refuse_credentials(method.as_deref(), error)),
        }
    }

    /// Tells the client why its credentials were refused; the caller ends
    /// the connection with the returned error.
    fn refuse_credentials(&self, method: Option<&str>, error: SecurityError) -> ConnectionError {
        tracing::warn!(method = method.unwrap_or("none"), error = %error, "authentication refused");
        self.out.send(commands::error(
            NO_REQUEST,
            ServerError::AuthenticationError,
            error.to_string(),
        ));
        ConnectionError::Authentication(error)
    }
}
