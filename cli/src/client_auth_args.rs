//! How the client tools (`produce`, `consume`, `perf`, `admin`, `verify`)
//! prove who they are and trust the server: the flags of Pulsar's clients
//! (`--auth-plugin`, `--auth-params`, `--tls-trust-certs-file`,
//! `--tls-allow-insecure`), shortcuts for a token, and what they become on
//! the wire: an authentication method and data for the binary protocol's
//! `CONNECT`, or an HTTP `Authorization` header for the admin API.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use clap::Args;
use pulsar::{PulsarBuilder, TokioExecutor};

/// Pulsar's class names for the two plugins, accepted for `--auth-plugin`.
const TOKEN_CLASS: &str = "org.apache.pulsar.client.impl.auth.AuthenticationToken";
const BASIC_CLASS: &str = "org.apache.pulsar.client.impl.auth.AuthenticationBasic";

/// Credentials and TLS trust of a client, as Pulsar's clients take them.
/// Its `Debug` output leaves out the token and the parameters.
#[derive(Clone, Default, Args)]
pub struct ClientAuthArgs {
    /// Authentication plugin: `token` or `basic` (Pulsar's class names
    /// `org.apache.pulsar.client.impl.auth.AuthenticationToken` and
    /// `…AuthenticationBasic` work too).
    #[arg(long, env = "MAGNETAR_AUTH_PLUGIN")]
    pub auth_plugin: Option<String>,
    /// The plugin's parameters. `token`: `token:TOKEN` or
    /// `file:///path/to/token`; `basic`: `{"userId":"u","password":"p"}`.
    #[arg(long, env = "MAGNETAR_AUTH_PARAMS", hide_env_values = true)]
    pub auth_params: Option<String>,
    /// A token to authenticate with (the `token` plugin).
    #[arg(long, env = "MAGNETAR_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// A file holding the token to authenticate with.
    #[arg(long, env = "MAGNETAR_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// PEM file of the certificate authorities trusted for `pulsar+ssl://`
    /// and `https://` servers.
    #[arg(
        long,
        visible_aliases = ["tls-trust-certs", "tls-trust-cert-path"],
        env = "MAGNETAR_TLS_TRUST_CERTS_FILE"
    )]
    pub tls_trust_certs_file: Option<PathBuf>,
    /// Accept a server certificate that does not verify (tests only).
    #[arg(long, env = "MAGNETAR_TLS_ALLOW_INSECURE")]
    pub tls_allow_insecure: bool,
    /// PEM certificate chain of a client certificate (the `tls` method).
    #[arg(long, env = "MAGNETAR_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long, env = "MAGNETAR_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
}

impl std::fmt::Debug for ClientAuthArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |value: &Option<String>| value.as_ref().map(|_| "..");
        f.debug_struct("ClientAuthArgs")
            .field("auth_plugin", &self.auth_plugin)
            .field("auth_params", &redacted(&self.auth_params))
            .field("auth_token", &redacted(&self.auth_token))
            .field("auth_token_file", &self.auth_token_file)
            .field("tls_trust_certs_file", &self.tls_trust_certs_file)
            .field("tls_allow_insecure", &self.tls_allow_insecure)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
            .finish()
    }
}

/// A credential resolved from the flags.
#[derive(Clone, PartialEq, Eq)]
enum Credential {
    Token(String),
    Basic { user: String, password: String },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Token(_) => f.write_str("Token(..)"),
            Credential::Basic { user, .. } => write!(f, "Basic({user:?}, ..)"),
        }
    }
}

impl ClientAuthArgs {
    /// The authentication method and data for the binary protocol's
    /// `CONNECT`: `("token", TOKEN)` or `("basic", b"user:password")`;
    /// `None` without credentials.
    pub fn authentication(&self) -> Result<Option<(String, Vec<u8>)>> {
        Ok(self.credential()?.map(|credential| match credential {
            Credential::Token(token) => ("token".to_string(), token.into_bytes()),
            Credential::Basic { user, password } => (
                "basic".to_string(),
                format!("{user}:{password}").into_bytes(),
            ),
        }))
    }

    /// The HTTP `Authorization` header value: `Bearer TOKEN` or
    /// `Basic base64(user:password)`; `None` without credentials.
    pub fn http_authorization_header(&self) -> Result<Option<String>> {
        Ok(self.credential()?.map(|credential| match credential {
            Credential::Token(token) => format!("Bearer {token}"),
            Credential::Basic { user, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
        }))
    }

    /// Sets the credentials and the TLS trust on a `pulsar` client builder.
    pub fn apply_to_pulsar_builder(
        &self,
        mut builder: PulsarBuilder<TokioExecutor>,
    ) -> Result<PulsarBuilder<TokioExecutor>> {
        if self.tls_cert_file.is_some() || self.tls_key_file.is_some() {
            bail!(
                "--tls-cert-file/--tls-key-file: the Rust pulsar client cannot present a client certificate; use a token or basic authentication"
            );
        }
        if let Some((name, data)) = self.authentication()? {
            builder = builder.with_auth(pulsar::Authentication { name, data });
        }
        if let Some(path) = &self.tls_trust_certs_file {
            builder = builder
                .with_certificate_chain_file(path)
                .with_context(|| format!("read trusted certificates {}", path.display()))?;
        }
        if self.tls_allow_insecure {
            builder = builder
                .with_allow_insecure_connection(true)
                .with_tls_hostname_verification_enabled(false);
        }
        Ok(builder)
    }

    /// The credential the flags name: `--auth-plugin` with
    /// `--auth-params` first, then `--auth-token`, then `--auth-token-file`.
    fn credential(&self) -> Result<Option<Credential>> {
        if let Some(plugin) = non_blank(&self.auth_plugin) {
            let params = non_blank(&self.auth_params).unwrap_or("");
            return plugin_credential(plugin, params).map(Some);
        }
        if self.auth_params.is_some() {
            bail!("--auth-params needs --auth-plugin (token or basic)");
        }
        match (non_blank(&self.auth_token), &self.auth_token_file) {
            (Some(_), Some(_)) => bail!("give --auth-token or --auth-token-file, not both"),
            (Some(token), None) => Ok(Some(Credential::Token(token.to_string()))),
            (None, Some(path)) => read_token_file(path).map(|token| Some(Credential::Token(token))),
            (None, None) => Ok(None),
        }
    }
}

fn non_blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The credential of `--auth-plugin PLUGIN --auth-params PARAMS`.
fn plugin_credential(plugin: &str, params: &str) -> Result<Credential> {
    match plugin {
        "token" | TOKEN_CLASS => token_params(params).map(Credential::Token),
        "basic" | BASIC_CLASS => basic_params(params),
        other => bail!("unknown --auth-plugin {other:?}: use token or basic"),
    }
}

/// The token plugin's parameters: `token:TOKEN`, `file:PATH` (or
/// `file:///PATH`), `{"token":"TOKEN"}`, or the token itself.
fn token_params(params: &str) -> Result<String> {
    let token = if let Some(token) = params.strip_prefix("token:") {
        token.trim().to_string()
    } else if let Some(path) = params.strip_prefix("file:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        read_token_file(Path::new(path))?
    } else if params.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(params)
            .map_err(|_| anyhow!("--auth-params for token is not valid JSON"))?;
        json["token"]
            .as_str()
            .ok_or_else(|| anyhow!("--auth-params for token has no \"token\" field"))?
            .trim()
            .to_string()
    } else {
        params.to_string()
    };
    if token.is_empty() {
        bail!("--auth-params for token names no token");
    }
    Ok(token)
}

/// The basic plugin's parameters: `{"userId":"u","password":"p"}`,
/// `userId:u,password:p`, or `u:p`.
fn basic_params(params: &str) -> Result<Credential> {
    let (user, password) = if params.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(params)
            .map_err(|_| anyhow!("--auth-params for basic is not valid JSON"))?;
        let field = |name: &str| {
            json[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("--auth-params for basic has no {name:?} field"))
        };
        (field("userId")?, field("password")?)
    } else if let Some(rest) = params.strip_prefix("userId:") {
        let (user, password) = rest
            .split_once(",password:")
            .ok_or_else(|| anyhow!("--auth-params for basic: userId:USER,password:PASSWORD"))?;
        (user.to_string(), password.to_string())
    } else {
        let (user, password) = params.split_once(':').ok_or_else(|| {
            anyhow!("--auth-params for basic: {{\"userId\":\"USER\",\"password\":\"PASSWORD\"}}")
        })?;
        (user.to_string(), password.to_string())
    };
    if user.is_empty() || user.contains(':') {
        bail!("--auth-params for basic: the user name must be non-empty and have no ':'");
    }
    Ok(Credential::Basic { user, password })
}

fn read_token_file(path: &Path) -> Result<String> {
    let token = std::fs::read_to_string(path)
        .with_context(|| format!("read token file {}", path.display()))?;
    let token = token.trim();
    if token.is_empty() {
        bail!("token file {} is empty", path.display());
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(plugin: Option<&str>, params: Option<&str>) -> ClientAuthArgs {
        ClientAuthArgs {
            auth_plugin: plugin.map(str::to_string),
            auth_params: params.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn no_flags_no_credentials() {
        let none = ClientAuthArgs::default();
        assert_eq!(none.authentication().unwrap(), None);
        assert_eq!(none.http_authorization_header().unwrap(), None);
    }

    #[test]
    fn token_plugin_and_shortcuts() {
        for a in [
            args(Some("token"), Some("token:abc.def.ghi")),
            args(Some(TOKEN_CLASS), Some("token:abc.def.ghi")),
            args(Some("token"), Some(r#"{"token":"abc.def.ghi"}"#)),
            args(Some("token"), Some("abc.def.ghi")),
            ClientAuthArgs {
                auth_token: Some("abc.def.ghi".into()),
                ..Default::default()
            },
        ] {
            assert_eq!(
                a.authentication().unwrap(),
                Some(("token".to_string(), b"abc.def.ghi".to_vec()))
            );
            assert_eq!(
                a.http_authorization_header().unwrap().as_deref(),
                Some("Bearer abc.def.ghi")
            );
        }
    }

    #[test]
    fn token_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "abc.def.ghi\n").unwrap();
        let from_params = args(Some("token"), Some(&format!("file://{}", path.display())));
        let from_flag = ClientAuthArgs {
            auth_token_file: Some(path.clone()),
            ..Default::default()
        };
        for a in [from_params, from_flag] {
            assert_eq!(
                a.authentication().unwrap(),
                Some(("token".to_string(), b"abc.def.ghi".to_vec()))
            );
        }
        let missing = args(Some("token"), Some("file:///nonexistent/token"));
        assert!(missing.authentication().is_err());
    }

    #[test]
    fn basic_plugin() {
        for params in [
            r#"{"userId":"alice","password":"s3:cret"}"#,
            "userId:alice,password:s3:cret",
            "alice:s3:cret",
        ] {
            let a = args(Some("basic"), Some(params));
            assert_eq!(
                a.authentication().unwrap(),
                Some(("basic".to_string(), b"alice:s3:cret".to_vec()))
            );
            assert_eq!(
                a.http_authorization_header().unwrap().as_deref(),
                Some("Basic YWxpY2U6czM6Y3JldA==")
            );
        }
        assert!(args(Some(BASIC_CLASS), Some("{}"))
            .authentication()
            .is_err());
        assert!(args(Some("basic"), Some("nopassword"))
            .authentication()
            .is_err());
    }

    #[test]
    fn bad_combinations() {
        assert!(args(Some("oauth2"), Some("x")).authentication().is_err());
        assert!(args(None, Some("token:x")).authentication().is_err());
        let both = ClientAuthArgs {
            auth_token: Some("x".into()),
            auth_token_file: Some(PathBuf::from("/tmp/t")),
            ..Default::default()
        };
        assert!(both.authentication().is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let a = ClientAuthArgs {
            auth_token: Some("secret-token".into()),
            auth_params: Some("token:secret-param".into()),
            ..Default::default()
        };
        let shown = format!("{a:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn flags_parse() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            auth: ClientAuthArgs,
        }
        let cli = Cli::try_parse_from([
            "x",
            "--auth-plugin",
            "token",
            "--auth-params",
            "token:t",
            "--tls-trust-certs",
            "/ca.pem",
            "--tls-allow-insecure",
        ])
        .unwrap();
        assert_eq!(
            cli.auth.tls_trust_certs_file,
            Some(PathBuf::from("/ca.pem"))
        );
        assert!(cli.auth.tls_allow_insecure);
        assert!(Cli::try_parse_from(["x", "--tls-cert-file", "/c.pem"]).is_err());
    }
}
