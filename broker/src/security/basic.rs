//! Pulsar's `basic` authentication provider: users and password hashes
//! from an htpasswd file, and clients that send `user:password`.
//!
//! Hash formats: Apache's `$apr1$` MD5, which Pulsar's provider accepts
//! (through `htpasswd-verify`), and the crypt(3) family through `pwhash`:
//! traditional DES crypt (Pulsar's other format), `$1$` MD5, `$5$`/`$6$`
//! SHA-2 and bcrypt (`$2a$`, `$2b$`, `$2y$`). The file is read once, at
//! start; entries in other formats are skipped with a warning.

use std::collections::HashMap;
use std::path::Path;

use super::{Principal, SecurityError};

/// Users and their hashes.
pub struct BasicProvider {
    users: HashMap<String, String>,
}

impl BasicProvider {
    /// Reads an htpasswd file (`user:hash` per line; blank lines and `#`
    /// comments are skipped).
    pub fn from_file(path: &Path) -> Result<Self, SecurityError> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            SecurityError::config(format!("htpasswd file {}", path.display()), error)
        })?;
        Ok(Self::parse(&text))
    }

    /// Parses htpasswd text.
    pub fn parse(text: &str) -> Self {
        let mut users = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((user, hash)) if !user.is_empty() && supported(hash) => {
                    users.insert(user.to_string(), hash.to_string());
                }
                _ => tracing::warn!(
                    line = number + 1,
                    "skipping an htpasswd line that is not `user:hash` in a supported format"
                ),
            }
        }
        BasicProvider { users }
    }

    /// Checks `user:password`.
    pub fn authenticate(&self, data: &[u8]) -> Result<Principal, SecurityError> {
        let text = std::str::from_utf8(data)
            .map_err(|_| SecurityError::authentication("malformed basic credentials"))?;
        let (user, password) = text.split_once(':').ok_or_else(|| {
            SecurityError::authentication("basic credentials are not `user:password`")
        })?;
        // The same answer for an unknown user and a wrong password.
        let refused = || SecurityError::authentication("unknown user or wrong password");
        let hash = self.users.get(user).ok_or_else(refused)?;
        if verify(password, hash) {
            Ok(Principal::new(user))
        } else {
            Err(refused())
        }
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }
}

const APR1: &str = "$apr1$";

fn supported(hash: &str) -> bool {
    if let Some(rest) = hash.strip_prefix(APR1) {
        return apr1_parts(rest).is_some();
    }
    // A crypt(3) hash `pwhash` can recompute (it refuses unknown formats).
    pwhash::unix::crypt("", hash).is_ok()
}

/// Salt and digest of `$apr1$salt$digest`.
fn apr1_parts(rest: &str) -> Option<(&str, &str)> {
    let (salt, digest) = rest.split_once('$')?;
    (!salt.is_empty() && salt.len() <= 8 && !digest.is_empty()).then_some((salt, digest))
}

fn verify(password: &str, hash: &str) -> bool {
    match hash.strip_prefix(APR1) {
        Some(rest) => match apr1_parts(rest) {
            Some((salt, digest)) => {
                let computed = htpasswd_verify::md5::md5_apr1_encode(password, salt);
                equal_in_constant_time(computed.as_bytes(), digest.as_bytes())
            }
            None => false,
        },
        None => pwhash::unix::verify(password, hash),
    }
}

/// Compares without stopping at the first difference.
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> String {
        let apr1 = format!(
            "$apr1${}${}",
            "Ab3dEf",
            htpasswd_verify::md5::md5_apr1_encode("apr-secret", "Ab3dEf")
        );
        let bcrypt = pwhash::bcrypt::hash("bc-secret").unwrap();
        let crypt = pwhash::unix::crypt("des-pass", "ab").unwrap();
        let sha512 = pwhash::sha512_crypt::hash("sha-secret").unwrap();
        format!("# users\nalice:{apr1}\n\nbob:{bcrypt}\ncarol:{crypt}\ndave:{sha512}\nbroken-line\neve:plaintext-is-des\nmallory:$9$nope\n")
    }

    #[test]
    fn every_supported_format_verifies() {
        let provider = BasicProvider::parse(&file());
        assert_eq!(
            provider.authenticate(b"alice:apr-secret").unwrap().role,
            "alice"
        );
        assert_eq!(provider.authenticate(b"bob:bc-secret").unwrap().role, "bob");
        assert_eq!(
            provider.authenticate(b"carol:des-pass").unwrap().role,
            "carol"
        );
        assert_eq!(
            provider.authenticate(b"dave:sha-secret").unwrap().role,
            "dave"
        );
    }

    #[test]
    fn wrong_password_and_unknown_user_get_the_same_answer() {
        let provider = BasicProvider::parse(&file());
        let wrong = provider
            .authenticate(b"alice:nope")
            .unwrap_err()
            .to_string();
        let unknown = provider
            .authenticate(b"zed:apr-secret")
            .unwrap_err()
            .to_string();
        assert_eq!(wrong, unknown);
        assert!(!wrong.contains("apr1"), "{wrong}");
    }

    #[test]
    fn malformed_credentials_and_entries() {
        let provider = BasicProvider::parse(&file());
        assert!(provider.authenticate(b"no-colon").is_err());
        assert!(provider.authenticate(&[0xff, 0xfe, b':', b'x']).is_err());
        assert!(provider.authenticate(b"mallory:anything").is_err());
        assert!(provider.authenticate(b"bob:").is_err());
        // Unknown `$9$` and the line without a colon are skipped.
        assert_eq!(provider.user_count(), 5);
    }

    #[test]
    fn malformed_apr1_does_not_panic() {
        let provider = BasicProvider::parse("x:$apr1$\ny:$apr1$toolongsalt$abc\nz:$apr1$s$\n");
        assert_eq!(provider.user_count(), 0);
        assert!(!verify("p", "$apr1$"));
    }
}
