//! Asymmetric keys: which kind a key is (RSA, or EC on P-256 or P-384)
//! and the form the JWT library verifies and signs with. The DER is read
//! and written by the RustCrypto crates: `spki` (X.509
//! `SubjectPublicKeyInfo`), `pkcs8` (`PrivateKeyInfo`), `pkcs1` (RSA keys)
//! and `sec1` (EC private keys). Used through [`super::keys`], which
//! re-exports everything public here.

use std::borrow::Cow;
use std::fmt;

use der::asn1::{AnyRef, ContextSpecific, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode, Reader, Tag, TagNumber, Tagged};
use pkcs8::PrivateKeyInfoRef;
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

use super::keys::{is_pem, pem_decode};
use super::SecurityError;

// Object identifiers. `new_unwrap` runs when the constants are compiled,
// so a malformed one fails the build, never a running broker.

/// `rsaEncryption` (PKCS#1).
const RSA_ENCRYPTION: ObjectIdentifier = pkcs1::ALGORITHM_OID;
/// `id-RSASSA-PSS` (RFC 4055): an RSA key meant for PSS signatures.
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
/// `id-ecPublicKey` (RFC 5480): an EC key; the parameters name its curve.
const EC_PUBLIC_KEY: ObjectIdentifier = sec1::ALGORITHM_OID;
/// `secp256r1`, NIST P-256.
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `secp384r1`, NIST P-384.
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// The kind of an asymmetric key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    /// ECDSA on P-256 (ES256).
    EcP256,
    /// ECDSA on P-384 (ES384).
    EcP384,
}

impl KeyType {
    /// The EC key type on the curve named `curve`.
    fn on_curve(curve: ObjectIdentifier) -> Option<KeyType> {
        match curve {
            SECP256R1 => Some(KeyType::EcP256),
            SECP384R1 => Some(KeyType::EcP384),
            _ => None,
        }
    }

    /// The key type an `AlgorithmIdentifier` names: RSA (either OID, any
    /// parameters) or EC with a named curve as its parameters.
    fn of_algorithm(algorithm: &AlgorithmIdentifierRef<'_>) -> Option<KeyType> {
        match algorithm.oid {
            RSA_ENCRYPTION | RSASSA_PSS => Some(KeyType::Rsa),
            EC_PUBLIC_KEY => algorithm
                .parameters
                .and_then(|parameters| parameters.decode_as::<ObjectIdentifier>().ok())
                .and_then(KeyType::on_curve),
            _ => None,
        }
    }

    /// Whether `point` is an uncompressed SEC1 point of this curve's size
    /// (`04 || x || y`). Always false for RSA.
    fn is_uncompressed_point(self, point: &[u8]) -> bool {
        let coordinate_len = match self {
            KeyType::Rsa => return false,
            KeyType::EcP256 => 32,
            KeyType::EcP384 => 48,
        };
        point.len() == 1 + 2 * coordinate_len && point.first() == Some(&0x04)
    }
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

/// The DER of a key given as PEM or DER.
fn der_of(bytes: &[u8]) -> Result<Cow<'_, [u8]>, SecurityError> {
    if is_pem(bytes) {
        Ok(Cow::Owned(pem_decode(bytes)?.1))
    } else {
        Ok(Cow::Borrowed(bytes))
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
    let der = der_of(bytes)?;
    if let Ok(info) = SubjectPublicKeyInfoRef::from_der(&der) {
        let key_type = KeyType::of_algorithm(&info.algorithm).ok_or_else(not_public)?;
        // The key is whole bytes: a bit string with unused bits is not one.
        let key = info.subject_public_key.as_bytes().ok_or_else(not_public)?;
        let valid = match key_type {
            KeyType::Rsa => pkcs1::RsaPublicKeyRef::from_der(key).is_ok(),
            KeyType::EcP256 | KeyType::EcP384 => key_type.is_uncompressed_point(key),
        };
        if !valid {
            return Err(not_public());
        }
        return Ok(PublicKey {
            key_type,
            der: key.to_vec(),
        });
    }
    if pkcs1::RsaPublicKeyRef::from_der(&der).is_ok() {
        return Ok(PublicKey {
            key_type: KeyType::Rsa,
            der: der.into_owned(),
        });
    }
    Err(not_public())
}

/// Parses a private key: PEM or DER, PKCS#8 (RSA or EC), PKCS#1
/// `RSAPrivateKey` or SEC1 `ECPrivateKey` (which is wrapped in PKCS#8).
pub fn parse_private_key(bytes: &[u8]) -> Result<PrivateKey, SecurityError> {
    let not_private = || {
        SecurityError::config(
            "private key",
            "is not an unencrypted RSA or EC private key (PKCS#8, PKCS#1 or SEC1, PEM or DER)",
        )
    };
    let no_curve = || {
        SecurityError::config(
            "private key",
            "SEC1 EC key names no curve; convert it to PKCS#8",
        )
    };
    let der = der_of(bytes)?;
    if let Ok(info) = PrivateKeyInfoRef::from_der(&der) {
        let key_type = KeyType::of_algorithm(&info.algorithm).ok_or_else(not_private)?;
        let der = match key_type {
            KeyType::Rsa => info.private_key.as_bytes().to_vec(),
            KeyType::EcP256 | KeyType::EcP384 => der.to_vec(),
        };
        return Ok(PrivateKey { key_type, der });
    }
    if pkcs1::RsaPrivateKeyRef::from_der(&der).is_ok() {
        return Ok(PrivateKey {
            key_type: KeyType::Rsa,
            der: der.into_owned(),
        });
    }
    if let Ok(sec1) = sec1::EcPrivateKey::from_der(&der) {
        let curve = sec1
            .parameters
            .and_then(sec1::EcParameters::named_curve)
            .ok_or_else(no_curve)?;
        let key_type = KeyType::on_curve(curve).ok_or_else(not_private)?;
        let der = sec1_to_pkcs8(&der, curve).map_err(|_| not_private())?;
        return Ok(PrivateKey { key_type, der });
    }
    if has_unnamed_curve(&der) {
        return Err(no_curve());
    }
    Err(not_private())
}

/// Wraps the SEC1 `ECPrivateKey` `sec1`, on the curve named `curve`, in a
/// PKCS#8 `PrivateKeyInfo`.
fn sec1_to_pkcs8(sec1: &[u8], curve: ObjectIdentifier) -> der::Result<Vec<u8>> {
    let algorithm = AlgorithmIdentifierRef {
        oid: EC_PUBLIC_KEY,
        parameters: Some(AnyRef::from(&curve)),
    };
    PrivateKeyInfoRef::new(algorithm, OctetStringRef::new(sec1)?).to_der()
}

/// Whether `der` is a SEC1 `ECPrivateKey` whose `[0]` parameters are not a
/// named curve but explicit curve parameters, which the `sec1` crate does
/// not read (and the JWT library does not take).
fn has_unnamed_curve(der: &[u8]) -> bool {
    let outline = AnyRef::from_der(der).and_then(|key| {
        key.sequence(|fields| {
            let version = fields.decode::<u8>()?;
            fields.decode::<&OctetStringRef>()?;
            let parameters = ContextSpecific::<AnyRef<'_>>::decode_explicit(fields, TagNumber(0))?;
            fields.drain(fields.remaining_len())?;
            Ok((version, parameters.map(|field| field.value)))
        })
    });
    matches!(
        outline,
        Ok((1, Some(parameters))) if parameters.tag() != Tag::ObjectIdentifier
    )
}

#[cfg(test)]
pub(super) mod tests {
    use der::asn1::BitStringRef;

    use super::super::keys::pem_encode;
    use super::*;

    fn algorithm(
        oid: ObjectIdentifier,
        curve: Option<&ObjectIdentifier>,
    ) -> AlgorithmIdentifierRef<'_> {
        AlgorithmIdentifierRef {
            oid,
            parameters: curve.map(AnyRef::from),
        }
    }

    /// A `SubjectPublicKeyInfo` with `algorithm` and `key`.
    fn spki(algorithm: AlgorithmIdentifierRef<'_>, key: &[u8]) -> Vec<u8> {
        SubjectPublicKeyInfoRef {
            algorithm,
            subject_public_key: BitStringRef::from_bytes(key).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    /// A syntactically valid P-256 SubjectPublicKeyInfo (the point is not
    /// checked here).
    pub(in crate::security) fn p256_spki() -> Vec<u8> {
        let mut point = vec![0x04];
        point.extend_from_slice(&[7u8; 64]);
        spki(algorithm(EC_PUBLIC_KEY, Some(&SECP256R1)), &point)
    }

    /// An `RSAPublicKey` with a small but well-formed modulus.
    fn pkcs1_public() -> Vec<u8> {
        vec![
            0x30, 0x0a, 0x02, 0x03, 0x00, 0xc1, 0x02, 0x02, 0x03, 0x01, 0x00, 0x01,
        ]
    }

    /// A SEC1 `ECPrivateKey` holding `secret`, naming `curve` if given.
    fn sec1(secret: &[u8], curve: Option<ObjectIdentifier>, public: Option<&[u8]>) -> Vec<u8> {
        sec1::EcPrivateKey {
            private_key: secret,
            parameters: curve.map(sec1::EcParameters::NamedCurve),
            public_key: public,
        }
        .to_der()
        .unwrap()
    }

    #[test]
    fn public_keys_parse_from_spki_pem_and_der() {
        let der = p256_spki();
        let key = parse_public_key(&der).unwrap();
        assert_eq!(key.key_type, KeyType::EcP256);
        assert_eq!(key.der.len(), 65);
        let pem = pem_encode("PUBLIC KEY", &der);
        assert_eq!(parse_public_key(pem.as_bytes()).unwrap(), key);
        let pkcs1 = pkcs1_public();
        assert_eq!(parse_public_key(&pkcs1).unwrap().key_type, KeyType::Rsa);
        assert!(parse_public_key(b"garbage").is_err());
        assert!(parse_public_key(&der[..der.len() - 1]).is_err());
    }

    #[test]
    fn spki_keys_must_fit_their_algorithm() {
        let pkcs1 = pkcs1_public();
        // RSA under either OID, with its NULL parameters or none.
        let rsa = spki(pkcs1::ALGORITHM_ID, &pkcs1);
        let key = parse_public_key(&rsa).unwrap();
        assert_eq!((key.key_type, key.der), (KeyType::Rsa, pkcs1.clone()));
        let pss = spki(algorithm(RSASSA_PSS, None), &pkcs1);
        assert_eq!(parse_public_key(&pss).unwrap().key_type, KeyType::Rsa);
        // A P-384 point.
        let mut point = vec![0x04];
        point.extend_from_slice(&[9u8; 96]);
        let p384 = spki(algorithm(EC_PUBLIC_KEY, Some(&SECP384R1)), &point);
        assert_eq!(parse_public_key(&p384).unwrap().key_type, KeyType::EcP384);
        // A P-384 point is not a P-256 one, nor is a compressed point.
        let wrong_size = spki(algorithm(EC_PUBLIC_KEY, Some(&SECP256R1)), &point);
        assert!(parse_public_key(&wrong_size).is_err());
        let mut compressed = vec![0x02];
        compressed.extend_from_slice(&[9u8; 32]);
        let compressed = spki(algorithm(EC_PUBLIC_KEY, Some(&SECP256R1)), &compressed);
        assert!(parse_public_key(&compressed).is_err());
        // An RSA OID over bytes that are not an RSAPublicKey.
        assert!(parse_public_key(&spki(pkcs1::ALGORITHM_ID, &[1, 2, 3])).is_err());
        // EC without a curve, on an unknown curve, or an unknown algorithm.
        assert!(parse_public_key(&spki(algorithm(EC_PUBLIC_KEY, None), &point)).is_err());
        let secp256k1 = ObjectIdentifier::new_unwrap("1.3.132.0.10");
        let k1 = spki(algorithm(EC_PUBLIC_KEY, Some(&secp256k1)), &point);
        assert!(parse_public_key(&k1).is_err());
        let ed25519 = ObjectIdentifier::new_unwrap("1.3.101.112");
        assert!(parse_public_key(&spki(algorithm(ed25519, None), &[1u8; 32])).is_err());
        // Trailing bytes after the key.
        let mut trailing = rsa;
        trailing.push(0);
        assert!(parse_public_key(&trailing).is_err());
    }

    #[test]
    fn sec1_private_keys_are_wrapped_in_pkcs8() {
        let sec1 = sec1(&[5u8; 32], Some(SECP256R1), None);
        let key = parse_private_key(&sec1).unwrap();
        assert_eq!(key.key_type, KeyType::EcP256);
        let reparsed = parse_private_key(&key.der).unwrap();
        assert_eq!(reparsed.key_type, KeyType::EcP256);
        assert_eq!(reparsed.der, key.der);
        // The PKCS#8 holds the SEC1 key as it was.
        let info = PrivateKeyInfoRef::from_der(&key.der).unwrap();
        assert_eq!(info.private_key.as_bytes(), sec1.as_slice());
        assert_eq!(
            info.algorithm.oids().unwrap(),
            (EC_PUBLIC_KEY, Some(SECP256R1))
        );
        assert!(parse_private_key(&p256_spki()).is_err());
    }

    #[test]
    fn sec1_keys_must_name_a_known_curve() {
        let message = |result: Result<PrivateKey, SecurityError>| result.unwrap_err().to_string();
        let unnamed = message(parse_private_key(&sec1(&[5u8; 32], None, Some(&[4u8; 65]))));
        assert!(unnamed.contains("names no curve"), "{unnamed}");
        // Explicit curve parameters (a SEQUENCE) in place of a name.
        let explicit = [
            0x30, 0x0c, 0x02, 0x01, 0x01, 0x04, 0x02, 0x05, 0x05, 0xa0, 0x03, 0x30, 0x01, 0x00,
        ];
        let explicit = message(parse_private_key(&explicit));
        assert!(explicit.contains("names no curve"), "{explicit}");
        let secp256k1 = ObjectIdentifier::new_unwrap("1.3.132.0.10");
        let unknown = message(parse_private_key(&sec1(&[5u8; 32], Some(secp256k1), None)));
        assert!(unknown.contains("is not an unencrypted"), "{unknown}");
        // A P-384 key with its public key, as `openssl ecparam -genkey`.
        let p384 = sec1(&[6u8; 48], Some(SECP384R1), Some(&[4u8; 97]));
        assert_eq!(parse_private_key(&p384).unwrap().key_type, KeyType::EcP384);
    }

    #[test]
    fn malformed_private_keys_are_refused() {
        let sec1 = sec1(&[5u8; 32], Some(SECP256R1), None);
        for bad in [
            &b""[..],
            b"garbage",
            &sec1[..sec1.len() - 1],
            &[0x30, 0x80, 0x00, 0x00],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x03, 0x02, 0x01, 0x00],
        ] {
            assert!(matches!(
                parse_private_key(bad),
                Err(SecurityError::Config { .. })
            ));
        }
    }

    /// Signs with `private` and verifies with `public` through the token
    /// provider.
    fn signs_and_verifies(private: &[u8], public: &[u8], algorithm: &str) {
        use crate::security::token::{create_token, TokenProvider, TokenSettings};
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine;
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
        let info = PrivateKeyInfoRef::from_der(&pkcs8).unwrap();
        let inner = sec1::EcPrivateKey::from_der(info.private_key.as_bytes()).unwrap();
        let sec1 = sec1(inner.private_key, Some(SECP256R1), inner.public_key);
        let pem = pem_encode("EC PRIVATE KEY", &sec1);
        signs_and_verifies(pem.as_bytes(), &public, "ES256");
        // PKCS#1 `RSA PRIVATE KEY`, as `openssl genrsa` (1.x).
        let (pkcs8, public) = generate_key_pair("RS256").unwrap();
        let info = PrivateKeyInfoRef::from_der(&pkcs8).unwrap();
        let pem = pem_encode("RSA PRIVATE KEY", info.private_key.as_bytes());
        signs_and_verifies(pem.as_bytes(), &public, "RS256");
        // The same keys as PKCS#1 public keys verify too.
        let spki = SubjectPublicKeyInfoRef::from_der(&public).unwrap();
        let pkcs1 = spki.subject_public_key.as_bytes().unwrap();
        let pem = pem_encode("RSA PUBLIC KEY", pkcs1);
        let key = parse_public_key(pem.as_bytes()).unwrap();
        assert_eq!((key.key_type, key.der.as_slice()), (KeyType::Rsa, pkcs1));
    }

    #[test]
    fn long_der_lengths_round_trip() {
        // 300 bytes take a two-byte length: 0x82 0x01 0x2c.
        let body = vec![1u8; 300];
        let encoded = OctetStringRef::new(&body).unwrap().to_der().unwrap();
        assert_eq!(&encoded[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let decoded = <&OctetStringRef>::from_der(&encoded).unwrap();
        assert_eq!(decoded.as_bytes(), body.as_slice());
        // A SEC1 key that long is wrapped and read back whole.
        let sec1 = sec1(&[5u8; 200], Some(SECP384R1), Some(&[4u8; 97]));
        assert!(sec1.len() > 300);
        let key = parse_private_key(&sec1).unwrap();
        assert_eq!(key.key_type, KeyType::EcP384);
        let info = PrivateKeyInfoRef::from_der(&key.der).unwrap();
        assert_eq!(info.private_key.as_bytes(), sec1.as_slice());
    }

    #[test]
    fn truncated_or_corrupted_keys_never_panic() {
        use crate::security::token::generate_key_pair;
        let (ec_private, ec_public) = generate_key_pair("ES384").unwrap();
        let (rsa_private, rsa_public) = generate_key_pair("RS256").unwrap();
        let ec_sec1 = {
            let info = PrivateKeyInfoRef::from_der(&ec_private).unwrap();
            info.private_key.as_bytes().to_vec()
        };
        for key in [&ec_private, &ec_public, &ec_sec1, &rsa_private, &rsa_public] {
            // Every proper prefix is refused.
            for len in 0..key.len() {
                assert!(parse_private_key(&key[..len]).is_err());
                assert!(parse_public_key(&key[..len]).is_err());
            }
        }
        for key in [&ec_private, &ec_public, &ec_sec1] {
            // Any one byte changed parses or is refused, without panicking.
            for index in 0..key.len() {
                for value in [0x00, 0x01, 0x7f, 0x80, 0x81, 0x84, 0xff] {
                    let mut corrupted = key.clone();
                    corrupted[index] = value;
                    let _ = parse_private_key(&corrupted);
                    let _ = parse_public_key(&corrupted);
                }
            }
        }
    }
}
