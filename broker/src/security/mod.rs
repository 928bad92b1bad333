//! Security of the broker's listeners: TLS ([`tls`]), who a client is
//! (authentication, [`authn`], with the `token`, `basic` and `tls`
//! providers as Pulsar names them) and what that role may do
//! (authorization, [`authz`]: superusers, tenant admin roles and namespace
//! permissions).
//!
//! - [`keys`]: key values as Pulsar's configuration writes them
//!   (`file://`, `data:;base64,`), PEM or DER; `key_der` tells RSA from EC
//!   keys and reads their DER forms with the RustCrypto crates.
//! - [`token`]: JSON Web Tokens signed with a secret (HS256) or a key
//!   pair (RS256, ES256), the role in a claim (`sub` by default).
//! - [`basic`]: users and password hashes from an htpasswd file.
//! - [`authn`]: the providers together; a client's method name picks one.
//! - [`credentials`]: what the broker presents where it is itself a
//!   client (other brokers, remote clusters), as Pulsar's client plugins
//!   describe it.
//! - [`authz`]: the checks on PRODUCER, SUBSCRIBE, LOOKUP and admin calls.
//! - [`http`]: the same for the admin API, as an axum middleware.
//!
//! Everything here is off unless configured: with no provider every client
//! is the anonymous role, and with authorization off every role may do
//! everything, as in Pulsar's standalone.

pub mod authn;
#[cfg(test)]
mod authn_fuzz;
pub mod authz;
pub mod basic;
pub mod credentials;
mod error;
pub mod http;
mod key_der;
pub mod keys;
pub mod tls;
pub mod token;

use std::time::SystemTime;

pub use authn::{AuthenticationConfig, Authenticator};
pub use authz::{AuthorizationConfig, Authorizer, TopicOperation};
use credentials::ClientCredential;
pub use error::SecurityError;
pub use tls::{TlsAcceptor, TlsListener, TlsSettings};

/// Who a client proved to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The role that authorization checks (a token's subject, a user name,
    /// a certificate's common name, or the anonymous role).
    pub role: String,
    /// When the credential stops being valid (a token's `exp`); a live
    /// connection is challenged again after it.
    pub expires_at: Option<SystemTime>,
}

impl Principal {
    pub fn new(role: impl Into<String>) -> Self {
        Principal {
            role: role.into(),
            expires_at: None,
        }
    }
}

/// The authenticator and authorizer that a broker's listeners share.
pub struct Security {
    pub authn: Authenticator,
    pub authz: Authorizer,
    /// What this broker presents to other brokers' admin APIs.
    pub broker_client: Option<ClientCredential>,
}

impl Security {
    /// The security that `authentication` and `authorization` configure.
    /// Authorization without authentication is refused, as Pulsar refuses
    /// it at start: every client would be the same unnamed role, and the
    /// permissions would protect nothing.
    pub fn from_config(
        authentication: &AuthenticationConfig,
        authorization: &AuthorizationConfig,
        broker_client: Option<ClientCredential>,
        policies: crate::namespace::PolicyStore,
    ) -> Result<Self, SecurityError> {
        if authorization.enabled && !authentication.enabled {
            return Err(SecurityError::config(
                "authorization",
                "authorization needs authentication enabled (--authentication-enabled)",
            ));
        }
        Ok(Security {
            authn: Authenticator::new(authentication)?,
            authz: Authorizer::new(authorization, policies),
            broker_client,
        })
    }

    /// Authentication and authorization off: everyone may do everything.
    pub fn open(policies: crate::namespace::PolicyStore) -> Self {
        Security {
            authn: Authenticator::disabled(),
            authz: Authorizer::new(&AuthorizationConfig::default(), policies),
            broker_client: None,
        }
    }
}
