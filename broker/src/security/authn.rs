//! Authentication: the configured providers together. A client names its
//! method (`auth_method_name` in CONNECT, the `Authorization` header's
//! scheme over HTTP) and the provider of that name checks its data.
//!
//! With authentication off every client is the anonymous role. With it on,
//! a client that presents nothing is the anonymous role if one is
//! configured (Pulsar's `anonymousUserRole`) and refused otherwise.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::basic::BasicProvider;
use super::token::{TokenProvider, TokenSettings};
use super::{Principal, SecurityError};

/// The role of clients when authentication is off.
pub const UNAUTHENTICATED_ROLE: &str = "";

/// Longest authentication data a client may send (a token, `user:password`).
pub const MAX_AUTH_DATA: usize = 64 * 1024;

/// An authentication provider, by Pulsar's method name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// JSON Web Tokens (`AuthenticationProviderToken`).
    Token,
    /// htpasswd users (`AuthenticationProviderBasic`).
    Basic,
    /// The client certificate's common name (`AuthenticationProviderTls`).
    Tls,
}

impl ProviderKind {
    /// The method name clients send.
    pub fn method_name(self) -> &'static str {
        match self {
            ProviderKind::Token => "token",
            ProviderKind::Basic => "basic",
            ProviderKind::Tls => "tls",
        }
    }
}

impl FromStr for ProviderKind {
    type Err = SecurityError;

    /// Accepts the method names and Pulsar's provider class names.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let short = name.trim().rsplit('.').next().unwrap_or_default();
        match short.to_ascii_lowercase().as_str() {
            "token" | "authenticationprovidertoken" => Ok(ProviderKind::Token),
            "basic" | "authenticationproviderbasic" => Ok(ProviderKind::Basic),
            "tls" | "authenticationprovidertls" => Ok(ProviderKind::Tls),
            _ => Err(SecurityError::config(
                "authentication provider",
                format!("{name:?} is not one of token, basic, tls"),
            )),
        }
    }
}

/// Default of [`AuthenticationConfig::refresh_check_interval`] (Pulsar's
/// `authenticationRefreshCheckSeconds`).
pub const DEFAULT_REFRESH_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// Authentication settings (Pulsar's `authenticationEnabled`,
/// `authenticationProviders`, `anonymousUserRole` and the providers' keys).
#[derive(Debug, Clone)]
pub struct AuthenticationConfig {
    pub enabled: bool,
    pub providers: Vec<ProviderKind>,
    pub token: TokenSettings,
    /// The htpasswd file of the `basic` provider.
    pub basic_htpasswd: Option<PathBuf>,
    /// The role of clients that present no credentials; `None` refuses them.
    pub anonymous_role: Option<String>,
    /// How often live connections are checked for expired credentials
    /// (Pulsar's `authenticationRefreshCheckSeconds`).
    pub refresh_check_interval: Duration,
}

impl Default for AuthenticationConfig {
    fn default() -> Self {
        AuthenticationConfig {
            enabled: false,
            providers: Vec::new(),
            token: TokenSettings::default(),
            basic_htpasswd: None,
            anonymous_role: None,
            refresh_check_interval: DEFAULT_REFRESH_CHECK_INTERVAL,
        }
    }
}

/// The configured providers.
pub struct Authenticator {
    enabled: bool,
    token: Option<TokenProvider>,
    basic: Option<BasicProvider>,
    tls: bool,
    anonymous_role: Option<String>,
    refresh_check_interval: Duration,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("enabled", &self.enabled)
            .field("token", &self.token.is_some())
            .field("basic", &self.basic.is_some())
            .field("tls", &self.tls)
            .field("anonymous_role", &self.anonymous_role)
            .finish()
    }
}

impl Authenticator {
    /// Loads every configured provider (keys, password file); fails on the
    /// first that cannot be used.
    pub fn new(config: &AuthenticationConfig) -> Result<Self, SecurityError> {
        let mut authenticator = Authenticator::disabled();
        // A zero period would stop the connections' timers from working.
        if !config.refresh_check_interval.is_zero() {
            authenticator.refresh_check_interval = config.refresh_check_interval;
        }
        if !config.enabled {
            return Ok(authenticator);
        }
        authenticator.enabled = true;
        authenticator.anonymous_role = config.anonymous_role.clone();
        for kind in &config.providers {
            match kind {
                ProviderKind::Token => {
                    authenticator.token = Some(TokenProvider::new(&config.token)?);
                }
                ProviderKind::Basic => {
                    let path = config.basic_htpasswd.as_ref().ok_or_else(|| {
                        SecurityError::config(
                            "basic authentication",
                            "no htpasswd file is configured",
                        )
                    })?;
                    authenticator.basic = Some(BasicProvider::from_file(path)?);
                }
                ProviderKind::Tls => authenticator.tls = true,
            }
        }
        if config.providers.is_empty() && config.anonymous_role.is_none() {
            tracing::warn!("authentication is on with no provider and no anonymous role: every client is refused");
        }
        Ok(authenticator)
    }

    /// Everyone is let in as [`UNAUTHENTICATED_ROLE`].
    pub fn disabled() -> Self {
        Authenticator {
            enabled: false,
            token: None,
            basic: None,
            tls: false,
            anonymous_role: None,
            refresh_check_interval: DEFAULT_REFRESH_CHECK_INTERVAL,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// How often live connections are checked for expired credentials.
    pub fn refresh_check_interval(&self) -> Duration {
        self.refresh_check_interval
    }

    /// Who the client is. `method` and `data` are what the client sent
    /// (`None`/`"none"` and empty for nothing); `tls_common_name` is its
    /// verified certificate's common name, if it presented one.
    pub fn authenticate(
        &self,
        method: Option<&str>,
        data: &[u8],
        tls_common_name: Option<&str>,
    ) -> Result<Principal, SecurityError> {
        if !self.enabled {
            return Ok(Principal::new(UNAUTHENTICATED_ROLE));
        }
        if data.len() > MAX_AUTH_DATA {
            return Err(SecurityError::authentication(format!(
                "authentication data of {} bytes is over the limit of {MAX_AUTH_DATA}",
                data.len()
            )));
        }
        let method = method
            .map(str::trim)
            .filter(|m| !m.is_empty() && *m != "none");
        match method {
            None => match &self.anonymous_role {
                Some(role) => Ok(Principal::new(role.clone())),
                None => Err(SecurityError::authentication(
                    "no credentials were presented and anonymous access is off",
                )),
            },
            Some("token") => {
                let provider = self
                    .token
                    .as_ref()
                    .ok_or_else(|| SecurityError::UnknownMethod("token".into()))?;
                let text = std::str::from_utf8(data)
                    .map_err(|_| SecurityError::authentication("malformed token"))?;
                provider.authenticate(text)
            }
            Some("basic") => {
                let provider = self
                    .basic
                    .as_ref()
                    .ok_or_else(|| SecurityError::UnknownMethod("basic".into()))?;
                provider.authenticate(data)
            }
            Some("tls") if self.tls => match tls_common_name {
                Some(name) if !name.is_empty() => Ok(Principal::new(name)),
                _ => Err(SecurityError::authentication(
                    "no trusted client certificate with a common name was presented",
                )),
            },
            Some(other) => Err(SecurityError::UnknownMethod(truncate(other))),
        }
    }
}

/// A method name as echoed in errors: at most 64 characters.
fn truncate(name: &str) -> String {
    name.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(providers: Vec<ProviderKind>) -> AuthenticationConfig {
        AuthenticationConfig {
            enabled: true,
            providers,
            ..Default::default()
        }
    }

    #[test]
    fn a_zero_refresh_period_keeps_the_default() {
        let config = AuthenticationConfig {
            refresh_check_interval: Duration::ZERO,
            ..Default::default()
        };
        let auth = Authenticator::new(&config).unwrap();
        assert_eq!(
            auth.refresh_check_interval(),
            DEFAULT_REFRESH_CHECK_INTERVAL
        );
        assert_eq!(
            AuthenticationConfig::default().refresh_check_interval,
            DEFAULT_REFRESH_CHECK_INTERVAL
        );
    }

    #[test]
    fn disabled_lets_everyone_in() {
        let auth = Authenticator::disabled();
        let principal = auth.authenticate(Some("token"), b"junk", None).unwrap();
        assert_eq!(principal.role, UNAUTHENTICATED_ROLE);
    }

    #[test]
    fn anonymous_role_only_when_configured() {
        let mut cfg = config(vec![ProviderKind::Tls]);
        let auth = Authenticator::new(&cfg).unwrap();
        assert!(matches!(
            auth.authenticate(None, b"", None),
            Err(SecurityError::Authentication(_))
        ));
        cfg.anonymous_role = Some("anonymous".into());
        let auth = Authenticator::new(&cfg).unwrap();
        assert_eq!(
            auth.authenticate(Some("none"), b"", None).unwrap().role,
            "anonymous"
        );
    }

    #[test]
    fn tls_takes_the_common_name() {
        let auth = Authenticator::new(&config(vec![ProviderKind::Tls])).unwrap();
        assert_eq!(
            auth.authenticate(Some("tls"), b"", Some("client-a"))
                .unwrap()
                .role,
            "client-a"
        );
        assert!(auth.authenticate(Some("tls"), b"", None).is_err());
    }

    #[test]
    fn unknown_and_unconfigured_methods_are_refused() {
        let auth = Authenticator::new(&config(vec![ProviderKind::Tls])).unwrap();
        assert!(matches!(
            auth.authenticate(Some("token"), b"x", None),
            Err(SecurityError::UnknownMethod(_))
        ));
        let long = "m".repeat(1000);
        match auth.authenticate(Some(&long), b"", None) {
            Err(SecurityError::UnknownMethod(name)) => assert_eq!(name.len(), 64),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn oversized_data_is_refused_before_any_provider() {
        let auth = Authenticator::new(&config(vec![ProviderKind::Tls])).unwrap();
        let data = vec![b'a'; MAX_AUTH_DATA + 1];
        assert!(matches!(
            auth.authenticate(Some("tls"), &data, Some("x")),
            Err(SecurityError::Authentication(_))
        ));
    }

    #[test]
    fn provider_names_parse_from_pulsar_class_names() {
        assert_eq!(
            "org.apache.pulsar.broker.authentication.AuthenticationProviderToken"
                .parse::<ProviderKind>()
                .unwrap(),
            ProviderKind::Token
        );
        assert_eq!(
            "basic".parse::<ProviderKind>().unwrap(),
            ProviderKind::Basic
        );
        assert_eq!(
            "org.apache.pulsar.broker.authentication.AuthenticationProviderTls"
                .parse::<ProviderKind>()
                .unwrap(),
            ProviderKind::Tls
        );
        assert!("kerberos".parse::<ProviderKind>().is_err());
    }
}
