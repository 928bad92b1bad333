//! Flags of TLS on the internal links: node → etcd (`--metadata-tls-*`),
//! ledger client → bookie (`--bookkeeper-tls-*`, Pulsar's
//! `bookkeeperTLS*` settings in kebab case), and a bookie's own gRPC server
//! (`--tls-*`, as BookKeeper's `tlsCertificatePath` and friends). Each link
//! is plain text unless its flags are given, and both ends of a link must
//! agree. Files are read once at start.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use magnetar_proto::grpc_tls::{GrpcClientTls, GrpcServerTls};

/// TLS towards the etcd metadata store.
#[derive(Debug, Clone, Default, Args)]
pub struct MetadataTlsArgs {
    /// CA certificates (PEM) to trust for etcd's certificate. Turns TLS to
    /// etcd on (`https://` endpoints); etcd:// only.
    #[arg(long, env = "MAGNETAR_METADATA_TLS_TRUST_CERTS_FILE_PATH")]
    pub metadata_tls_trust_certs_file_path: Option<PathBuf>,
    /// Client certificate (PEM) for etcd's `--client-cert-auth`.
    #[arg(long, env = "MAGNETAR_METADATA_TLS_CERTIFICATE_FILE_PATH")]
    pub metadata_tls_certificate_file_path: Option<PathBuf>,
    /// Key (PEM) of `--metadata-tls-certificate-file-path`.
    #[arg(long, env = "MAGNETAR_METADATA_TLS_KEY_FILE_PATH")]
    pub metadata_tls_key_file_path: Option<PathBuf>,
}

impl MetadataTlsArgs {
    /// The TLS settings, `None` for plain text.
    pub fn load(&self) -> Result<Option<GrpcClientTls>> {
        load_client(
            "--metadata-tls-trust-certs-file-path",
            self.metadata_tls_trust_certs_file_path.as_ref(),
            self.metadata_tls_certificate_file_path.as_ref(),
            self.metadata_tls_key_file_path.as_ref(),
        )
    }
}

/// TLS of a ledger client towards the bookies.
#[derive(Debug, Clone, Default, Args)]
pub struct BookieClientTlsArgs {
    /// CA certificates (PEM) to trust for the bookies' certificates. Turns
    /// TLS towards the bookies on; every bookie must then serve TLS.
    #[arg(long, env = "MAGNETAR_BOOKKEEPER_TLS_TRUST_CERTS_FILE_PATH")]
    pub bookkeeper_tls_trust_certs_file_path: Option<PathBuf>,
    /// Client certificate (PEM) for bookies that require one.
    #[arg(long, env = "MAGNETAR_BOOKKEEPER_TLS_CERTIFICATE_FILE_PATH")]
    pub bookkeeper_tls_certificate_file_path: Option<PathBuf>,
    /// Key (PEM) of `--bookkeeper-tls-certificate-file-path`.
    #[arg(long, env = "MAGNETAR_BOOKKEEPER_TLS_KEY_FILE_PATH")]
    pub bookkeeper_tls_key_file_path: Option<PathBuf>,
}

impl BookieClientTlsArgs {
    /// The TLS settings, `None` for plain text.
    pub fn load(&self) -> Result<Option<GrpcClientTls>> {
        load_client(
            "--bookkeeper-tls-trust-certs-file-path",
            self.bookkeeper_tls_trust_certs_file_path.as_ref(),
            self.bookkeeper_tls_certificate_file_path.as_ref(),
            self.bookkeeper_tls_key_file_path.as_ref(),
        )
    }
}

/// TLS of a bookie's gRPC server.
#[derive(Debug, Clone, Default, Args)]
pub struct BookieServerTlsArgs {
    /// The bookie's certificate chain (PEM). Turns TLS on: the bookie then
    /// serves TLS only.
    #[arg(long, env = "MAGNETAR_TLS_CERTIFICATE_FILE_PATH")]
    pub tls_certificate_file_path: Option<PathBuf>,
    /// The bookie's private key (PEM).
    #[arg(long, env = "MAGNETAR_TLS_KEY_FILE_PATH")]
    pub tls_key_file_path: Option<PathBuf>,
    /// CA certificates (PEM) that clients' certificates must chain to.
    /// When given, clients without such a certificate are refused.
    #[arg(long, env = "MAGNETAR_TLS_TRUST_CERTS_FILE_PATH")]
    pub tls_trust_certs_file_path: Option<PathBuf>,
}

impl BookieServerTlsArgs {
    /// The TLS settings, `None` for plain text.
    pub fn load(&self) -> Result<Option<GrpcServerTls>> {
        let (cert, key) = match (&self.tls_certificate_file_path, &self.tls_key_file_path) {
            (Some(cert), Some(key)) => (cert, key),
            (None, None) => {
                anyhow::ensure!(
                    self.tls_trust_certs_file_path.is_none(),
                    "--tls-trust-certs-file-path needs --tls-certificate-file-path and --tls-key-file-path"
                );
                return Ok(None);
            }
            _ => anyhow::bail!("--tls-certificate-file-path and --tls-key-file-path go together"),
        };
        let tls = GrpcServerTls::load(cert, key, self.tls_trust_certs_file_path.as_deref())
            .context("bookie TLS files")?;
        Ok(Some(tls))
    }
}

fn load_client(
    trust_flag: &str,
    trust: Option<&PathBuf>,
    cert: Option<&PathBuf>,
    key: Option<&PathBuf>,
) -> Result<Option<GrpcClientTls>> {
    let Some(trust) = trust else {
        anyhow::ensure!(
            cert.is_none() && key.is_none(),
            "a client certificate needs {trust_flag} as well"
        );
        return Ok(None);
    };
    let tls = GrpcClientTls::load(trust, cert.map(PathBuf::as_path), key.map(PathBuf::as_path))
        .with_context(|| format!("TLS files of {trust_flag}"))?;
    Ok(Some(tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_flags_mean_plain_text_and_half_settings_are_refused() {
        assert!(MetadataTlsArgs::default().load().unwrap().is_none());
        assert!(BookieClientTlsArgs::default().load().unwrap().is_none());
        assert!(BookieServerTlsArgs::default().load().unwrap().is_none());

        let cert_only = BookieClientTlsArgs {
            bookkeeper_tls_certificate_file_path: Some("client.pem".into()),
            ..Default::default()
        };
        let error = cert_only.load().unwrap_err().to_string();
        assert!(
            error.contains("--bookkeeper-tls-trust-certs-file-path"),
            "{error}"
        );

        let key_only = BookieServerTlsArgs {
            tls_key_file_path: Some("bookie.key".into()),
            ..Default::default()
        };
        assert!(key_only.load().is_err());
        let ca_only = BookieServerTlsArgs {
            tls_trust_certs_file_path: Some("ca.pem".into()),
            ..Default::default()
        };
        assert!(ca_only.load().is_err());

        let missing = MetadataTlsArgs {
            metadata_tls_trust_certs_file_path: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let error = format!("{:#}", missing.load().unwrap_err());
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
    }
}
