//! Seeded random inputs against the authentication data path: what a
//! client's `CONNECT` or `AUTH_RESPONSE` carries goes through
//! [`Authenticator::authenticate`] with the token and basic providers on.
//!
//! Properties, for every input:
//! - no panic;
//! - only the real credentials authenticate: random bytes, random method
//!   names, valid tokens with any byte changed, cut short, grown, or with
//!   parts swapped between tokens, and oversized data are all refused;
//! - a refusal's message never repeats the credential it refused.
//!
//! The seeds are fixed, so a failure names an input that reproduces.

use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::authn::{AuthenticationConfig, Authenticator, ProviderKind, MAX_AUTH_DATA};
use super::token::{create_token, TokenSettings};

const SECRET: &[u8] = b"fuzzing-secret-of-thirty-two-byt";
const ROUNDS: usize = 2_000;

fn authenticator(dir: &std::path::Path) -> Authenticator {
    let htpasswd = dir.join("htpasswd");
    let hash = pwhash::sha512_crypt::hash("right-password").expect("hash");
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).expect("write htpasswd");
    let config = AuthenticationConfig {
        enabled: true,
        providers: vec![ProviderKind::Token, ProviderKind::Basic],
        token: TokenSettings {
            secret_key: Some(format!(
                "data:;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(SECRET)
            )),
            ..Default::default()
        },
        basic_htpasswd: Some(htpasswd),
        ..Default::default()
    };
    Authenticator::new(&config).expect("authenticator")
}

/// Refused, and the message does not repeat `data`.
fn assert_refused(auth: &Authenticator, method: &str, data: &[u8]) {
    match auth.authenticate(Some(method), data, None) {
        Ok(principal) => panic!(
            "{method} {:?} authenticated as {:?}",
            String::from_utf8_lossy(data),
            principal.role
        ),
        Err(error) => {
            let message = error.to_string();
            if data.len() >= 16 {
                let text = String::from_utf8_lossy(data);
                assert!(
                    !message.contains(text.as_ref()),
                    "refusal repeats the credential: {message}"
                );
            }
        }
    }
}

/// One random change to a valid token.
fn mutate(rng: &mut StdRng, token: &str, other: &str) -> Vec<u8> {
    let mut bytes = token.as_bytes().to_vec();
    match rng.gen_range(0..6) {
        0 => {
            let at = rng.gen_range(0..bytes.len());
            let old = bytes[at];
            while bytes[at] == old {
                bytes[at] = rng.gen();
            }
        }
        1 => bytes.truncate(rng.gen_range(0..bytes.len())),
        2 => bytes.extend((0..rng.gen_range(1..64)).map(|_| rng.gen::<u8>())),
        3 => {
            // This token's header and payload with the other's signature.
            let (signed, _) = token.rsplit_once('.').expect("three parts");
            let (_, signature) = other.rsplit_once('.').expect("three parts");
            bytes = format!("{signed}.{signature}").into_bytes();
        }
        4 => {
            // The same claims, unsigned (`alg: none`).
            let parts: Vec<&str> = token.split('.').collect();
            let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(br#"{"alg":"none","typ":"JWT"}"#);
            bytes = format!("{header}.{}.", parts[1]).into_bytes();
        }
        _ => {
            let at = rng.gen_range(0..bytes.len());
            bytes.insert(at, b'.');
        }
    }
    bytes
}

#[test]
fn malformed_credentials_never_authenticate_or_echo() {
    let dir = tempfile::tempdir().expect("temp dir");
    let auth = authenticator(dir.path());
    let admin = create_token(SECRET, "HS256", "admin", None).expect("token");
    let other = create_token(SECRET, "HS256", "someone-else", None).expect("token");
    assert_eq!(
        auth.authenticate(Some("token"), admin.as_bytes(), None)
            .expect("the real token")
            .role,
        "admin"
    );
    assert_eq!(
        auth.authenticate(Some("basic"), b"alice:right-password", None)
            .expect("the real password")
            .role,
        "alice"
    );

    let mut rng = StdRng::seed_from_u64(0x5eed_a11c);
    for round in 0..ROUNDS {
        let mutated = mutate(&mut rng, &admin, &other);
        if mutated != admin.as_bytes() {
            assert_refused(&auth, "token", &mutated);
        }
        let length = rng.gen_range(0..256);
        let random: Vec<u8> = (0..length).map(|_| rng.gen()).collect();
        let method = ["token", "basic", "tls", "", "none", "Token", "basic "][round % 7];
        if !method.trim().is_empty() && method != "none" {
            assert_refused(&auth, method, &random);
        }
        let mut password = b"alice:right-password".to_vec();
        let at = rng.gen_range(0..password.len());
        password[at] = password[at].wrapping_add(rng.gen_range(1..=255));
        assert_refused(&auth, "basic", &password);
    }
    for method in ["token", "basic"] {
        assert_refused(&auth, method, &vec![b'a'; MAX_AUTH_DATA + 1]);
        assert_refused(&auth, method, &[]);
    }
}
