//! TLS for Magnetar's internal gRPC links (broker → bookie, bookie →
//! bookie, node → etcd): the PEM files each end is configured with, read
//! and checked once at start, and turned into tonic's TLS settings.
//!
//! - [`GrpcServerTls`]: a server's certificate chain and key, and optionally
//!   the CA bundle its clients' certificates must chain to (mutual TLS: a
//!   client without such a certificate is refused during the handshake).
//! - [`GrpcClientTls`]: the CA bundle a client trusts, and optionally its own
//!   certificate and key for servers that require one.
//!
//! Files are read when the settings are loaded; a missing file, or one
//! without the PEM block it should hold, is a [`TlsFileError`] naming the
//! file and never its contents. Changing the files takes a restart: the
//! internal links are long-lived HTTP/2 connections, and both ends are
//! operated together.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// A TLS file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path} holds no PEM {expected}")]
    NoPem {
        what: &'static str,
        path: PathBuf,
        expected: &'static str,
    },
    #[error("{given} is given without {missing}; both are needed")]
    Incomplete {
        given: &'static str,
        missing: &'static str,
    },
}

/// A certificate chain and its private key, as PEM bytes.
#[derive(Clone)]
struct PemIdentity {
    cert: Vec<u8>,
    key: Vec<u8>,
}

impl PemIdentity {
    fn load(cert: &Path, key: &Path) -> Result<Self, TlsFileError> {
        Ok(PemIdentity {
            cert: read_certificates("certificate file", cert)?,
            key: read_private_key(key)?,
        })
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert, &self.key)
    }
}

/// The files' contents stay out of `Debug` output: a key must never reach a log.
impl std::fmt::Debug for PemIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PemIdentity(..)")
    }
}

/// What a gRPC server presents, and whom it lets in.
#[derive(Debug, Clone)]
pub struct GrpcServerTls {
    identity: PemIdentity,
    client_ca: Option<Vec<u8>>,
}

impl GrpcServerTls {
    /// Reads the server's certificate chain and key, and the CA bundle that
    /// client certificates must chain to when mutual TLS is wanted.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, TlsFileError> {
        Ok(GrpcServerTls {
            identity: PemIdentity::load(cert, key)?,
            client_ca: client_ca
                .map(|path| read_certificates("client CA file", path))
                .transpose()?,
        })
    }

    /// Whether clients must present a certificate.
    pub fn requires_client_certificate(&self) -> bool {
        self.client_ca.is_some()
    }

    /// tonic's server settings.
    pub fn server_config(&self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new().identity(self.identity.identity());
        match &self.client_ca {
            Some(ca) => config.client_ca_root(Certificate::from_pem(ca)),
            None => config,
        }
    }
}

/// Whom a gRPC client trusts, and what it presents when asked.
#[derive(Debug, Clone)]
pub struct GrpcClientTls {
    trust: Vec<u8>,
    identity: Option<PemIdentity>,
}

impl GrpcClientTls {
    /// Reads the CA bundle to trust and, when both are given, the client's
    /// own certificate chain and key. One of the pair without the other is
    /// an error rather than a silent plain handshake.
    pub fn load(
        trust_certs: &Path,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Self, TlsFileError> {
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Some(PemIdentity::load(cert, key)?),
            (None, None) => None,
            (Some(_), None) => {
                return Err(TlsFileError::Incomplete {
                    given: "a client certificate",
                    missing: "its key",
                })
            }
            (None, Some(_)) => {
                return Err(TlsFileError::Incomplete {
                    given: "a client key",
                    missing: "its certificate",
                })
            }
        };
        Ok(GrpcClientTls {
            trust: read_certificates("trusted CA file", trust_certs)?,
            identity,
        })
    }

    /// tonic's client settings. The server name checked against the
    /// server's certificate is the host of the address dialled.
    pub fn client_config(&self) -> ClientTlsConfig {
        let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.trust));
        match &self.identity {
            Some(identity) => config.identity(identity.identity()),
            None => config,
        }
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|source| TlsFileError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn read_certificates(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsFileError> {
    let bytes = read(what, path)?;
    let mut certificates = CertificateDer::pem_slice_iter(&bytes);
    match certificates.next() {
        Some(Ok(_)) => Ok(bytes),
        _ => Err(TlsFileError::NoPem {
            what,
            path: path.to_path_buf(),
            expected: "certificate",
        }),
    }
}

fn read_private_key(path: &Path) -> Result<Vec<u8>, TlsFileError> {
    let what = "key file";
    let bytes = read(what, path)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(_) => Ok(bytes),
        Err(_) => Err(TlsFileError::NoPem {
            what,
            path: path.to_path_buf(),
            expected: "private key",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A syntactically valid PEM certificate block is all the loader checks;
    // the handshake tests that use real certificates live in the bookie and
    // process tests.
    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn loads_pem_files_and_names_bad_ones() {
        let dir = std::env::temp_dir().join(format!("grpc-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = write(&dir, "cert.pem", CERT);
        let key = write(&dir, "key.pem", KEY);
        let junk = write(&dir, "junk.pem", "not pem at all");

        let server = GrpcServerTls::load(&cert, &key, Some(&cert)).unwrap();
        assert!(server.requires_client_certificate());
        assert!(!format!("{server:?}").contains("MAA="));
        GrpcClientTls::load(&cert, Some(&cert), Some(&key)).unwrap();
        GrpcClientTls::load(&cert, None, None).unwrap();

        let error = GrpcClientTls::load(&junk, None, None).unwrap_err();
        assert!(matches!(error, TlsFileError::NoPem { .. }), "{error}");
        assert!(error.to_string().contains("junk.pem"));
        let error = GrpcServerTls::load(&cert, &junk, None).unwrap_err();
        assert!(error.to_string().contains("private key"), "{error}");
        let error = GrpcClientTls::load(&cert, Some(&cert), None).unwrap_err();
        assert!(matches!(error, TlsFileError::Incomplete { .. }), "{error}");
        let error = GrpcClientTls::load(&dir.join("absent.pem"), None, None).unwrap_err();
        assert!(matches!(error, TlsFileError::Read { .. }), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
