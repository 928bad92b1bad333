//! Pulsar's `token` authentication: a client proves its role with a JSON
//! Web Token signed by a secret key (HS256, HS384, HS512) or by the
//! private half of a key pair (RS256… and PS256… for RSA, ES256 or ES384
//! for EC), as Pulsar's `AuthenticationProviderToken` does.
//!
//! [`TokenProvider`] verifies tokens: the role is the string in the auth
//! claim (`sub` unless `tokenAuthClaim` says otherwise); a token without
//! `exp` never expires; with `tokenAudience` set, the audience claim must
//! carry it.
//!
//! The rest serves `magnetar tokens` (Pulsar's `pulsar tokens`): secret
//! keys and key pairs ([`generate_secret_key`], [`generate_key_pair`]),
//! signing ([`create_token`]) and reading a token without verifying it
//! ([`decode_unverified`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use super::keys::{self, KeyType};
use super::{Principal, SecurityError};

/// Longest token accepted, in bytes; a longer one is refused unparsed.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// The claim that names the role unless configured otherwise.
pub const DEFAULT_AUTH_CLAIM: &str = "sub";
/// The claim that carries the audience unless configured otherwise.
pub const DEFAULT_AUDIENCE_CLAIM: &str = "aud";
/// The algorithm of a public key unless configured otherwise.
pub const DEFAULT_PUBLIC_ALGORITHM: &str = "RS256";

/// The settings of the token provider, named after Pulsar's `broker.conf`.
#[derive(Debug, Clone, Default)]
pub struct TokenSettings {
    /// `tokenSecretKey`: a key value (see [`keys::read_key_value`]) for
    /// HS256, HS384 and HS512 tokens.
    pub secret_key: Option<String>,
    /// `tokenPublicKey`: a key value holding a public key, PEM or DER
    /// (X.509 `SubjectPublicKeyInfo`, as `pulsar tokens` writes it).
    pub public_key: Option<String>,
    /// `tokenPublicAlg`: the public key's algorithm, `RS256` by default
    /// (an RSA key verifies RS256/384/512 and PS256/384/512 tokens; EC
    /// keys take ES256 or ES384).
    pub public_algorithm: Option<String>,
    /// `tokenAuthClaim`: the claim holding the role (`sub` by default).
    pub auth_claim: Option<String>,
    /// `tokenAudienceClaim`: the claim holding the audience (`aud` by
    /// default).
    pub audience_claim: Option<String>,
    /// `tokenAudience`: when set, the token's audience must include it.
    pub audience: Option<String>,
}

/// Verifies tokens and names the role they carry.
#[derive(Debug)]
pub struct TokenProvider {
    key: DecodingKey,
    validation: Validation,
    auth_claim: String,
    /// The audience claim and the value it must hold, when configured.
    audience: Option<(String, String)>,
}

impl TokenProvider {
    /// Loads the verification key. Errors if neither key is set, a key
    /// cannot be read or parsed, or the public key does not match
    /// `tokenPublicAlg`.
    pub fn new(settings: &TokenSettings) -> Result<Self, SecurityError> {
        let (key, algorithms) = match (
            non_blank(&settings.secret_key),
            non_blank(&settings.public_key),
        ) {
            (Some(secret), public) => {
                if public.is_some() {
                    tracing::warn!(
                        "both tokenSecretKey and tokenPublicKey are set; \
                         tokens are verified with the secret key"
                    );
                }
                secret_verifier(secret)?
            }
            (None, Some(public)) => public_verifier(public, non_blank(&settings.public_algorithm))?,
            (None, None) => {
                return Err(SecurityError::config(
                    "token authentication",
                    "needs tokenSecretKey or tokenPublicKey",
                ))
            }
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = algorithms;
        // Pulsar's tokens need no `exp`; when present it is checked
        // exactly, as is `nbf`. The audience is checked below, in any claim.
        validation.required_spec_claims.clear();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 0;
        validation.validate_aud = false;
        let audience = non_blank(&settings.audience).map(|audience| {
            let claim = non_blank(&settings.audience_claim).unwrap_or(DEFAULT_AUDIENCE_CLAIM);
            (claim.to_string(), audience.to_string())
        });
        Ok(TokenProvider {
            key,
            validation,
            auth_claim: non_blank(&settings.auth_claim)
                .unwrap_or(DEFAULT_AUTH_CLAIM)
                .to_string(),
            audience,
        })
    }

    /// Verifies `token` (surrounding whitespace ignored) and returns its
    /// role, with the token's expiry when it has one.
    pub fn authenticate(&self, token: &str) -> Result<Principal, SecurityError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(SecurityError::authentication("no token"));
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(SecurityError::authentication("token too large"));
        }
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|error| token_error(error.kind()))?
            .claims;
        if let Some((claim, audience)) = &self.audience {
            let matches = match claims.get(claim) {
                Some(Value::String(value)) => value == audience,
                Some(Value::Array(values)) => values.iter().any(|v| v.as_str() == Some(audience)),
                _ => false,
            };
            if !matches {
                return Err(SecurityError::authentication(
                    "token is not meant for this audience",
                ));
            }
        }
        let role = match claims.get(&self.auth_claim) {
            Some(Value::String(role)) if !role.is_empty() => role.clone(),
            _ => {
                return Err(SecurityError::authentication(format!(
                    "token has no {:?} claim naming a role",
                    self.auth_claim
                )))
            }
        };
        Ok(Principal {
            role,
            expires_at: claims.get("exp").and_then(seconds).map(after_epoch),
        })
    }
}

/// The key and algorithms that verify tokens signed with the secret in
/// key value `value`.
fn secret_verifier(value: &str) -> Result<(DecodingKey, Vec<Algorithm>), SecurityError> {
    let secret = keys::read_key_value(value).map_err(in_setting("tokenSecretKey"))?;
    let key = DecodingKey::from_secret(&secret)
        .map_err(|_| SecurityError::config("tokenSecretKey", "is empty"))?;
    Ok((key, AlgorithmFamily::Hmac.algorithms().to_vec()))
}

/// The key and algorithms that verify tokens signed by the private half
/// of the public key in key value `value`, of algorithm `algorithm`
/// (`tokenPublicAlg`, RS256 by default). An RSA key verifies every RSA
/// algorithm, as in Pulsar; an EC key its curve's.
fn public_verifier(
    value: &str,
    algorithm: Option<&str>,
) -> Result<(DecodingKey, Vec<Algorithm>), SecurityError> {
    let name = algorithm.unwrap_or(DEFAULT_PUBLIC_ALGORITHM);
    let algorithm = parse_algorithm(name)
        .filter(|alg| matches!(alg.family(), AlgorithmFamily::Rsa | AlgorithmFamily::Ec))
        .ok_or_else(|| {
            SecurityError::config(
                "tokenPublicAlg",
                format!("{name:?} is not one of {PUBLIC_ALGORITHMS}"),
            )
        })?;
    let public = keys::read_key_value(value)
        .and_then(|bytes| keys::parse_public_key(&bytes))
        .map_err(in_setting("tokenPublicKey"))?;
    if key_type_for(algorithm) != Some(public.key_type) {
        return Err(SecurityError::config(
            "tokenPublicKey",
            format!("is {} but tokenPublicAlg is {name}", public.key_type),
        ));
    }
    crypto::check_public_key(&public)?;
    Ok(match public.key_type {
        KeyType::Rsa => (
            DecodingKey::from_rsa_der(&public.der),
            AlgorithmFamily::Rsa.algorithms().to_vec(),
        ),
        KeyType::EcP256 | KeyType::EcP384 => {
            (DecodingKey::from_ec_der(&public.der), vec![algorithm])
        }
    })
}

/// The reason given to a client for a token that does not verify.
fn token_error(kind: &ErrorKind) -> SecurityError {
    SecurityError::authentication(match kind {
        ErrorKind::ExpiredSignature => "token expired",
        ErrorKind::ImmatureSignature => "token not valid yet",
        ErrorKind::InvalidSignature => "token signature does not verify",
        ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => {
            "token algorithm is not accepted"
        }
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidKeyFormat => {
            "token signature does not verify"
        }
        _ => "malformed token",
    })
}

fn non_blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The same error, prefixed with the setting it came from.
fn in_setting(setting: &str) -> impl Fn(SecurityError) -> SecurityError + '_ {
    move |error| match error {
        SecurityError::Config { what, reason } => {
            SecurityError::config(format!("{setting}: {what}"), reason)
        }
        other => other,
    }
}

/// A JSON number of seconds (an integer or not, as JWTs allow).
fn seconds(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|secs| secs.is_finite() && *secs >= 0.0)
            .map(|secs| secs as u64)
    })
}

fn after_epoch(secs: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(UNIX_EPOCH)
}

/// A JWT algorithm by its name (`HS256`, `RS256`, `ES256`…), ignoring
/// case. EdDSA, which Pulsar does not take, is not one.
pub fn parse_algorithm(name: &str) -> Option<Algorithm> {
    name.trim().to_ascii_uppercase().parse().ok()
}

/// The key type that signs with `algorithm` (none for HMAC).
fn key_type_for(algorithm: Algorithm) -> Option<KeyType> {
    match algorithm {
        Algorithm::ES256 => Some(KeyType::EcP256),
        Algorithm::ES384 => Some(KeyType::EcP384),
        alg if alg.family() == AlgorithmFamily::Rsa => Some(KeyType::Rsa),
        _ => None,
    }
}

/// The algorithms a public key verifies, for messages.
const PUBLIC_ALGORITHMS: &str = "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384";

fn unknown_algorithm(name: &str) -> SecurityError {
    SecurityError::config(
        "signature algorithm",
        format!("{name:?} is not one of HS256, HS384, HS512, {PUBLIC_ALGORITHMS}"),
    )
}

// ---- `magnetar tokens`: keys, signing, reading ----

/// A new random secret key for HS256: 32 bytes, as `pulsar tokens
/// create-secret-key` makes.
pub fn generate_secret_key() -> Vec<u8> {
    random_bytes(32)
}

/// A new random secret key sized for `algorithm` (HS256: 32 bytes, HS384:
/// 48, HS512: 64).
pub fn generate_secret_key_for(algorithm: &str) -> Result<Vec<u8>, SecurityError> {
    let len = match parse_algorithm(algorithm) {
        Some(Algorithm::HS256) => 32,
        Some(Algorithm::HS384) => 48,
        Some(Algorithm::HS512) => 64,
        _ => {
            return Err(SecurityError::config(
                "signature algorithm",
                format!("{algorithm:?} is not one of HS256, HS384, HS512"),
            ))
        }
    };
    Ok(random_bytes(len))
}

fn random_bytes(len: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut bytes = vec![0u8; len];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A new key pair for `algorithm`: the private key as PKCS#8 DER and the
/// public key as X.509 `SubjectPublicKeyInfo` DER, the files `pulsar
/// tokens create-key-pair` writes. RS* and PS* get a 2048-bit RSA key,
/// ES256 a P-256 key and ES384 a P-384 key.
pub fn generate_key_pair(algorithm: &str) -> Result<(Vec<u8>, Vec<u8>), SecurityError> {
    let alg = parse_algorithm(algorithm).ok_or_else(|| unknown_algorithm(algorithm))?;
    let key_type = key_type_for(alg).ok_or_else(|| {
        SecurityError::config(
            "signature algorithm",
            format!("{algorithm} uses a secret key, not a key pair"),
        )
    })?;
    crypto::generate(key_type)
}

/// Signs a token for `subject` with `algorithm`, expiring at
/// `expires_at_secs` (seconds since the epoch) if given. `signing_key` is
/// the secret (HS*) or a private key, PEM or DER (PKCS#8, PKCS#1 RSA or
/// SEC1 EC).
pub fn create_token(
    signing_key: &[u8],
    algorithm: &str,
    subject: &str,
    expires_at_secs: Option<u64>,
) -> Result<String, SecurityError> {
    let alg = parse_algorithm(algorithm).ok_or_else(|| unknown_algorithm(algorithm))?;
    let key = match key_type_for(alg) {
        None => EncodingKey::from_secret(signing_key)
            .map_err(|_| SecurityError::config("secret key", "is empty"))?,
        Some(wanted) => {
            let private = keys::parse_private_key(signing_key)?;
            if private.key_type != wanted {
                return Err(SecurityError::config(
                    "private key",
                    format!("is {} but the algorithm is {algorithm}", private.key_type),
                ));
            }
            match wanted {
                KeyType::Rsa => EncodingKey::from_rsa_der(&private.der),
                KeyType::EcP256 | KeyType::EcP384 => EncodingKey::from_ec_der(&private.der),
            }
        }
    };
    let mut claims = Map::new();
    claims.insert("sub".into(), Value::String(subject.to_string()));
    if let Some(exp) = expires_at_secs {
        claims.insert("exp".into(), Value::from(exp));
    }
    // Pulsar's tokens carry `alg` alone in their header.
    let header = Header {
        typ: None,
        ..Header::new(alg)
    };
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|error| SecurityError::config("signing the token", signing_error(error.kind())))
}

fn signing_error(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRsaKey(_) | ErrorKind::RsaFailedSigning => "the RSA key does not sign",
        ErrorKind::InvalidEcdsaKey => "the EC key does not sign",
        ErrorKind::InvalidAlgorithm => "the key does not fit the algorithm",
        _ => "failed",
    }
}

/// The header and claims of a token, without verifying its signature (for
/// `magnetar tokens show`).
pub fn decode_unverified(token: &str) -> Result<(Value, Value), SecurityError> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        return Err(SecurityError::authentication("token too large"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SecurityError::authentication("malformed token"));
    };
    let part = |text: &str| -> Result<Value, SecurityError> {
        let json = URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| SecurityError::authentication("malformed token"))?;
        serde_json::from_slice(&json).map_err(|_| SecurityError::authentication("malformed token"))
    };
    Ok((part(header)?, part(claims)?))
}

/// Key pairs, generated and checked with the RustCrypto crates that
/// jsonwebtoken verifies with.
mod crypto {
    use p256::elliptic_curve::{self as ecc, CurveArithmetic, Generate, SecretKey};
    use pkcs8::{EncodePrivateKey, EncodePublicKey};
    use rsa::rand_core::{TryCryptoRng, TryRng};

    use super::keys::{KeyType, PublicKey};
    use super::SecurityError;

    /// The operating system's random numbers, in the shape the RustCrypto
    /// crates take (their `rand_core` is newer than `rand`'s).
    struct OsRandom;

    impl TryRng for OsRandom {
        type Error = rand::Error;

        fn try_next_u32(&mut self) -> Result<u32, rand::Error> {
            let mut bytes = [0u8; 4];
            self.try_fill_bytes(&mut bytes)?;
            Ok(u32::from_le_bytes(bytes))
        }

        fn try_next_u64(&mut self) -> Result<u64, rand::Error> {
            let mut bytes = [0u8; 8];
            self.try_fill_bytes(&mut bytes)?;
            Ok(u64::from_le_bytes(bytes))
        }

        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), rand::Error> {
            rand::RngCore::try_fill_bytes(&mut rand::rngs::OsRng, dst)
        }
    }

    impl TryCryptoRng for OsRandom {}

    /// Errors unless `key` is a usable public key (a valid RSA key, a
    /// point on its curve).
    pub(super) fn check_public_key(key: &PublicKey) -> Result<(), SecurityError> {
        use rsa::pkcs1::DecodeRsaPublicKey;
        let valid = match key.key_type {
            KeyType::Rsa => rsa::PublicKey::from_pkcs1_der(&key.der).is_ok(),
            KeyType::EcP256 => p256::PublicKey::from_sec1_bytes(&key.der).is_ok(),
            KeyType::EcP384 => p384::PublicKey::from_sec1_bytes(&key.der).is_ok(),
        };
        if valid {
            Ok(())
        } else {
            Err(SecurityError::config(
                "tokenPublicKey",
                format!("is not a valid key ({})", key.key_type),
            ))
        }
    }

    /// The size of the RSA keys made, as `pulsar tokens create-key-pair`.
    const RSA_BITS: usize = 2048;

    /// A new key pair of `key_type`: the private key as PKCS#8 DER and the
    /// public key as X.509 `SubjectPublicKeyInfo` DER.
    pub(super) fn generate(key_type: KeyType) -> Result<(Vec<u8>, Vec<u8>), SecurityError> {
        match key_type {
            KeyType::Rsa => {
                let private =
                    rsa::PrivateKey::new(&mut OsRandom, RSA_BITS).map_err(generating(key_type))?;
                encode_pair(&private, &private.to_public_key())
            }
            KeyType::EcP256 => generate_ec::<p256::NistP256>(key_type),
            KeyType::EcP384 => generate_ec::<p384::NistP384>(key_type),
        }
    }

    /// A new key pair on curve `C`, of `key_type`.
    fn generate_ec<C: CurveArithmetic>(
        key_type: KeyType,
    ) -> Result<(Vec<u8>, Vec<u8>), SecurityError>
    where
        SecretKey<C>: Generate + EncodePrivateKey,
        ecc::PublicKey<C>: EncodePublicKey,
    {
        let secret =
            SecretKey::<C>::try_generate_from_rng(&mut OsRandom).map_err(generating(key_type))?;
        encode_pair(&secret, &secret.public_key())
    }

    fn generating<E: std::fmt::Display>(key_type: KeyType) -> impl FnOnce(E) -> SecurityError {
        move |error| SecurityError::config(format!("generating {key_type}"), error)
    }

    /// The DER of a key pair: PKCS#8 and X.509 `SubjectPublicKeyInfo`.
    fn encode_pair(
        private: &impl EncodePrivateKey,
        public: &impl EncodePublicKey,
    ) -> Result<(Vec<u8>, Vec<u8>), SecurityError> {
        let private = private.to_pkcs8_der().map_err(encoding_error)?;
        let public = public.to_public_key_der().map_err(encoding_error)?;
        Ok((private.as_bytes().to_vec(), public.as_bytes().to_vec()))
    }

    fn encoding_error(error: impl std::fmt::Display) -> SecurityError {
        SecurityError::config("encoding the key pair", error)
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    use super::*;

    fn now_secs() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn secret_settings(secret: &[u8]) -> TokenSettings {
        TokenSettings {
            secret_key: Some(format!("data:;base64,{}", STANDARD.encode(secret))),
            ..Default::default()
        }
    }

    fn public_settings(public: &[u8], algorithm: &str) -> TokenSettings {
        TokenSettings {
            public_key: Some(format!("data:;base64,{}", STANDARD.encode(public))),
            public_algorithm: Some(algorithm.to_string()),
            ..Default::default()
        }
    }

    fn reason(result: Result<Principal, SecurityError>) -> String {
        match result {
            Err(SecurityError::Authentication(reason)) => reason,
            other => panic!("expected an authentication error, got {other:?}"),
        }
    }

    #[test]
    fn hs256_round_trip() {
        let secret = generate_secret_key();
        assert_eq!(secret.len(), 32);
        let exp = now_secs() + 3600;
        let token = create_token(&secret, "HS256", "alice", Some(exp)).unwrap();
        let provider = TokenProvider::new(&secret_settings(&secret)).unwrap();
        let principal = provider.authenticate(&format!("  {token}\n")).unwrap();
        assert_eq!(principal.role, "alice");
        assert_eq!(principal.expires_at, Some(after_epoch(exp)));
        // The other HMAC sizes verify with the same secret.
        let hs512 = create_token(&secret, "HS512", "bob", None).unwrap();
        assert_eq!(provider.authenticate(&hs512).unwrap().role, "bob");
    }

    #[test]
    fn rs256_round_trip_with_der_and_pem_public_keys() {
        let (private, public) = generate_key_pair("RS256").unwrap();
        let token = create_token(&private, "RS256", "svc", None).unwrap();
        let der = TokenProvider::new(&public_settings(&public, "RS256")).unwrap();
        assert_eq!(der.authenticate(&token).unwrap().role, "svc");
        let pem = keys::pem_encode("PUBLIC KEY", &public);
        let pem = TokenProvider::new(&public_settings(pem.as_bytes(), "RS256")).unwrap();
        assert_eq!(pem.authenticate(&token).unwrap().role, "svc");
        // A PEM private key signs too, and PS256 verifies with the RSA key.
        let private_pem = keys::pem_encode("PRIVATE KEY", &private);
        let ps256 = create_token(private_pem.as_bytes(), "PS256", "svc2", None).unwrap();
        assert_eq!(der.authenticate(&ps256).unwrap().role, "svc2");
        // A key of the wrong type for the algorithm is refused.
        assert!(TokenProvider::new(&public_settings(&public, "ES256")).is_err());
        assert!(create_token(&private, "ES256", "svc", None).is_err());
    }

    #[test]
    fn es256_round_trip_with_der_and_pem_public_keys() {
        let (private, public) = generate_key_pair("ES256").unwrap();
        let token = create_token(&private, "ES256", "edge", None).unwrap();
        let der = TokenProvider::new(&public_settings(&public, "ES256")).unwrap();
        assert_eq!(der.authenticate(&token).unwrap().role, "edge");
        let pem = keys::pem_encode("PUBLIC KEY", &public);
        let pem = TokenProvider::new(&public_settings(pem.as_bytes(), "ES256")).unwrap();
        assert_eq!(pem.authenticate(&token).unwrap().role, "edge");
        // Another key pair's signature does not verify.
        let (other, _) = generate_key_pair("ES256").unwrap();
        let forged = create_token(&other, "ES256", "edge", None).unwrap();
        assert_eq!(
            reason(der.authenticate(&forged)),
            "token signature does not verify"
        );
    }

    #[test]
    fn es384_round_trip() {
        let (private, public) = generate_key_pair("ES384").unwrap();
        let token = create_token(&private, "ES384", "edge", None).unwrap();
        let provider = TokenProvider::new(&public_settings(&public, "ES384")).unwrap();
        assert_eq!(provider.authenticate(&token).unwrap().role, "edge");
        // A P-384 key is not an ES256 key.
        assert!(TokenProvider::new(&public_settings(&public, "ES256")).is_err());
    }

    #[test]
    fn expired_token_is_refused() {
        let secret = generate_secret_key();
        let provider = TokenProvider::new(&secret_settings(&secret)).unwrap();
        let token = create_token(&secret, "HS256", "alice", Some(now_secs() - 5)).unwrap();
        assert_eq!(reason(provider.authenticate(&token)), "token expired");
    }

    #[test]
    fn token_without_exp_never_expires() {
        let secret = generate_secret_key();
        let provider = TokenProvider::new(&secret_settings(&secret)).unwrap();
        let token = create_token(&secret, "HS256", "forever", None).unwrap();
        let principal = provider.authenticate(&token).unwrap();
        assert_eq!(principal.role, "forever");
        assert_eq!(principal.expires_at, None);
    }

    #[test]
    fn wrong_secret_is_refused() {
        let provider = TokenProvider::new(&secret_settings(&generate_secret_key())).unwrap();
        let token = create_token(&generate_secret_key(), "HS256", "alice", None).unwrap();
        assert_eq!(
            reason(provider.authenticate(&token)),
            "token signature does not verify"
        );
        // An RS256 token is not accepted by a secret-key provider.
        let (private, _) = generate_key_pair("RS256").unwrap();
        let rsa = create_token(&private, "RS256", "alice", None).unwrap();
        assert!(matches!(
            provider.authenticate(&rsa),
            Err(SecurityError::Authentication(_))
        ));
    }

    #[test]
    fn garbage_is_refused_without_echo() {
        let provider = TokenProvider::new(&secret_settings(&generate_secret_key())).unwrap();
        for garbage in [
            "",
            "   ",
            "abc",
            "a.b.c",
            "x.y",
            "eyJhbGciOiJIUzI1NiJ9.%%%.sig",
        ] {
            let why = reason(provider.authenticate(garbage));
            assert!(garbage.trim().is_empty() || !why.contains(garbage), "{why}");
        }
        assert_eq!(reason(provider.authenticate("a.b.c")), "malformed token");
    }

    #[test]
    fn missing_or_empty_role_claim_is_refused() {
        let secret = generate_secret_key();
        let provider = TokenProvider::new(&secret_settings(&secret)).unwrap();
        let empty = create_token(&secret, "HS256", "", None).unwrap();
        assert!(reason(provider.authenticate(&empty)).contains("\"sub\""));
        let custom = TokenProvider::new(&TokenSettings {
            auth_claim: Some("role".into()),
            ..secret_settings(&secret)
        })
        .unwrap();
        let token = create_token(&secret, "HS256", "alice", None).unwrap();
        assert!(reason(custom.authenticate(&token)).contains("\"role\""));
        let claims = serde_json::json!({"role": "ops", "sub": "alice"});
        let with_role = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&secret).unwrap(),
        )
        .unwrap();
        assert_eq!(custom.authenticate(&with_role).unwrap().role, "ops");
    }

    #[test]
    fn audience_is_required_when_configured() {
        let secret = generate_secret_key();
        let key = EncodingKey::from_secret(&secret).unwrap();
        let sign = |claims: Value| {
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
        };
        let provider = TokenProvider::new(&TokenSettings {
            audience: Some("magnetar".into()),
            ..secret_settings(&secret)
        })
        .unwrap();
        let none = sign(serde_json::json!({"sub": "a"}));
        let other = sign(serde_json::json!({"sub": "a", "aud": "elsewhere"}));
        let single = sign(serde_json::json!({"sub": "a", "aud": "magnetar"}));
        let list = sign(serde_json::json!({"sub": "a", "aud": ["x", "magnetar"]}));
        assert!(provider.authenticate(&none).is_err());
        assert!(provider.authenticate(&other).is_err());
        assert_eq!(provider.authenticate(&single).unwrap().role, "a");
        assert_eq!(provider.authenticate(&list).unwrap().role, "a");
        // Without tokenAudience the audience is ignored.
        let open = TokenProvider::new(&secret_settings(&secret)).unwrap();
        assert_eq!(open.authenticate(&other).unwrap().role, "a");
        // A custom audience claim.
        let custom = TokenProvider::new(&TokenSettings {
            audience: Some("magnetar".into()),
            audience_claim: Some("svc".into()),
            ..secret_settings(&secret)
        })
        .unwrap();
        let in_svc = sign(serde_json::json!({"sub": "a", "svc": "magnetar"}));
        assert!(custom.authenticate(&single).is_err());
        assert_eq!(custom.authenticate(&in_svc).unwrap().role, "a");
    }

    #[test]
    fn keys_from_files_and_data_urls() {
        let secret = generate_secret_key();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        std::fs::write(&path, &secret).unwrap();
        let token = create_token(&secret, "HS256", "alice", None).unwrap();
        for value in [
            format!("file://{}", path.display()),
            format!("data:;base64,{}", STANDARD.encode(&secret)),
            format!(
                "data:application/octet-stream;base64,{}",
                STANDARD.encode(&secret)
            ),
            STANDARD.encode(&secret),
        ] {
            let provider = TokenProvider::new(&TokenSettings {
                secret_key: Some(value),
                ..Default::default()
            })
            .unwrap();
            assert_eq!(provider.authenticate(&token).unwrap().role, "alice");
        }
        let (_, public) = generate_key_pair("ES256").unwrap();
        let public_path = dir.path().join("public.key");
        std::fs::write(&public_path, &public).unwrap();
        let provider = TokenProvider::new(&TokenSettings {
            public_key: Some(format!("file://{}", public_path.display())),
            public_algorithm: Some("ES256".into()),
            ..Default::default()
        });
        assert!(provider.is_ok());
    }

    #[test]
    fn settings_errors() {
        assert!(TokenProvider::new(&TokenSettings::default()).is_err());
        let missing = TokenProvider::new(&TokenSettings {
            secret_key: Some("file:///nonexistent/secret.key".into()),
            ..Default::default()
        });
        assert!(matches!(missing, Err(SecurityError::Config { .. })));
        let not_a_key = TokenProvider::new(&public_settings(b"not a key", "RS256"));
        assert!(matches!(not_a_key, Err(SecurityError::Config { .. })));
        let (_, public) = generate_key_pair("ES256").unwrap();
        assert!(TokenProvider::new(&public_settings(&public, "HS256")).is_err());
        assert!(TokenProvider::new(&public_settings(&public, "XX1")).is_err());
    }

    #[test]
    fn oversized_token_is_refused() {
        let secret = generate_secret_key();
        let provider = TokenProvider::new(&secret_settings(&secret)).unwrap();
        let huge = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(reason(provider.authenticate(&huge)), "token too large");
        let big_subject = "r".repeat(MAX_TOKEN_LEN);
        let token = create_token(&secret, "HS256", &big_subject, None).unwrap();
        assert_eq!(reason(provider.authenticate(&token)), "token too large");
    }

    #[test]
    fn show_decodes_without_verifying() {
        let token = create_token(&generate_secret_key(), "HS384", "alice", Some(42)).unwrap();
        let (header, claims) = decode_unverified(&token).unwrap();
        assert_eq!(header["alg"], "HS384");
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["exp"], 42);
        assert!(decode_unverified("a.b").is_err());
        assert!(decode_unverified("!!.??.x").is_err());
    }

    #[test]
    fn secret_key_sizes_follow_the_algorithm() {
        assert_eq!(generate_secret_key_for("HS256").unwrap().len(), 32);
        assert_eq!(generate_secret_key_for("hs384").unwrap().len(), 48);
        assert_eq!(generate_secret_key_for("HS512").unwrap().len(), 64);
        assert!(generate_secret_key_for("RS256").is_err());
        assert!(generate_key_pair("HS256").is_err());
    }
}
