//! `magnetar tokens`: Pulsar's `pulsar tokens` for the `token`
//! authentication provider. Keys and tokens are made and checked by
//! `magnetar_broker::security::token`, so a token this command creates is
//! verified exactly as the broker will verify it.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use magnetar_broker::security::keys::{self, KeyType};
use magnetar_broker::security::token::{self, TokenProvider, TokenSettings};

use crate::tokens_args::{
    CreateKeyPairArgs, CreateSecretKeyArgs, CreateTokenArgs, TokenInput, TokensCommand,
    ValidateTokenArgs,
};

pub fn run(command: TokensCommand) -> Result<()> {
    match command {
        TokensCommand::CreateSecretKey(args) => create_secret_key(&args),
        TokensCommand::CreateKeyPair(args) => create_key_pair(&args),
        TokensCommand::Create(args) => create(&args),
        TokensCommand::Show(input) => show(&input),
        TokensCommand::Validate(args) => validate(&args),
    }
}

fn create_secret_key(args: &CreateSecretKeyArgs) -> Result<()> {
    let key = token::generate_secret_key_for(&args.signature_algorithm)?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&key);
    match &args.output {
        Some(path) if args.base64 => write_private(path, encoded.as_bytes()),
        Some(path) => write_private(path, &key),
        None => {
            println!("{encoded}");
            Ok(())
        }
    }
}

fn create_key_pair(args: &CreateKeyPairArgs) -> Result<()> {
    let (private, public) = token::generate_key_pair(&args.signature_algorithm)?;
    write_private(&args.output_private_key, &private)?;
    std::fs::write(&args.output_public_key, public)
        .with_context(|| format!("write {}", args.output_public_key.display()))
}

fn create(args: &CreateTokenArgs) -> Result<()> {
    let (key, algorithm) = match (&args.secret_key, &args.private_key) {
        (Some(secret), None) => {
            let key = keys::read_key_value(secret).context("--secret-key")?;
            let algorithm = args.signature_algorithm.as_deref().unwrap_or("HS256");
            (key, algorithm.to_string())
        }
        (None, Some(private)) => {
            let key = keys::read_key_value(private).context("--private-key")?;
            let algorithm = match &args.signature_algorithm {
                Some(algorithm) => algorithm.clone(),
                None => default_algorithm(keys::parse_private_key(&key)?.key_type).to_string(),
            };
            (key, algorithm)
        }
        _ => bail!("give --secret-key or --private-key"),
    };
    let expires_at = match &args.expiry_time {
        Some(text) => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            Some(now.saturating_add(parse_duration_secs(text)?))
        }
        None => None,
    };
    println!(
        "{}",
        token::create_token(&key, &algorithm, &args.subject, expires_at)?
    );
    Ok(())
}

/// The algorithm a key signs or verifies with unless told otherwise.
fn default_algorithm(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::Rsa => "RS256",
        KeyType::EcP256 => "ES256",
        KeyType::EcP384 => "ES384",
    }
}

fn show(input: &TokenInput) -> Result<()> {
    let (header, claims) = token::decode_unverified(&read_token(input)?)?;
    println!("{}", serde_json::to_string_pretty(&header)?);
    println!("---");
    println!("{}", serde_json::to_string_pretty(&claims)?);
    Ok(())
}

fn validate(args: &ValidateTokenArgs) -> Result<()> {
    let public_algorithm = match (&args.signature_algorithm, &args.public_key) {
        (Some(algorithm), _) => Some(algorithm.clone()),
        (None, Some(public)) => {
            let key = keys::read_key_value(public).context("--public-key")?;
            Some(default_algorithm(keys::parse_public_key(&key)?.key_type).to_string())
        }
        (None, None) => None,
    };
    let settings = TokenSettings {
        secret_key: args.secret_key.clone(),
        public_key: args.public_key.clone(),
        public_algorithm,
        ..Default::default()
    };
    let provider = TokenProvider::new(&settings)?;
    let principal = provider.authenticate(&read_token(&args.input)?)?;
    println!("{}", principal.role);
    Ok(())
}

/// The token from the argument, the file, or standard input.
fn read_token(input: &TokenInput) -> Result<String> {
    let text = match (&input.token, &input.token_file) {
        (Some(token), _) => token.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("read token file {}", path.display()))?,
        (None, None) => {
            let mut text = String::new();
            std::io::stdin()
                .take(token::MAX_TOKEN_LEN as u64 + 1)
                .read_to_string(&mut text)
                .context("read the token from standard input")?;
            text
        }
    };
    let token = text.trim();
    if token.is_empty() {
        bail!("no token given");
    }
    Ok(token.to_string())
}

/// `30s`, `10m`, `1h`, `7d`, `2w`, `1y`, or a number of seconds.
fn parse_duration_secs(text: &str) -> Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| anyhow!("--expiry-time {text:?}: expected a number and a unit, like 1h"))?;
    let unit_secs = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "y" => 365 * 86_400,
        other => bail!("--expiry-time unit {other:?}: use s, m, h, d, w or y"),
    };
    number
        .checked_mul(unit_secs)
        .ok_or_else(|| anyhow!("--expiry-time {text:?} is too long"))
}

/// Writes a key file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_times_parse() {
        assert_eq!(parse_duration_secs("45").unwrap(), 45);
        assert_eq!(parse_duration_secs("30s").unwrap(), 30);
        assert_eq!(parse_duration_secs("10m").unwrap(), 600);
        assert_eq!(parse_duration_secs("1h").unwrap(), 3_600);
        assert_eq!(parse_duration_secs("7d").unwrap(), 604_800);
        assert_eq!(parse_duration_secs("2w").unwrap(), 1_209_600);
        assert_eq!(parse_duration_secs("1y").unwrap(), 31_536_000);
        assert!(parse_duration_secs("h").is_err());
        assert!(parse_duration_secs("3x").is_err());
        assert!(parse_duration_secs("99999999999999999999y").is_err());
    }

    #[test]
    fn key_pair_files_sign_and_validate_without_naming_the_algorithm() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("private.der");
        let public = dir.path().join("public.der");
        create_key_pair(&CreateKeyPairArgs {
            signature_algorithm: "ES256".into(),
            output_private_key: private.clone(),
            output_public_key: public.clone(),
        })
        .unwrap();
        let key = std::fs::read(&private).unwrap();
        let algorithm = default_algorithm(keys::parse_private_key(&key).unwrap().key_type);
        assert_eq!(algorithm, "ES256");
        let token = token::create_token(&key, algorithm, "svc", None).unwrap();
        validate(&ValidateTokenArgs {
            input: TokenInput {
                token: Some(token),
                stdin: false,
                token_file: None,
            },
            secret_key: None,
            public_key: Some(format!("file://{}", public.display())),
            signature_algorithm: None,
        })
        .unwrap();
    }

    #[test]
    fn secret_key_file_signs_and_validates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        create_secret_key(&CreateSecretKeyArgs {
            output: Some(path.clone()),
            base64: false,
            signature_algorithm: "HS256".into(),
        })
        .unwrap();
        let key = std::fs::read(&path).unwrap();
        assert_eq!(key.len(), 32);
        let value = format!("file://{}", path.display());
        let token = token::create_token(&key, "HS256", "alice", None).unwrap();
        validate(&ValidateTokenArgs {
            input: TokenInput {
                token: Some(token.clone()),
                stdin: false,
                token_file: None,
            },
            secret_key: Some(value.clone()),
            public_key: None,
            signature_algorithm: None,
        })
        .unwrap();
        let wrong = validate(&ValidateTokenArgs {
            input: TokenInput {
                token: Some(format!("{token}x")),
                stdin: false,
                token_file: None,
            },
            secret_key: Some(value),
            public_key: None,
            signature_algorithm: None,
        });
        assert!(wrong.is_err());
    }
}
