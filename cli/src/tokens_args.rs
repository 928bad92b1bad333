//! Arguments of `magnetar tokens`: the subcommands and flags of Pulsar's
//! `pulsar tokens` (secret keys, key pairs, creating, showing and
//! validating tokens). Keys are given as key values, as in the broker's
//! settings: `file:///path`, `data:;base64,…`, a path, or base64.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Creates a secret key for HS256/HS384/HS512 tokens (the broker's
    /// `tokenSecretKey`).
    CreateSecretKey(CreateSecretKeyArgs),
    /// Creates a key pair: the private key signs tokens, the public key
    /// (the broker's `tokenPublicKey`) verifies them. Both files are DER.
    CreateKeyPair(CreateKeyPairArgs),
    /// Creates a token for a role and prints it.
    Create(CreateTokenArgs),
    /// Prints a token's header and claims, without verifying it.
    Show(TokenInput),
    /// Verifies a token with a secret or public key and prints its subject;
    /// exits non-zero if it does not verify.
    Validate(ValidateTokenArgs),
}

#[derive(Debug, Args)]
pub struct CreateSecretKeyArgs {
    /// Write the key to this file (raw bytes unless `--base64`); without
    /// it the key is printed in base64.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Write the file in base64 rather than raw bytes.
    #[arg(short, long)]
    pub base64: bool,
    /// HS256 (32-byte key), HS384 (48) or HS512 (64).
    #[arg(short = 'a', long, default_value = "HS256")]
    pub signature_algorithm: String,
}

#[derive(Debug, Args)]
pub struct CreateKeyPairArgs {
    /// RS256 (2048-bit RSA; RS384, RS512 and PS256… make the same kind of
    /// key), ES256 (P-256) or ES384 (P-384).
    #[arg(short = 'a', long, default_value = "RS256")]
    pub signature_algorithm: String,
    /// Where the private key goes (PKCS#8 DER).
    #[arg(long)]
    pub output_private_key: PathBuf,
    /// Where the public key goes (X.509 SubjectPublicKeyInfo DER).
    #[arg(long)]
    pub output_public_key: PathBuf,
}

#[derive(Debug, Args)]
pub struct CreateTokenArgs {
    /// The role the token names (its `sub` claim).
    #[arg(short, long)]
    pub subject: String,
    /// The secret key to sign with (a key value).
    #[arg(
        long,
        required_unless_present = "private_key",
        conflicts_with = "private_key"
    )]
    pub secret_key: Option<String>,
    /// The private key to sign with (a key value; PEM or DER).
    #[arg(long)]
    pub private_key: Option<String>,
    /// The signature algorithm (default: HS256 with a secret key; RS256,
    /// ES256 or ES384 with a private key, after its type).
    #[arg(short = 'a', long)]
    pub signature_algorithm: Option<String>,
    /// How long the token is valid: `30s`, `10m`, `1h`, `7d`, `2w`, `1y`
    /// (no unit: seconds). Without it the token never expires.
    #[arg(short, long)]
    pub expiry_time: Option<String>,
}

/// Where a token comes from: the argument, `-f FILE`, or standard input.
#[derive(Debug, Args)]
pub struct TokenInput {
    /// The token.
    pub token: Option<String>,
    /// Read the token from standard input (also the default without a
    /// token or a file).
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Read the token from this file.
    #[arg(short = 'f', long, conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateTokenArgs {
    #[command(flatten)]
    pub input: TokenInput,
    /// The secret key the token was signed with (a key value).
    #[arg(
        long,
        required_unless_present = "public_key",
        conflicts_with = "public_key"
    )]
    pub secret_key: Option<String>,
    /// The public key that verifies the token (a key value; PEM or DER).
    #[arg(long)]
    pub public_key: Option<String>,
    /// The public key's algorithm, as the broker's `tokenPublicAlg`
    /// (default: RS256 for an RSA key, ES256 or ES384 for an EC key).
    #[arg(short = 'a', long)]
    pub signature_algorithm: Option<String>,
}
