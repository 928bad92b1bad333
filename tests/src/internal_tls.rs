//! [`InternalTls`]: one test CA and the certificates of a cluster whose
//! internal links all run on TLS (node → etcd, ledger client → bookie),
//! with the flags that each kind of process needs for them.
//!
//! Every server (etcd, bookies) presents the same certificate for
//! `localhost` and `127.0.0.1`, and every client presents the same client
//! certificate: the point is the links, not per-node identities.

use std::path::Path;

use anyhow::{Context, Result};
use magnetar_metadata::testing::EtcdTlsFiles;
use tempfile::TempDir;

use crate::certs::{CertFiles, TestCa};

/// The certificate files of a TLS cluster, in a directory removed on drop.
pub struct InternalTls {
    _dir: TempDir,
    ca: TestCa,
    server: CertFiles,
    client: CertFiles,
}

impl InternalTls {
    pub fn new() -> Result<InternalTls> {
        let dir = tempfile::Builder::new()
            .prefix("magnetar-internal-tls-")
            .tempdir()
            .context("create certificate directory")?;
        let ca = TestCa::new(dir.path(), "internal")?;
        let server = ca.server(dir.path(), "node")?;
        let client = ca.client(dir.path(), "cluster-client")?;
        Ok(InternalTls {
            _dir: dir,
            ca,
            server,
            client,
        })
    }

    /// The CA certificate every link trusts.
    pub fn ca_file(&self) -> &Path {
        &self.ca.cert_file
    }

    /// What a TLS etcd serves with.
    pub fn etcd_files(&self) -> EtcdTlsFiles {
        EtcdTlsFiles {
            server_cert: self.server.cert.clone(),
            server_key: self.server.key.clone(),
            trusted_ca: self.ca.cert_file.clone(),
            client_cert: self.client.cert.clone(),
            client_key: self.client.key.clone(),
        }
    }

    /// Flags of any process that talks to etcd.
    pub fn metadata_args(&self) -> Vec<String> {
        flags(&[
            ("--metadata-tls-trust-certs-file-path", self.ca_file()),
            ("--metadata-tls-certificate-file-path", &self.client.cert),
            ("--metadata-tls-key-file-path", &self.client.key),
        ])
    }

    /// Flags of a ledger client (a broker, a bookie's auto-recovery).
    pub fn bookie_client_args(&self) -> Vec<String> {
        flags(&[
            ("--bookkeeper-tls-trust-certs-file-path", self.ca_file()),
            ("--bookkeeper-tls-certificate-file-path", &self.client.cert),
            ("--bookkeeper-tls-key-file-path", &self.client.key),
        ])
    }

    /// Flags of a bookie: etcd over TLS, gRPC served over TLS with client
    /// certificates required, and auto-recovery's client over TLS.
    pub fn bookie_args(&self) -> Vec<String> {
        let mut args = self.metadata_args();
        args.extend(flags(&[
            ("--tls-certificate-file-path", &self.server.cert),
            ("--tls-key-file-path", &self.server.key),
            ("--tls-trust-certs-file-path", self.ca_file()),
        ]));
        args.extend(self.bookie_client_args());
        args
    }

    /// Flags of a broker: etcd and the bookies over TLS.
    pub fn broker_args(&self) -> Vec<String> {
        let mut args = self.metadata_args();
        args.extend(self.bookie_client_args());
        args
    }
}

fn flags(pairs: &[(&str, &Path)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(flag, path)| [flag.to_string(), path.display().to_string()])
        .collect()
}
