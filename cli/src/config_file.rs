//! Optional TOML config file (`--config FILE` or `MAGNETAR_CONFIG`).
//!
//! Precedence: flags > environment > config file > built-in defaults. The
//! file is a flat table whose keys are flag names without dashes' prefix,
//! e.g. `ensemble-size = 2` or `metadata = "etcd://127.0.0.1:2379"`. Each key
//! becomes the default of the flag with that name by setting its environment
//! variable (`MAGNETAR_ENSEMBLE_SIZE`) when that variable is not already set.
//! Unknown keys are rejected so that typos do not pass silently.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// Flag names the file may set (the flags that have an `env` fallback).
pub const KNOWN_KEYS: &[&str] = &[
    "metadata",
    "data-dir",
    "bind",
    "pulsar-port",
    "http-port",
    "advertised-address",
    "ensemble-size",
    "write-quorum",
    "ack-quorum",
    "bookies",
    "listen",
    "journal-max-group-wait-ms",
    "journal-buffered-writes-threshold",
    "journal-sync",
    "journal-preallocate",
    "flush-interval-ms",
    "memory-budget-mb",
    "disk-usage-threshold",
    "session-ttl-ms",
    "autorecovery",
    "lost-bookie-recovery-delay-ms",
    "open-ledger-rereplication-grace-ms",
    "max-message-size",
    "max-unacked-messages-per-consumer",
    "max-unacked-messages-per-subscription",
    "failover-delay-ms",
    "allow-auto-topic-creation",
    "allow-auto-topic-creation-type",
    "default-num-partitions",
    "broker-deduplication-enabled",
    "broker-deduplication-snapshot-interval-seconds",
    "schema-compatibility-strategy",
    "expose-topic-level-metrics-in-prometheus",
    "policy-check-interval-ms",
    "subscription-expiration-time-minutes",
    "broker-delete-inactive-topics-enabled",
    "broker-delete-inactive-topics-mode",
    "broker-delete-inactive-topics-max-inactive-duration-seconds",
    "replication-stall-threshold-ms",
    "managed-ledger-max-entries-per-ledger",
    "managed-ledger-min-ledger-rollover-time-minutes",
    "wait-for-bookies-ms",
    "unwritable-add-timeout-ms",
    "delayed-ensemble-change",
    "advertised-listeners",
    "session-timeout-ms",
    "load-report-interval-ms",
    "peer-probe-interval-ms",
    "shedding-enabled",
    "shedding-interval-ms",
    "shedding-grace-ms",
    "shedding-threshold-percent",
    "shedding-min-msg-rate",
    "auto-split",
    "split-max-topics",
    "split-max-sessions",
    "split-max-msg-rate",
    "split-max-bandwidth-mb",
    "max-bundles-per-namespace",
    "request-timeout-ms",
    "cluster",
    "id",
    "peers",
    "url",
    "broker-service-port-tls",
    "web-service-port-tls",
    "tls-certificate-file-path",
    "tls-key-file-path",
    "tls-trust-certs-file-path",
    "tls-require-trusted-client-cert-on-connect",
    "tls-cert-refresh-check-duration-sec",
    "metadata-tls-trust-certs-file-path",
    "metadata-tls-certificate-file-path",
    "metadata-tls-key-file-path",
    "bookkeeper-tls-trust-certs-file-path",
    "bookkeeper-tls-certificate-file-path",
    "bookkeeper-tls-key-file-path",
    "broker-client-authentication-plugin",
    "broker-client-authentication-parameters",
    "authentication-enabled",
    "authentication-providers",
    "anonymous-user-role",
    "authentication-refresh-check-seconds",
    "token-secret-key",
    "token-public-key",
    "token-public-alg",
    "token-auth-claim",
    "token-audience-claim",
    "token-audience",
    "basic-auth-conf",
    "authorization-enabled",
    "super-user-roles",
    "auth-plugin",
    "auth-params",
    "auth-token",
    "auth-token-file",
    "tls-trust-certs-file",
    "tls-allow-insecure",
    "tls-cert-file",
    "tls-key-file",
];

/// Finds `--config FILE` (or `--config=FILE`, or `MAGNETAR_CONFIG`) and
/// applies the file's keys as environment defaults.
pub fn apply_from_args(args: impl IntoIterator<Item = OsString>) -> Result<()> {
    let args: Vec<OsString> = args.into_iter().collect();
    let mut path = std::env::var_os("MAGNETAR_CONFIG").map(PathBuf::from);
    for (i, arg) in args.iter().enumerate() {
        let arg = arg.to_string_lossy();
        if arg == "--config" {
            path = args.get(i + 1).map(PathBuf::from);
        } else if let Some(value) = arg.strip_prefix("--config=") {
            path = Some(PathBuf::from(value));
        }
    }
    let Some(path) = path else { return Ok(()) };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("read config file {}", path.display()))?;
    for (key, value) in
        parse(&text).with_context(|| format!("parse config file {}", path.display()))?
    {
        let env_name = env_var_for(&key);
        if std::env::var_os(&env_name).is_none() {
            std::env::set_var(env_name, value);
        }
    }
    Ok(())
}

/// The environment variable of flag `key`.
pub fn env_var_for(key: &str) -> String {
    format!("MAGNETAR_{}", key.to_ascii_uppercase().replace('-', "_"))
}

fn parse(text: &str) -> Result<Vec<(String, String)>> {
    let table: toml::Table = text.parse()?;
    let mut out = Vec::new();
    for (key, value) in table {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            bail!(
                "unknown config key {key:?} (known: {})",
                KNOWN_KEYS.join(", ")
            );
        }
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => bail!("config key {key:?} must be a string, number or boolean, not {other}"),
        };
        out.push((key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_keys_and_maps_env_names() {
        let pairs =
            parse("ensemble-size = 3\nmetadata = \"etcd://h:1\"\njournal-sync = false\n").unwrap();
        assert!(pairs.contains(&("ensemble-size".into(), "3".into())));
        assert!(pairs.contains(&("journal-sync".into(), "false".into())));
        assert_eq!(env_var_for("ensemble-size"), "MAGNETAR_ENSEMBLE_SIZE");
    }

    /// Every flag that reads an environment variable can be set from the
    /// file, under the name whose variable it reads.
    #[test]
    fn every_flag_with_an_env_var_is_a_known_key() {
        use clap::CommandFactory;
        fn visit(command: &clap::Command, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) else {
                    continue;
                };
                if long == "config" || long == "pulsar-config" {
                    continue;
                }
                if !KNOWN_KEYS.contains(&long) || env.to_str() != Some(env_var_for(long).as_str()) {
                    missing.push(format!("--{long} ({env:?})"));
                }
            }
            for sub in command.get_subcommands() {
                // A client of the admin API, not a server: its URL comes
                // from `--url` or MAGNETAR_ADMIN_URL, never the file.
                if sub.get_name() != "admin" {
                    visit(sub, missing);
                }
            }
        }
        let mut missing = Vec::new();
        visit(&crate::args::Cli::command(), &mut missing);
        missing.sort();
        missing.dedup();
        assert!(
            missing.is_empty(),
            "flags the config file cannot set: {missing:?}"
        );
    }

    #[test]
    fn rejects_unknown_keys() {
        let err = parse("ensemble_size = 3").unwrap_err();
        assert!(err.to_string().contains("unknown config key"));
    }
}
