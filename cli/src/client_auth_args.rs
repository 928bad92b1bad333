//! How the client tools (`produce`, `consume`, `perf`, `admin`, `verify`)
//! prove who they are and trust the server: the flags of Pulsar's clients
//! (`--auth-plugin`, `--auth-params`, `--tls-trust-certs-file`,
//! `--tls-allow-insecure`), shortcuts for a token, and what they become on
//! the wire: an authentication method and data for the binary protocol's
//! `CONNECT`, or an HTTP `Authorization` header for the admin API.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use magnetar_broker::security::credentials::ClientCredential;
use pulsar::{PulsarBuilder, TokioExecutor};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

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

impl ClientAuthArgs {
    /// The authentication method and data for the binary protocol's
    /// `CONNECT`: `("token", TOKEN)` or `("basic", b"user:password")`;
    /// `None` without credentials.
    pub fn authentication(&self) -> Result<Option<(String, Vec<u8>)>> {
        Ok(self
            .credential()?
            .map(|credential| credential.connect_auth()))
    }

    /// The HTTP `Authorization` header value: `Bearer TOKEN` or
    /// `Basic base64(user:password)`; `None` without credentials.
    pub fn http_authorization_header(&self) -> Result<Option<String>> {
        Ok(self
            .credential()?
            .map(|credential| credential.authorization_header()))
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

    /// rustls settings for `pulsar+ssl://` from `--tls-trust-certs-file`
    /// and the optional client certificate; `None` without a trust file.
    /// `--tls-allow-insecure` is refused here: this client always verifies.
    pub fn rustls_client_config(&self) -> Result<Option<Arc<rustls::ClientConfig>>> {
        let Some(trust) = &self.tls_trust_certs_file else {
            return Ok(None);
        };
        if self.tls_allow_insecure {
            bail!("--tls-allow-insecure: this client always verifies the server; give the CA with --tls-trust-certs-file");
        }
        let mut roots = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_file_iter(trust)
            .with_context(|| format!("read trusted certificates {}", trust.display()))?
        {
            let certificate = certificate
                .with_context(|| format!("parse trusted certificates {}", trust.display()))?;
            roots
                .add(certificate)
                .with_context(|| format!("a certificate of {} is unusable", trust.display()))?;
        }
        let provider = magnetar_broker::security::tls::ring_provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots);
        let config = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .with_context(|| format!("read client certificate {}", cert.display()))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .with_context(|| format!("read client key {}", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .context("client certificate and key")?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(Some(Arc::new(config)))
    }

    /// The credential the flags name: `--auth-plugin` with
    /// `--auth-params` first, then `--auth-token`, then `--auth-token-file`.
    fn credential(&self) -> Result<Option<ClientCredential>> {
        if let Some(plugin) = non_blank(&self.auth_plugin) {
            let params = non_blank(&self.auth_params).unwrap_or("");
            return ClientCredential::from_plugin(plugin, params)
                .map(Some)
                .context("--auth-plugin/--auth-params");
        }
        if self.auth_params.is_some() {
            bail!("--auth-params needs --auth-plugin (token or basic)");
        }
        match (non_blank(&self.auth_token), &self.auth_token_file) {
            (Some(_), Some(_)) => bail!("give --auth-token or --auth-token-file, not both"),
            (Some(token), None) => Ok(Some(ClientCredential::Token(token.to_string()))),
            (None, Some(path)) => Ok(Some(
                ClientCredential::token_file(path).context("--auth-token-file")?,
            )),
            (None, None) => Ok(None),
        }
    }
}

fn non_blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use magnetar_broker::security::credentials::{
        BASIC_PLUGIN_CLASS as BASIC_CLASS, TOKEN_PLUGIN_CLASS as TOKEN_CLASS,
    };

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
