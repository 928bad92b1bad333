//! Key material as Pulsar's configuration and `pulsar tokens` write it.
//!
//! A *key value* says where a key is: `file:///abs/path` or `file:rel/path`
//! (a file), `data:;base64,<b64>` (inline, as `pulsar tokens` prints it),
//! or, as Pulsar's `tokenSecretKey` also takes, a path to an existing file
//! or the base64 of the key itself ([`read_key_value`]).
//!
//! The key bytes are PEM or DER. [`parse_public_key`] and
//! [`parse_private_key`] accept X.509 `SubjectPublicKeyInfo` and PKCS#8
//! (what `pulsar tokens create-key-pair` writes), PKCS#1 RSA keys and SEC1
//! EC private keys (what `openssl` writes), and turn them into the forms
//! the JWT library verifies and signs with. Errors never carry key bytes.
//! That parsing is done with the RustCrypto DER crates (`spki`, `pkcs8`,
//! `pkcs1`, `sec1`) in the private `key_der` module and re-exported here.

use std::path::PathBuf;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

pub use super::key_der::{parse_private_key, parse_public_key, KeyType, PrivateKey, PublicKey};
use super::SecurityError;

/// Reads a key value: `file:` reads the file, `data:` decodes the inline
/// data, a path to an existing file reads it, and anything else is taken
/// as the base64 of the key.
pub fn read_key_value(value: &str) -> Result<Vec<u8>, SecurityError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(SecurityError::config("key value", "is empty"));
    }
    let bytes = if let Some(rest) = value.strip_prefix("file:") {
        read_file(file_url_path(rest)?)?
    } else if let Some(rest) = value.strip_prefix("data:") {
        data_url_bytes(rest)?
    } else if std::path::Path::new(value).is_file() {
        read_file(PathBuf::from(value))?
    } else {
        decode_base64(value).ok_or_else(|| {
            SecurityError::config(
                "key value",
                "is neither a file: or data: URL, an existing file, nor base64",
            )
        })?
    };
    if bytes.is_empty() {
        return Err(SecurityError::config("key value", "names an empty key"));
    }
    Ok(bytes)
}

/// The path of a `file:` URL (what follows `file:`): `///abs/path`,
/// `//localhost/abs/path`, `/abs/path` or `rel/path`, percent-decoded.
fn file_url_path(rest: &str) -> Result<PathBuf, SecurityError> {
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let (host, path) = match authority_and_path.find('/') {
                Some(slash) => authority_and_path.split_at(slash),
                None => (authority_and_path, ""),
            };
            if !host.is_empty() && host != "localhost" {
                return Err(SecurityError::config(
                    "key value",
                    format!("file: URL names host {host:?}; only local files can be read"),
                ));
            }
            path
        }
        None => rest,
    };
    if path.is_empty() {
        return Err(SecurityError::config("key value", "file: URL has no path"));
    }
    let decoded = percent_decode(path)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| SecurityError::config("key value", "file: URL path is malformed"))?;
    Ok(PathBuf::from(decoded))
}

fn read_file(path: PathBuf) -> Result<Vec<u8>, SecurityError> {
    std::fs::read(&path)
        .map_err(|error| SecurityError::config(format!("key file {}", path.display()), error))
}

/// The bytes of a `data:` URL (what follows `data:`): base64 when the
/// media type ends with `;base64`, percent-encoded text otherwise.
fn data_url_bytes(rest: &str) -> Result<Vec<u8>, SecurityError> {
    let Some((media_type, data)) = rest.split_once(',') else {
        return Err(SecurityError::config("key value", "data: URL has no ','"));
    };
    let decoded = if media_type.trim().to_ascii_lowercase().ends_with(";base64") {
        decode_base64(data)
    } else {
        percent_decode(data)
    };
    decoded.ok_or_else(|| SecurityError::config("key value", "data: URL content is malformed"))
}

/// Decodes standard or URL-safe base64, with or without padding, ignoring
/// whitespace and line breaks.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let alphabet = if compact.contains(['-', '_']) {
        &alphabet::URL_SAFE
    } else {
        &alphabet::STANDARD
    };
    GeneralPurpose::new(alphabet, config).decode(compact).ok()
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    Some(out)
}

/// Whether `bytes` look like PEM (`-----BEGIN …`) rather than DER.
pub fn is_pem(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(b"-----BEGIN ")
}

/// The label and DER bytes of the first PEM block whose label names a key
/// (an `EC PARAMETERS` block before it is skipped).
pub fn pem_decode(bytes: &[u8]) -> Result<(String, Vec<u8>), SecurityError> {
    let malformed = || SecurityError::config("key", "PEM is malformed");
    let text = std::str::from_utf8(bytes).map_err(|_| malformed())?;
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN ") {
        let after = &rest[begin + "-----BEGIN ".len()..];
        let label_end = after.find("-----").ok_or_else(malformed)?;
        let label = &after[..label_end];
        let body_and_rest = &after[label_end + "-----".len()..];
        let end_marker = format!("-----END {label}-----");
        let end = body_and_rest.find(&end_marker).ok_or_else(malformed)?;
        let body = &body_and_rest[..end];
        rest = &body_and_rest[end + end_marker.len()..];
        if !label.contains("KEY") {
            continue;
        }
        if label.contains("ENCRYPTED") || body.contains("ENCRYPTED") {
            return Err(SecurityError::config(
                "key",
                "is encrypted; only unencrypted keys can be used",
            ));
        }
        // RFC 1421 headers (`Name: value` lines) carry nothing we use.
        let base64: String = body.lines().filter(|line| !line.contains(':')).collect();
        let der = decode_base64(&base64).ok_or_else(malformed)?;
        return Ok((label.to_string(), der));
    }
    Err(SecurityError::config("key", "PEM holds no key"))
}

/// Encodes DER as PEM with `label` (`PUBLIC KEY`, `PRIVATE KEY`).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let base64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in base64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[cfg(test)]
mod tests {
    use der::Encode;

    use super::super::key_der::tests::p256_spki;
    use super::*;

    #[test]
    fn data_urls_decode() {
        assert_eq!(read_key_value("data:;base64,AQID").unwrap(), vec![1, 2, 3]);
        assert_eq!(
            read_key_value("data:application/octet-stream;base64,AQIDBA==").unwrap(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(read_key_value("data:,a%20b").unwrap(), b"a b".to_vec());
        assert!(read_key_value("data:;base64,!!!").is_err());
        assert!(read_key_value("data:;base64").is_err());
    }

    #[test]
    fn plain_base64_is_the_key() {
        assert_eq!(read_key_value("AQID").unwrap(), vec![1, 2, 3]);
        assert_eq!(read_key_value(" AQIDBA \n").unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(read_key_value("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(read_key_value("not base64 at all!").is_err());
        assert!(read_key_value("").is_err());
    }

    #[test]
    fn file_urls_read_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("my key.bin");
        std::fs::write(&path, [9u8, 8, 7]).unwrap();
        let absolute = path.to_str().unwrap();
        let encoded = absolute.replace(' ', "%20");
        assert_eq!(
            read_key_value(&format!("file://{absolute}")).unwrap(),
            vec![9, 8, 7]
        );
        assert_eq!(
            read_key_value(&format!("file://{encoded}")).unwrap(),
            vec![9, 8, 7]
        );
        assert_eq!(
            read_key_value(&format!("file:{absolute}")).unwrap(),
            vec![9, 8, 7]
        );
        assert_eq!(
            read_key_value(&format!("file://localhost{absolute}")).unwrap(),
            vec![9, 8, 7]
        );
        assert_eq!(read_key_value(absolute).unwrap(), vec![9, 8, 7]);
        assert!(read_key_value("file://elsewhere/etc/key").is_err());
        let missing = read_key_value(&format!("file://{}/missing", dir.path().display()));
        assert!(matches!(missing, Err(SecurityError::Config { .. })));
    }

    #[test]
    fn errors_never_echo_the_value() {
        let secret = "c2VjcmV0LWtleS1ieXRlcw#";
        let error = read_key_value(secret).unwrap_err().to_string();
        assert!(!error.contains(secret), "{error}");
        let error = read_key_value(&format!("data:;base64,{secret}"))
            .unwrap_err()
            .to_string();
        assert!(!error.contains(secret), "{error}");
    }

    #[test]
    fn pem_round_trips_and_is_recognised() {
        let der = p256_spki();
        let pem = pem_encode("PUBLIC KEY", &der);
        assert!(is_pem(pem.as_bytes()));
        assert!(is_pem(format!("\n  {pem}").as_bytes()));
        assert!(!is_pem(&der));
        let (label, decoded) = pem_decode(pem.as_bytes()).unwrap();
        assert_eq!(label, "PUBLIC KEY");
        assert_eq!(decoded, der);
        let encrypted = pem_encode("ENCRYPTED PRIVATE KEY", &der);
        assert!(pem_decode(encrypted.as_bytes()).is_err());
        let p256 = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
        let params = pem_encode("EC PARAMETERS", &p256.to_der().unwrap());
        let with_params = format!("{params}{pem}");
        assert_eq!(pem_decode(with_params.as_bytes()).unwrap().1, der);
    }
}
