//! `--pulsar-config FILE`: a Pulsar `broker.conf` or `standalone.conf` as
//! flag defaults, for people coming from Pulsar.
//!
//! Pulsar's keys are camel case (`tlsCertificateFilePath`); ours are the
//! same words in kebab case (`tls-certificate-file-path`), so most map by
//! spelling, and a short table maps the rest (`brokerServicePort` is
//! `pulsar-port`). Like the TOML config file, a key becomes the default of
//! its flag through the flag's environment variable, so flags and
//! environment variables still win. Empty values are skipped; every other
//! key Magnetar does not take is returned, to be logged once as ignored.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::config_file::{env_var_for, KNOWN_KEYS};

/// Pulsar keys whose flag is spelled differently.
const RENAMED: &[(&str, &str)] = &[
    ("brokerServicePort", "pulsar-port"),
    ("webServicePort", "http-port"),
    ("bindAddress", "bind"),
    ("clusterName", "cluster"),
    ("metadataStoreUrl", "metadata"),
    ("managedLedgerDefaultEnsembleSize", "ensemble-size"),
    ("managedLedgerDefaultWriteQuorum", "write-quorum"),
    ("managedLedgerDefaultAckQuorum", "ack-quorum"),
    ("defaultNumPartitions", "default-num-partitions"),
    (
        "bookkeeperTLSTrustCertsFilePath",
        "bookkeeper-tls-trust-certs-file-path",
    ),
    (
        "bookkeeperTLSCertificateFilePath",
        "bookkeeper-tls-certificate-file-path",
    ),
    ("bookkeeperTLSKeyFilePath", "bookkeeper-tls-key-file-path"),
];

/// Pulsar's provider and plugin class names that need no flag: the
/// authorization provider is always Pulsar's default one here.
/// `bookkeeperTLSClientAuthentication` is implied by a client certificate.
const ACCEPTED_AS_IS: &[&str] = &["authorizationProvider", "bookkeeperTLSClientAuthentication"];

/// What applying the file did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Keys that became flag defaults.
    pub applied: Vec<String>,
    /// Keys with a value that Magnetar does not take.
    pub ignored: Vec<String>,
}

/// Finds `--pulsar-config FILE` (or `--pulsar-config=FILE`, or
/// `MAGNETAR_PULSAR_CONFIG`) and applies it.
pub fn apply_from_args(args: impl IntoIterator<Item = OsString>) -> Result<Applied> {
    let args: Vec<OsString> = args.into_iter().collect();
    let mut path = std::env::var_os("MAGNETAR_PULSAR_CONFIG").map(PathBuf::from);
    for (i, arg) in args.iter().enumerate() {
        let arg = arg.to_string_lossy();
        if arg == "--pulsar-config" {
            path = args.get(i + 1).map(PathBuf::from);
        } else if let Some(value) = arg.strip_prefix("--pulsar-config=") {
            path = Some(PathBuf::from(value));
        }
    }
    let Some(path) = path else {
        return Ok(Applied::default());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("read Pulsar config file {}", path.display()))?;
    let (defaults, applied) = translate(&text);
    for (env_name, value) in defaults {
        if std::env::var_os(&env_name).is_none() {
            std::env::set_var(env_name, value);
        }
    }
    Ok(applied)
}

/// The environment defaults `text` gives, and what was applied or ignored.
fn translate(text: &str) -> (Vec<(String, String)>, Applied) {
    let mut defaults = Vec::new();
    let mut applied = Applied::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((key, value)) = line.split_once(['=', ':']) else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if value.is_empty() || ACCEPTED_AS_IS.contains(&key) {
            continue;
        }
        match flag_for(key) {
            Some(flag) => {
                defaults.push((env_var_for(flag), flag_value(flag, value)));
                applied.applied.push(key.to_string());
            }
            None => applied.ignored.push(key.to_string()),
        }
    }
    (defaults, applied)
}

/// Our flag for a Pulsar key, if we take it.
fn flag_for(key: &str) -> Option<&'static str> {
    if let Some((_, flag)) = RENAMED.iter().find(|(pulsar, _)| *pulsar == key) {
        return Some(flag);
    }
    let kebab = kebab_case(key);
    KNOWN_KEYS.iter().copied().find(|known| *known == kebab)
}

/// Values whose form differs: `basicAuthConf` may be a `file://` URL.
fn flag_value(flag: &str, value: &str) -> String {
    match flag {
        "basic-auth-conf" => value.strip_prefix("file://").unwrap_or(value).to_string(),
        _ => value.to_string(),
    }
}

fn kebab_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulsar_keys_map_to_flags() {
        let conf = "\
# a standalone-ssl.conf of the usual kind
brokerServicePort=6650
brokerServicePortTls=6651
webServicePortTls=8443
tlsCertificateFilePath=/certs/broker.pem
tlsKeyFilePath=/certs/broker.key
authenticationEnabled=true
authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderTls,org.apache.pulsar.broker.authentication.AuthenticationProviderToken
authorizationEnabled=true
superUserRoles=admin,superproxy
anonymousUserRole=anonymous
tokenSecretKey=data:;base64,c2VjcmV0
basicAuthConf=file:///certs/htpasswd
authorizationProvider=org.apache.pulsar.broker.authorization.PulsarAuthorizationProvider
zooKeeperSessionTimeoutMillis=30000
brokerClientTlsEnabled=
bookkeeperTLSClientAuthentication=true
bookkeeperTLSTrustCertsFilePath=/certs/ca.pem
";
        let (defaults, applied) = translate(conf);
        let get = |name: &str| {
            defaults
                .iter()
                .find(|(env, _)| env == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(get("MAGNETAR_PULSAR_PORT"), Some("6650"));
        assert_eq!(get("MAGNETAR_BROKER_SERVICE_PORT_TLS"), Some("6651"));
        assert_eq!(get("MAGNETAR_WEB_SERVICE_PORT_TLS"), Some("8443"));
        assert_eq!(
            get("MAGNETAR_TLS_CERTIFICATE_FILE_PATH"),
            Some("/certs/broker.pem")
        );
        assert_eq!(get("MAGNETAR_AUTHENTICATION_ENABLED"), Some("true"));
        assert_eq!(get("MAGNETAR_SUPER_USER_ROLES"), Some("admin,superproxy"));
        assert_eq!(get("MAGNETAR_ANONYMOUS_USER_ROLE"), Some("anonymous"));
        assert_eq!(
            get("MAGNETAR_TOKEN_SECRET_KEY"),
            Some("data:;base64,c2VjcmV0")
        );
        assert_eq!(get("MAGNETAR_BASIC_AUTH_CONF"), Some("/certs/htpasswd"));
        assert_eq!(
            applied.ignored,
            vec!["zooKeeperSessionTimeoutMillis".to_string()]
        );
        assert_eq!(
            get("MAGNETAR_BOOKKEEPER_TLS_TRUST_CERTS_FILE_PATH"),
            Some("/certs/ca.pem")
        );
        assert_eq!(applied.applied.len(), 13);
    }

    #[test]
    fn kebab_case_splits_words() {
        assert_eq!(
            kebab_case("tlsTrustCertsFilePath"),
            "tls-trust-certs-file-path"
        );
        assert_eq!(kebab_case("superUserRoles"), "super-user-roles");
    }
}
