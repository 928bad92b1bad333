//! [`ClientCredential`]: what a client of a broker presents, built from
//! the authentication plugin and parameters that Pulsar's clients take
//! (`token` or `basic`, or their Java class names), and how it goes on the
//! wire: an authentication method and data for `CONNECT`, or an HTTP
//! `Authorization` header.
//!
//! Used where Magnetar itself is a client: a broker calling other brokers
//! (admin requests for partitions served elsewhere) and a remote cluster
//! (geo-replication), and the `magnetar` client tools.

use std::path::Path;

use base64::Engine;

use super::error::SecurityError;

/// Pulsar's class name of the token plugin.
pub const TOKEN_PLUGIN_CLASS: &str = "org.apache.pulsar.client.impl.auth.AuthenticationToken";
/// Pulsar's class name of the basic plugin.
pub const BASIC_PLUGIN_CLASS: &str = "org.apache.pulsar.client.impl.auth.AuthenticationBasic";

/// A credential a client presents. Its `Debug` output leaves the secret out.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientCredential {
    Token(String),
    Basic { user: String, password: String },
}

impl std::fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCredential::Token(_) => f.write_str("Token(..)"),
            ClientCredential::Basic { user, .. } => write!(f, "Basic({user:?}, ..)"),
        }
    }
}

impl ClientCredential {
    /// The credential of a plugin and its parameters:
    /// - `token`: `token:TOKEN`, `file:PATH` (or `file:///PATH`),
    ///   `{"token":"TOKEN"}`, or the token itself;
    /// - `basic`: `{"userId":"u","password":"p"}`, `userId:u,password:p`,
    ///   or `u:p`.
    pub fn from_plugin(plugin: &str, params: &str) -> Result<Self, SecurityError> {
        match plugin.trim() {
            "token" | TOKEN_PLUGIN_CLASS => {
                token_params(params.trim()).map(ClientCredential::Token)
            }
            "basic" | BASIC_PLUGIN_CLASS => basic_params(params.trim()),
            other => Err(invalid(format!(
                "unknown authentication plugin {other:?}: use token or basic"
            ))),
        }
    }

    /// A token read from `path` (surrounding whitespace removed).
    pub fn token_file(path: &Path) -> Result<Self, SecurityError> {
        read_token_file(path).map(ClientCredential::Token)
    }

    /// The method name and data for the binary protocol's `CONNECT`:
    /// `("token", TOKEN)` or `("basic", b"user:password")`.
    pub fn connect_auth(&self) -> (String, Vec<u8>) {
        match self {
            ClientCredential::Token(token) => ("token".to_string(), token.clone().into_bytes()),
            ClientCredential::Basic { user, password } => (
                "basic".to_string(),
                format!("{user}:{password}").into_bytes(),
            ),
        }
    }

    /// The HTTP `Authorization` header value: `Bearer TOKEN` or
    /// `Basic base64(user:password)`.
    pub fn authorization_header(&self) -> String {
        match self {
            ClientCredential::Token(token) => format!("Bearer {token}"),
            ClientCredential::Basic { user, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
        }
    }
}

fn invalid(reason: String) -> SecurityError {
    SecurityError::config("client authentication", reason)
}

fn token_params(params: &str) -> Result<String, SecurityError> {
    let token = if let Some(token) = params.strip_prefix("token:") {
        token.trim().to_string()
    } else if let Some(path) = params.strip_prefix("file:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        read_token_file(Path::new(path))?
    } else if params.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(params)
            .map_err(|_| invalid("token parameters are not valid JSON".to_string()))?;
        json["token"]
            .as_str()
            .ok_or_else(|| invalid("token parameters have no \"token\" field".to_string()))?
            .trim()
            .to_string()
    } else {
        params.to_string()
    };
    if token.is_empty() {
        return Err(invalid("the token parameters name no token".to_string()));
    }
    Ok(token)
}

fn basic_params(params: &str) -> Result<ClientCredential, SecurityError> {
    let (user, password) = if params.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(params)
            .map_err(|_| invalid("basic parameters are not valid JSON".to_string()))?;
        let field = |name: &str| {
            json[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| invalid(format!("basic parameters have no {name:?} field")))
        };
        (field("userId")?, field("password")?)
    } else if let Some(rest) = params.strip_prefix("userId:") {
        let (user, password) = rest.split_once(",password:").ok_or_else(|| {
            invalid("basic parameters: userId:USER,password:PASSWORD".to_string())
        })?;
        (user.to_string(), password.to_string())
    } else {
        let (user, password) = params.split_once(':').ok_or_else(|| {
            invalid("basic parameters: {\"userId\":\"USER\",\"password\":\"PASSWORD\"}".to_string())
        })?;
        (user.to_string(), password.to_string())
    };
    if user.is_empty() || user.contains(':') {
        return Err(invalid(
            "basic parameters: the user name must be non-empty and have no ':'".to_string(),
        ));
    }
    Ok(ClientCredential::Basic { user, password })
}

fn read_token_file(path: &Path) -> Result<String, SecurityError> {
    let token = std::fs::read_to_string(path).map_err(|error| {
        invalid(format!(
            "cannot read token file {}: {error}",
            path.display()
        ))
    })?;
    let token = token.trim();
    if token.is_empty() {
        return Err(invalid(format!("token file {} is empty", path.display())));
    }
    Ok(token.to_string())
}
