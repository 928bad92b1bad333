//! The web console in a real browser: headless Chromium driven by Selenium
//! (`console.py`) against a real `magnetar standalone` with traffic from
//! the official Python client, once open and once with authentication and
//! authorization on. Screenshots of every page are saved under
//! `$MAGNETAR_ARTIFACTS/console` (default: the system temp directory).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use magnetar_tests::{run_magnetar, run_python_ok, Standalone};

fn artifacts(name: &str) -> PathBuf {
    let root = std::env::var_os("MAGNETAR_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("magnetar-artifacts"));
    root.join(name)
}

#[test]
fn console_pages_and_actions_in_a_browser() -> Result<()> {
    let standalone = Standalone::start()?;
    let url = standalone.pulsar_url()?;
    let admin = standalone.http_url()?;
    let dir = artifacts("console");
    let result = run_python_ok(
        "console.py",
        &["open", &url, &admin, &dir.to_string_lossy()],
        Duration::from_secs(420),
    );
    eprintln!("console: {result}\nscreenshots in {}", dir.display());
    Ok(())
}

fn tokens(args: &[&str]) -> Result<String> {
    let mut all = vec!["tokens"];
    all.extend_from_slice(args);
    run_magnetar(&all)
}

#[test]
fn console_sign_in_follows_the_roles() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let secret = d.join("secret.key");
    tokens(&["create-secret-key", "--output", &secret.to_string_lossy()])?;
    let key = format!("file://{}", secret.display());
    let admin_token = tokens(&["create", "--subject", "admin", "--secret-key", &key])?;
    let htpasswd = d.join("htpasswd");
    let password = "alice-password";
    std::fs::write(
        &htpasswd,
        format!("alice:{}\n", pwhash::bcrypt::hash(password)?),
    )?;
    let conf = d.join("standalone.conf");
    std::fs::write(
        &conf,
        format!(
            "authenticationEnabled=true\n\
             authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderToken,\
             org.apache.pulsar.broker.authentication.AuthenticationProviderBasic\n\
             authorizationEnabled=true\n\
             superUserRoles=admin\n\
             tokenSecretKey=file://{secret}\n\
             basicAuthConf=file://{htpasswd}\n",
            secret = secret.display(),
            htpasswd = htpasswd.display(),
        ),
    )?;
    let standalone = Standalone::start_with(&["--pulsar-config", &conf.to_string_lossy()])?;
    let secrets = d.join("secrets.json");
    std::fs::write(
        &secrets,
        serde_json::to_vec(&serde_json::json!({
            "admin": admin_token,
            "alice_password": password,
        }))?,
    )?;
    let shots = artifacts("console-secure");
    run_python_ok(
        "console.py",
        &[
            "secure",
            &standalone.http_url()?,
            &shots.to_string_lossy(),
            &secrets.to_string_lossy(),
        ],
        Duration::from_secs(240),
    );
    Ok(())
}
