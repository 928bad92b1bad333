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

use std::fmt;
use std::path::PathBuf;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

use super::SecurityError;

/// DER tags used by key structures.
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
/// `[0]`, the parameters of a SEC1 `ECPrivateKey`.
const TAG_CONTEXT_0: u8 = 0xa0;

/// Object identifiers (their DER contents).
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];

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

/// The kind of an asymmetric key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    /// ECDSA on P-256 (ES256).
    EcP256,
    /// ECDSA on P-384 (ES384).
    EcP384,
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::Rsa => "an RSA key",
            KeyType::EcP256 => "a P-256 EC key",
            KeyType::EcP384 => "a P-384 EC key",
        })
    }
}

/// A public key in the form the JWT library verifies with.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub key_type: KeyType,
    /// RSA: the PKCS#1 `RSAPublicKey` DER; EC: the SEC1 encoded point.
    pub der: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("key_type", &self.key_type)
            .field("len", &self.der.len())
            .finish()
    }
}

/// A private key in the form the JWT library signs with.
#[derive(Clone)]
pub struct PrivateKey {
    pub key_type: KeyType,
    /// RSA: the PKCS#1 `RSAPrivateKey` DER; EC: the PKCS#8 DER.
    pub der: Vec<u8>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

/// Parses a public key: PEM or DER, X.509 `SubjectPublicKeyInfo` (RSA or
/// EC) or PKCS#1 `RSAPublicKey`.
pub fn parse_public_key(bytes: &[u8]) -> Result<PublicKey, SecurityError> {
    let not_public = || {
        SecurityError::config(
            "public key",
            "is not an RSA or EC public key (X.509 SubjectPublicKeyInfo or PKCS#1, PEM or DER)",
        )
    };
    let der = if is_pem(bytes) {
        pem_decode(bytes)?.1
    } else {
        bytes.to_vec()
    };
    let fields = der_sequence(&der).ok_or_else(not_public)?;
    match fields.as_slice() {
        // SubjectPublicKeyInfo: algorithm, subjectPublicKey.
        [algorithm, key] if algorithm.tag == TAG_SEQUENCE && key.tag == TAG_BIT_STRING => {
            let key_type = algorithm_key_type(algorithm.body).ok_or_else(not_public)?;
            let key = match key.body.split_first() {
                Some((0, key)) => key,
                _ => return Err(not_public()),
            };
            let valid = match key_type {
                KeyType::Rsa => is_pkcs1_public(key),
                KeyType::EcP256 => key.len() == 65 && key[0] == 0x04,
                KeyType::EcP384 => key.len() == 97 && key[0] == 0x04,
            };
            if !valid {
                return Err(not_public());
            }
            Ok(PublicKey {
                key_type,
                der: key.to_vec(),
            })
        }
        // RSAPublicKey: modulus, publicExponent.
        [modulus, exponent] if modulus.tag == TAG_INTEGER && exponent.tag == TAG_INTEGER => {
            Ok(PublicKey {
                key_type: KeyType::Rsa,
                der,
            })
        }
        _ => Err(not_public()),
    }
}

/// Parses a private key: PEM or DER, PKCS#8 (RSA or EC), PKCS#1
/// `RSAPrivateKey` or SEC1 `ECPrivateKey`.
pub fn parse_private_key(bytes: &[u8]) -> Result<PrivateKey, SecurityError> {
    let not_private = || {
        SecurityError::config(
            "private key",
            "is not an unencrypted RSA or EC private key (PKCS#8, PKCS#1 or SEC1, PEM or DER)",
        )
    };
    let der = if is_pem(bytes) {
        pem_decode(bytes)?.1
    } else {
        bytes.to_vec()
    };
    let fields = der_sequence(&der).ok_or_else(not_private)?;
    match fields.as_slice() {
        // PrivateKeyInfo: version, algorithm, privateKey, [attributes].
        [version, algorithm, key, ..]
            if version.tag == TAG_INTEGER
                && algorithm.tag == TAG_SEQUENCE
                && key.tag == TAG_OCTET_STRING =>
        {
            let key_type = algorithm_key_type(algorithm.body).ok_or_else(not_private)?;
            let der = match key_type {
                KeyType::Rsa => key.body.to_vec(),
                KeyType::EcP256 | KeyType::EcP384 => der,
            };
            Ok(PrivateKey { key_type, der })
        }
        // RSAPrivateKey: version, modulus, publicExponent, … (9 integers).
        [version, modulus, ..]
            if fields.len() >= 9 && version.tag == TAG_INTEGER && modulus.tag == TAG_INTEGER =>
        {
            Ok(PrivateKey {
                key_type: KeyType::Rsa,
                der,
            })
        }
        // ECPrivateKey: version 1, privateKey, [0] parameters, [1] publicKey.
        [version, key, rest @ ..] if version.tag == TAG_INTEGER && key.tag == TAG_OCTET_STRING => {
            let curve = rest
                .iter()
                .find(|field| field.tag == TAG_CONTEXT_0)
                .and_then(|params| der_single(params.body, TAG_OID))
                .ok_or_else(|| {
                    SecurityError::config(
                        "private key",
                        "SEC1 EC key names no curve; convert it to PKCS#8",
                    )
                })?;
            let key_type = curve_key_type(curve.body).ok_or_else(not_private)?;
            Ok(PrivateKey {
                key_type,
                der: sec1_to_pkcs8(&der, curve.body),
            })
        }
        _ => Err(not_private()),
    }
}

/// The key type an `AlgorithmIdentifier`'s contents name.
fn algorithm_key_type(algorithm: &[u8]) -> Option<KeyType> {
    let fields = der_elements(algorithm)?;
    let oid = fields.first().filter(|field| field.tag == TAG_OID)?;
    if oid.body == OID_RSA_ENCRYPTION || oid.body == OID_RSASSA_PSS {
        return Some(KeyType::Rsa);
    }
    if oid.body != OID_EC_PUBLIC_KEY {
        return None;
    }
    let curve = fields.get(1).filter(|field| field.tag == TAG_OID)?;
    curve_key_type(curve.body)
}

fn curve_key_type(curve: &[u8]) -> Option<KeyType> {
    match curve {
        OID_P256 => Some(KeyType::EcP256),
        OID_P384 => Some(KeyType::EcP384),
        _ => None,
    }
}

fn is_pkcs1_public(der: &[u8]) -> bool {
    matches!(
        der_sequence(der).as_deref(),
        Some([n, e]) if n.tag == TAG_INTEGER && e.tag == TAG_INTEGER
    )
}

/// Wraps a SEC1 `ECPrivateKey` in a PKCS#8 `PrivateKeyInfo`.
fn sec1_to_pkcs8(sec1: &[u8], curve: &[u8]) -> Vec<u8> {
    let algorithm = [
        der_encode(TAG_OID, OID_EC_PUBLIC_KEY),
        der_encode(TAG_OID, curve),
    ]
    .concat();
    let info = [
        der_encode(TAG_INTEGER, &[0]),
        der_encode(TAG_SEQUENCE, &algorithm),
        der_encode(TAG_OCTET_STRING, sec1),
    ]
    .concat();
    der_encode(TAG_SEQUENCE, &info)
}

/// One DER element: its tag and contents.
#[derive(Debug, Clone, Copy)]
struct Element<'a> {
    tag: u8,
    body: &'a [u8],
}

/// Splits the first DER element off `input`.
fn der_next(input: &[u8]) -> Option<(Element<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tags do not occur in keys
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(count);
        let len = len_bytes
            .iter()
            .fold(0usize, |len, byte| (len << 8) | usize::from(*byte));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (body, rest) = rest.split_at(len);
    Some((Element { tag, body }, rest))
}

/// Every element of `input`, which must hold nothing else.
fn der_elements(mut input: &[u8]) -> Option<Vec<Element<'_>>> {
    let mut elements = Vec::new();
    while !input.is_empty() {
        let (element, rest) = der_next(input)?;
        elements.push(element);
        input = rest;
    }
    Some(elements)
}

/// `input` as exactly one element with `tag`.
fn der_single(input: &[u8], tag: u8) -> Option<Element<'_>> {
    match der_next(input)? {
        (element, []) if element.tag == tag => Some(element),
        _ => None,
    }
}

/// The fields of `input`, which must be exactly one SEQUENCE.
fn der_sequence(input: &[u8]) -> Option<Vec<Element<'_>>> {
    der_elements(der_single(input, TAG_SEQUENCE)?.body)
}

fn der_encode(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let len_bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|byte| *byte == 0)
            .collect();
        out.push(0x80 | len_bytes.len() as u8);
        out.extend_from_slice(&len_bytes);
    }
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A syntactically valid P-256 SubjectPublicKeyInfo (the point is not
    /// checked here).
    fn p256_spki() -> Vec<u8> {
        let algorithm = [
            der_encode(TAG_OID, OID_EC_PUBLIC_KEY),
            der_encode(TAG_OID, OID_P256),
        ]
        .concat();
        let mut point = vec![0u8, 0x04];
        point.extend_from_slice(&[7u8; 64]);
        der_encode(
            TAG_SEQUENCE,
            &[
                der_encode(TAG_SEQUENCE, &algorithm),
                der_encode(TAG_BIT_STRING, &point),
            ]
            .concat(),
        )
    }

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
        let with_params = format!("{}{pem}", pem_encode("EC PARAMETERS", OID_P256));
        assert_eq!(pem_decode(with_params.as_bytes()).unwrap().1, der);
    }

    #[test]
    fn public_keys_parse_from_spki_pem_and_der() {
        let der = p256_spki();
        let key = parse_public_key(&der).unwrap();
        assert_eq!(key.key_type, KeyType::EcP256);
        assert_eq!(key.der.len(), 65);
        let pem = pem_encode("PUBLIC KEY", &der);
        assert_eq!(parse_public_key(pem.as_bytes()).unwrap(), key);
        let pkcs1 = der_encode(
            TAG_SEQUENCE,
            &[
                der_encode(TAG_INTEGER, &[0x00, 0xc1, 0x02]),
                der_encode(TAG_INTEGER, &[1, 0, 1]),
            ]
            .concat(),
        );
        assert_eq!(parse_public_key(&pkcs1).unwrap().key_type, KeyType::Rsa);
        assert!(parse_public_key(b"garbage").is_err());
        assert!(parse_public_key(&der[..der.len() - 1]).is_err());
    }

    #[test]
    fn sec1_private_keys_are_wrapped_in_pkcs8() {
        let sec1 = der_encode(
            TAG_SEQUENCE,
            &[
                der_encode(TAG_INTEGER, &[1]),
                der_encode(TAG_OCTET_STRING, &[5u8; 32]),
                der_encode(TAG_CONTEXT_0, &der_encode(TAG_OID, OID_P256)),
            ]
            .concat(),
        );
        let key = parse_private_key(&sec1).unwrap();
        assert_eq!(key.key_type, KeyType::EcP256);
        let reparsed = parse_private_key(&key.der).unwrap();
        assert_eq!(reparsed.key_type, KeyType::EcP256);
        assert_eq!(reparsed.der, key.der);
        assert!(parse_private_key(&p256_spki()).is_err());
    }

    /// Signs with `private` and verifies with `public` through the token
    /// provider.
    fn signs_and_verifies(private: &[u8], public: &[u8], algorithm: &str) {
        use crate::security::token::{create_token, TokenProvider, TokenSettings};
        use base64::engine::general_purpose::STANDARD;
        let token = create_token(private, algorithm, "role", None).unwrap();
        let provider = TokenProvider::new(&TokenSettings {
            public_key: Some(STANDARD.encode(public)),
            public_algorithm: Some(algorithm.into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(provider.authenticate(&token).unwrap().role, "role");
    }

    #[test]
    fn openssl_style_private_keys_sign() {
        use crate::security::token::generate_key_pair;
        // SEC1 `EC PRIVATE KEY` with its curve, as `openssl ecparam -genkey`.
        let (pkcs8, public) = generate_key_pair("ES256").unwrap();
        let fields = der_sequence(&pkcs8).unwrap();
        let inner = der_sequence(fields[2].body).unwrap();
        let sec1 = der_encode(
            TAG_SEQUENCE,
            &[
                der_encode(TAG_INTEGER, &[1]),
                der_encode(TAG_OCTET_STRING, inner[1].body),
                der_encode(TAG_CONTEXT_0, &der_encode(TAG_OID, OID_P256)),
            ]
            .concat(),
        );
        let pem = pem_encode("EC PRIVATE KEY", &sec1);
        signs_and_verifies(pem.as_bytes(), &public, "ES256");
        // PKCS#1 `RSA PRIVATE KEY`, as `openssl genrsa` (1.x).
        let (pkcs8, public) = generate_key_pair("RS256").unwrap();
        let fields = der_sequence(&pkcs8).unwrap();
        let pem = pem_encode("RSA PRIVATE KEY", fields[2].body);
        signs_and_verifies(pem.as_bytes(), &public, "RS256");
    }

    #[test]
    fn long_der_lengths_round_trip() {
        let body = vec![1u8; 300];
        let encoded = der_encode(TAG_OCTET_STRING, &body);
        assert_eq!(&encoded[..4], &[TAG_OCTET_STRING, 0x82, 0x01, 0x2c]);
        let element = der_single(&encoded, TAG_OCTET_STRING).unwrap();
        assert_eq!(element.body, body.as_slice());
    }
}
