//! Flags of a broker's security: TLS listeners and certificates,
//! authentication providers and authorization, with Pulsar's setting names
//! in kebab case (`tlsCertificateFilePath` is `--tls-certificate-file-path`).
//! Shared by `magnetar broker` and `magnetar standalone`; off by default.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use magnetar_broker::security::authn::ProviderKind;
use magnetar_broker::security::credentials::ClientCredential;
use magnetar_broker::security::token::TokenSettings;
use magnetar_broker::security::{AuthenticationConfig, AuthorizationConfig, TlsSettings};

/// Pulsar's default `pulsar+ssl://` port.
pub const DEFAULT_PULSAR_TLS_PORT: u16 = 6651;
/// Pulsar's default HTTPS port.
pub const DEFAULT_HTTPS_PORT: u16 = 8443;

#[derive(Debug, Clone, Args)]
pub struct SecurityArgs {
    /// `pulsar+ssl://` port, served when a certificate is configured
    /// (default 6651; 0 picks a free port).
    #[arg(long, env = "MAGNETAR_BROKER_SERVICE_PORT_TLS")]
    pub broker_service_port_tls: Option<u16>,
    /// HTTPS port of the admin API, served when a certificate is configured
    /// (default 8443; 0 picks a free port).
    #[arg(long, env = "MAGNETAR_WEB_SERVICE_PORT_TLS")]
    pub web_service_port_tls: Option<u16>,
    /// The broker's certificate chain (PEM). Turns the TLS listeners on.
    #[arg(long, env = "MAGNETAR_TLS_CERTIFICATE_FILE_PATH")]
    pub tls_certificate_file_path: Option<PathBuf>,
    /// The broker's private key (PEM).
    #[arg(long, env = "MAGNETAR_TLS_KEY_FILE_PATH")]
    pub tls_key_file_path: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to.
    #[arg(long, env = "MAGNETAR_TLS_TRUST_CERTS_FILE_PATH")]
    pub tls_trust_certs_file_path: Option<PathBuf>,
    /// Refuse TLS clients without a trusted certificate (mutual TLS).
    #[arg(long, env = "MAGNETAR_TLS_REQUIRE_TRUSTED_CLIENT_CERT_ON_CONNECT", default_value_t = false, action = clap::ArgAction::Set)]
    pub tls_require_trusted_client_cert_on_connect: bool,
    /// How often the certificate files are checked for changes, in seconds.
    #[arg(
        long,
        env = "MAGNETAR_TLS_CERT_REFRESH_CHECK_DURATION_SEC",
        default_value_t = 60
    )]
    pub tls_cert_refresh_check_duration_sec: u64,

    /// Check who clients are.
    #[arg(long, env = "MAGNETAR_AUTHENTICATION_ENABLED", default_value_t = false, action = clap::ArgAction::Set)]
    pub authentication_enabled: bool,
    /// Providers, comma separated: `token`, `basic`, `tls`, or Pulsar's
    /// class names (`org.apache.pulsar.broker.authentication.AuthenticationProviderToken`).
    #[arg(long, env = "MAGNETAR_AUTHENTICATION_PROVIDERS", value_delimiter = ',')]
    pub authentication_providers: Vec<String>,
    /// The role of clients that present no credentials (none: refused).
    #[arg(long, env = "MAGNETAR_ANONYMOUS_USER_ROLE")]
    pub anonymous_user_role: Option<String>,
    /// How often live connections are checked for expired credentials, in seconds.
    #[arg(
        long,
        env = "MAGNETAR_AUTHENTICATION_REFRESH_CHECK_SECONDS",
        default_value_t = 60
    )]
    pub authentication_refresh_check_seconds: u64,
    /// HS256 secret of the `token` provider: `file:///path`, `data:;base64,...` or base64.
    #[arg(long, env = "MAGNETAR_TOKEN_SECRET_KEY")]
    pub token_secret_key: Option<String>,
    /// Public key of the `token` provider (PEM or DER), as the secret.
    #[arg(long, env = "MAGNETAR_TOKEN_PUBLIC_KEY")]
    pub token_public_key: Option<String>,
    /// Algorithm of the public key: RS256 (default), ES256, ...
    #[arg(long, env = "MAGNETAR_TOKEN_PUBLIC_ALG")]
    pub token_public_alg: Option<String>,
    /// The claim that holds the role (default `sub`).
    #[arg(long, env = "MAGNETAR_TOKEN_AUTH_CLAIM")]
    pub token_auth_claim: Option<String>,
    /// The claim that holds the audience (default `aud`).
    #[arg(long, env = "MAGNETAR_TOKEN_AUDIENCE_CLAIM")]
    pub token_audience_claim: Option<String>,
    /// When set, tokens must name this audience.
    #[arg(long, env = "MAGNETAR_TOKEN_AUDIENCE")]
    pub token_audience: Option<String>,
    /// htpasswd file of the `basic` provider.
    #[arg(long, env = "MAGNETAR_BASIC_AUTH_CONF")]
    pub basic_auth_conf: Option<PathBuf>,

    /// Check what roles may do.
    #[arg(long, env = "MAGNETAR_AUTHORIZATION_ENABLED", default_value_t = false, action = clap::ArgAction::Set)]
    pub authorization_enabled: bool,
    /// Roles that may do everything, comma separated.
    #[arg(long, env = "MAGNETAR_SUPER_USER_ROLES", value_delimiter = ',')]
    pub super_user_roles: Vec<String>,

    #[command(flatten)]
    pub broker_client: BrokerClientArgs,
}

impl SecurityArgs {
    /// The TLS settings, when a certificate is configured.
    pub fn tls(&self) -> Result<Option<TlsSettings>> {
        match (&self.tls_certificate_file_path, &self.tls_key_file_path) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(TlsSettings {
                trust_certs_file: self.tls_trust_certs_file_path.clone(),
                require_trusted_client_cert: self.tls_require_trusted_client_cert_on_connect,
                reload_interval: Duration::from_secs(
                    self.tls_cert_refresh_check_duration_sec.max(1),
                ),
                ..TlsSettings::new(cert, key)
            })),
            _ => anyhow::bail!("--tls-certificate-file-path and --tls-key-file-path go together"),
        }
    }

    /// The TLS ports to bind, when TLS is on.
    pub fn tls_ports(&self) -> (u16, u16) {
        (
            self.broker_service_port_tls
                .unwrap_or(DEFAULT_PULSAR_TLS_PORT),
            self.web_service_port_tls.unwrap_or(DEFAULT_HTTPS_PORT),
        )
    }

    pub fn authentication(&self) -> Result<AuthenticationConfig> {
        let providers = self
            .authentication_providers
            .iter()
            .filter(|name| !name.trim().is_empty())
            .map(|name| name.parse::<ProviderKind>())
            .collect::<Result<Vec<_>, _>>()
            .context("--authentication-providers")?;
        Ok(AuthenticationConfig {
            enabled: self.authentication_enabled,
            providers,
            token: TokenSettings {
                secret_key: self.token_secret_key.clone(),
                public_key: self.token_public_key.clone(),
                public_algorithm: self.token_public_alg.clone(),
                auth_claim: self.token_auth_claim.clone(),
                audience_claim: self.token_audience_claim.clone(),
                audience: self.token_audience.clone(),
            },
            basic_htpasswd: self.basic_auth_conf.clone(),
            anonymous_role: self.anonymous_user_role.clone(),
            refresh_check_interval: Duration::from_secs(
                self.authentication_refresh_check_seconds.max(1),
            ),
        })
    }

    pub fn authorization(&self) -> AuthorizationConfig {
        AuthorizationConfig {
            enabled: self.authorization_enabled,
            superuser_roles: self
                .super_user_roles
                .iter()
                .map(|role| role.trim().to_string())
                .filter(|role| !role.is_empty())
                .collect(),
        }
    }
}

/// What a broker (or the proxy) presents where it is itself a client of
/// brokers: other brokers' admin APIs, remote clusters, lookups.
#[derive(Debug, Clone, Default, Args)]
pub struct BrokerClientArgs {
    /// `token` or `basic` (or Pulsar's client class names).
    #[arg(long, env = "MAGNETAR_BROKER_CLIENT_AUTHENTICATION_PLUGIN")]
    pub broker_client_authentication_plugin: Option<String>,
    /// The plugin's parameters (`token:TOKEN`, `file:///path`, or
    /// `{"userId":"u","password":"p"}`).
    #[arg(
        long,
        env = "MAGNETAR_BROKER_CLIENT_AUTHENTICATION_PARAMETERS",
        hide_env_values = true
    )]
    pub broker_client_authentication_parameters: Option<String>,
}

impl BrokerClientArgs {
    /// The credential, when a plugin is configured.
    pub fn credential(&self) -> Result<Option<ClientCredential>> {
        let plugin = self
            .broker_client_authentication_plugin
            .as_deref()
            .map(str::trim)
            .filter(|plugin| !plugin.is_empty());
        let Some(plugin) = plugin else {
            anyhow::ensure!(
                self.broker_client_authentication_parameters.is_none(),
                "--broker-client-authentication-parameters needs --broker-client-authentication-plugin"
            );
            return Ok(None);
        };
        let params = self
            .broker_client_authentication_parameters
            .as_deref()
            .unwrap_or("");
        ClientCredential::from_plugin(plugin, params)
            .map(Some)
            .context("--broker-client-authentication-plugin/-parameters")
    }
}
