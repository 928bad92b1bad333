//! Security end to end: a `magnetar standalone` started from a Pulsar-style
//! standalone-ssl.conf (TLS on its own ports, the tls, token and basic
//! providers together, authorization on, an anonymous role, a superuser),
//! keys and tokens made with `magnetar tokens`, and the official Python
//! client and the admin API checking every cell of the role matrix, bad
//! credentials, TLS refusals and credential refresh (`security.py`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use magnetar_tests::certs::TestCa;
use magnetar_tests::{magnetar_bin, run_magnetar, run_python_ok, Standalone};

/// Runs `magnetar tokens ARGS` and returns its stdout, trimmed.
fn tokens(args: &[&str]) -> Result<String> {
    let mut all = vec!["tokens"];
    all.extend_from_slice(args);
    run_magnetar(&all)
}

fn token(subject: &str, key: &Path, extra: &[&str]) -> Result<String> {
    let key = format!("file://{}", key.display());
    let mut args = vec!["create", "--subject", subject, "--secret-key", &key];
    args.extend_from_slice(extra);
    tokens(&args)
}

/// An htpasswd file with `user`'s password as Apache's `$apr1$` MD5, and a
/// bcrypt user beside it.
fn htpasswd(path: &Path, user: &str, password: &str) -> Result<()> {
    let salt = "q1w2e3r4";
    let apr1 = htpasswd_verify::md5::md5_apr1_encode(password, salt);
    let bcrypt = pwhash::bcrypt::hash("another-password")?;
    std::fs::write(path, format!("{user}:$apr1${salt}${apr1}\nbob:{bcrypt}\n"))?;
    Ok(())
}

#[test]
fn tls_tokens_basic_auth_and_the_role_matrix() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let ca = TestCa::new(d, "magnetar")?;
    let server = ca.server(d, "broker")?;
    let client = ca.client(d, "tls-client")?;
    let rogue = TestCa::new(d, "rogue")?.client(d, "tls-client-rogue")?;

    let secret = d.join("secret.key");
    tokens(&["create-secret-key", "--output", &secret.to_string_lossy()])?;
    let other_secret = d.join("other.key");
    tokens(&[
        "create-secret-key",
        "--output",
        &other_secret.to_string_lossy(),
    ])?;
    let expired = token("admin", &secret, &["--expiry-time", "1s"])?;
    let mut token_map = serde_json::Map::new();
    for role in ["admin", "acme-admin", "writer", "reader", "outsider"] {
        token_map.insert(role.into(), token(role, &secret, &[])?.into());
    }
    token_map.insert("expired".into(), expired.into());
    token_map.insert("forged".into(), token("admin", &other_secret, &[])?.into());
    token_map.insert("malformed".into(), "not.a-jwt".into());
    let htpasswd_file = d.join("htpasswd");
    htpasswd(&htpasswd_file, "alice", "alice-password")?;

    // A standalone-ssl.conf of the kind Pulsar's client test setups use.
    let conf = d.join("standalone-ssl.conf");
    std::fs::write(
        &conf,
        format!(
            "# Pulsar settings\n\
             brokerServicePortTls=6651\n\
             webServicePortTls=8443\n\
             tlsCertificateFilePath={cert}\n\
             tlsKeyFilePath={key}\n\
             tlsTrustCertsFilePath={ca}\n\
             tlsAllowInsecureConnection=false\n\
             authenticationEnabled=true\n\
             authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderTls,\
             org.apache.pulsar.broker.authentication.AuthenticationProviderToken,\
             org.apache.pulsar.broker.authentication.AuthenticationProviderBasic\n\
             authorizationEnabled=true\n\
             authorizationProvider=org.apache.pulsar.broker.authorization.PulsarAuthorizationProvider\n\
             superUserRoles=admin,superproxy\n\
             anonymousUserRole=anonymous\n\
             tokenSecretKey=file://{secret}\n\
             basicAuthConf=file://{htpasswd}\n\
             zooKeeperSessionTimeoutMillis=30000\n",
            cert = server.cert.display(),
            key = server.key.display(),
            ca = ca.cert_file.display(),
            secret = secret.display(),
            htpasswd = htpasswd_file.display(),
        ),
    )?;
    // Flags win over the file: ephemeral TLS ports, a fast refresh check.
    let conf_arg = conf.to_string_lossy().into_owned();
    let standalone = Standalone::start_with(&[
        "--pulsar-config",
        &conf_arg,
        "--broker-service-port-tls",
        "0",
        "--web-service-port-tls",
        "0",
        "--authentication-refresh-check-seconds",
        "1",
    ])?;
    let ready = &standalone.process.ready;
    let config = serde_json::json!({
        "url": standalone.pulsar_url()?,
        "admin": standalone.http_url()?,
        "tls_url": format!("pulsar+ssl://{}", ready.addr("pulsar_tls")?),
        "https": format!("https://{}", ready.addr("https")?),
        "ca": ca.cert_file,
        "client_cert": client.cert,
        "client_key": client.key,
        "rogue_cert": rogue.cert,
        "rogue_key": rogue.key,
        "tokens": token_map,
        "basic": {"user": "alice", "password": "alice-password"},
        "magnetar": magnetar_bin(),
        "secret_key_file": secret,
    });
    let config_file = d.join("security.json");
    std::fs::write(&config_file, serde_json::to_vec_pretty(&config)?)?;
    run_python_ok(
        "security.py",
        &[&config_file.to_string_lossy()],
        Duration::from_secs(300),
    );

    // `magnetar admin` over HTTPS with the CA and a token file.
    let admin_token = d.join("admin.token");
    let admin_value = token_map["admin"].as_str().context("admin token")?;
    std::fs::write(&admin_token, admin_value)?;
    let https = format!("https://{}", ready.addr("https")?);
    let ca_file = ca.cert_file.to_string_lossy().into_owned();
    let admin = |extra: &[&str]| -> Result<std::process::Output> {
        let mut command = Command::new(magnetar_bin());
        command.args(["admin", "--url", &https, "--tls-trust-certs-file", &ca_file]);
        command.args(extra).args(["tenants", "list"]);
        Ok(command.output()?)
    };
    let listed = admin(&["--auth-token-file", &admin_token.to_string_lossy()])?;
    let stdout = String::from_utf8_lossy(&listed.stdout);
    ensure!(
        listed.status.success() && stdout.contains("acme"),
        "admin with a token over HTTPS: {listed:?}"
    );
    // Without a token the client is the anonymous role, which may not
    // list tenants.
    let refused = admin(&[])?;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    ensure!(
        !refused.status.success() && stderr.contains("403") && stderr.contains("anonymous"),
        "admin without a token: {refused:?}"
    );
    ensure!(
        !stderr.contains(admin_value),
        "a refusal repeated the token"
    );
    Ok(())
}

/// A standalone whose settings cannot be used does not start, and says why
/// without printing key material.
#[test]
fn unusable_security_settings_stop_the_start() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_string_lossy();
    let refused = Standalone::start_with(&[
        "--tls-certificate-file-path",
        &missing,
        "--tls-key-file-path",
        &missing,
        "--broker-service-port-tls",
        "0",
        "--web-service-port-tls",
        "0",
    ]);
    ensure!(
        refused.is_err(),
        "a missing certificate must stop the start"
    );
    let refused = Standalone::start_with(&[
        "--authentication-enabled",
        "true",
        "--authentication-providers",
        "token",
        "--token-secret-key",
        "data:;base64,!!!not-base64",
    ]);
    ensure!(
        refused.is_err(),
        "an unreadable token key must stop the start"
    );
    let refused = Standalone::start_with(&["--authorization-enabled", "true"]);
    ensure!(
        refused.is_err(),
        "authorization without authentication must stop the start"
    );
    Ok(())
}
