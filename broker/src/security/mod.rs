//! Security of the broker's listeners: TLS ([`tls`]), who a client is
//! (authentication, [`authn`], with the `token`, `basic` and `tls`
//! providers as Pulsar names them) and what that role may do
//! (authorization, [`authz`]: superusers, tenant admin roles and namespace
//! permissions).
//!
//! - [`keys`]: key values as Pulsar's configuration writes them
//!   (`file://`, `data:;base64,`), PEM or DER.
//! - [`token`]: JSON Web Tokens signed with a secret (HS256) or a key
//!   pair (RS256, ES256), the role in a claim (`sub` by default).
//! - [`basic`]: users and password hashes from an htpasswd file.
//! - [`authn`]: the providers together; a client's method name picks one.
//! - [`authz`]: the checks on PRODUCER, SUBSCRIBE, LOOKUP and admin calls.
//! - [`http`]: the same for the admin API, as an axum middleware.
//!
//! Everything here is off unless configured: with no provider every client
//! is the anonymous role, and with authorization off every role may do
//! everything, as in Pulsar's standalone.

pub mod authn;
pub mod authz;
pub mod basic;
mod error;
pub mod http;
pub mod keys;
pub mod tls;
pub mod token;

use std::time::SystemTime;

pub use authn::{AuthenticationConfig, Authenticator};
pub use authz::{AuthorizationConfig, Authorizer, TopicOperation};
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
}

impl Security {
    /// Authentication and authorization off: everyone may do everything.
    pub fn open(policies: crate::namespace::PolicyStore) -> Self {
        Security {
            authn: Authenticator::disabled(),
            authz: Authorizer::new(&AuthorizationConfig::default(), policies),
        }
    }
}
