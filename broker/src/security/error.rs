//! Security errors. Their messages go to clients, so they name what was
//! wrong but never carry key material, tokens, passwords or hashes.

/// Why a client was refused, or why security settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// The credential was missing, malformed, expired or did not verify.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The client asked for a method no configured provider serves.
    #[error("authentication method {0:?} is not enabled")]
    UnknownMethod(String),
    /// The role may not do this.
    #[error("role {role:?} is not authorized to {action} on {resource}")]
    Authorization {
        role: String,
        action: String,
        resource: String,
    },
    /// A key, certificate or password file could not be used.
    #[error("{what}: {reason}")]
    Config { what: String, reason: String },
    /// Reading the permissions from the metadata store failed.
    #[error("reading permissions: {0}")]
    Metadata(String),
}

impl SecurityError {
    pub fn config(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        SecurityError::Config {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    pub fn authentication(reason: impl Into<String>) -> Self {
        SecurityError::Authentication(reason.into())
    }
}
