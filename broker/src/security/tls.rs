//! TLS for the broker's listeners, configured as Pulsar configures it: a
//! certificate chain and private key from PEM files
//! (`tlsCertificateFilePath`, `tlsKeyFilePath`), client certificates checked
//! against trusted CAs (`tlsTrustCertsFilePath`,
//! `tlsRequireTrustedClientCertOnConnect`), and reloading when the files
//! change (`tlsCertRefreshCheckDurationSec`).
//!
//! This module owns:
//! - [`TlsSettings`]: where the files are and how client certificates are
//!   treated.
//! - [`TlsAcceptor`]: the current rustls server configuration, rebuilt by
//!   [`TlsAcceptor::reload_now`] (and the task of
//!   [`TlsAcceptor::spawn_reloader`]) when the files change, and the server
//!   side of each handshake, bounded by a timeout.
//! - [`peer_common_name`]: the verified client certificate's subject common
//!   name, which the `tls` authentication provider takes as the role.
//! - [`TlsListener`] and [`TlsPeer`]: HTTPS for the admin API through
//!   `axum::serve`.
//!
//! Every configuration is built with the `ring` crypto provider explicitly;
//! no process-wide default provider is needed.

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use parking_lot::{Mutex, RwLock};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, trace, warn};

use crate::security::SecurityError;

/// How often the reloader checks the files unless configured otherwise
/// (Pulsar's default is 300 s).
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(60);

/// How long a client has to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The ALPN protocol [`TlsAcceptor::for_http`] offers.
pub const HTTP_1_1_ALPN: &[u8] = b"http/1.1";

/// Handshakes a [`TlsListener`] runs at once; beyond this it stops
/// accepting TCP connections until one finishes.
const MAX_PENDING_HANDSHAKES: usize = 1024;

/// Where the TLS files are and how client certificates are treated.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// PEM certificate chain, the server's certificate first
    /// (`tlsCertificateFilePath`).
    pub cert_file: PathBuf,
    /// PEM private key of the first certificate: PKCS#8, PKCS#1 or SEC1
    /// (`tlsKeyFilePath`).
    pub key_file: PathBuf,
    /// PEM CA certificate(s) that client certificates must chain to
    /// (`tlsTrustCertsFilePath`). Without it no client certificate is asked
    /// for.
    pub trust_certs_file: Option<PathBuf>,
    /// Refuse a handshake without a trusted client certificate
    /// (`tlsRequireTrustedClientCertOnConnect`). Needs `trust_certs_file`.
    /// When false, a client may present no certificate, but one it
    /// presents must still chain to a trusted CA.
    pub require_trusted_client_cert: bool,
    /// How often the files are checked for changes
    /// (`tlsCertRefreshCheckDurationSec`); zero turns reloading off.
    pub reload_interval: Duration,
}

impl TlsSettings {
    /// Settings with a certificate and key, no client certificates and the
    /// default reload interval.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        TlsSettings {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            trust_certs_file: None,
            require_trusted_client_cert: false,
            reload_interval: DEFAULT_RELOAD_INTERVAL,
        }
    }
}

/// The server side of TLS: the current rustls configuration, replaced when
/// the files change. Cheap to clone; clones share the configuration and
/// see each other's reloads.
#[derive(Clone)]
pub struct TlsAcceptor {
    shared: Arc<Shared>,
    handshake_timeout: Duration,
}

struct Shared {
    settings: TlsSettings,
    alpn: Vec<Vec<u8>>,
    current: RwLock<Installed>,
    /// Serializes reloads, so two never build and install at once.
    reloading: Mutex<()>,
}

/// The configuration in use and the fingerprint of the files it was built
/// from.
struct Installed {
    config: Arc<ServerConfig>,
    fingerprint: u64,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("settings", &self.shared.settings)
            .field("alpn", &self.shared.alpn)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Loads and checks the files now, with no ALPN (the binary protocol).
    ///
    /// A missing or unreadable file, a certificate file without
    /// certificates, a key file without a key, a key that does not match
    /// the certificate, or a trust file without usable CA certificates is a
    /// [`SecurityError::Config`].
    pub fn new(settings: TlsSettings) -> Result<Self, SecurityError> {
        Self::with_alpn(settings, Vec::new())
    }

    /// As [`TlsAcceptor::new`], offering ALPN `http/1.1` (for the admin
    /// API over HTTPS).
    pub fn for_http(settings: TlsSettings) -> Result<Self, SecurityError> {
        Self::with_alpn(settings, vec![HTTP_1_1_ALPN.to_vec()])
    }

    /// As [`TlsAcceptor::new`], offering these ALPN protocols (most
    /// preferred first). Reloaded configurations keep them.
    pub fn with_alpn(settings: TlsSettings, alpn: Vec<Vec<u8>>) -> Result<Self, SecurityError> {
        if settings.require_trusted_client_cert && settings.trust_certs_file.is_none() {
            return Err(SecurityError::config(
                "TLS settings",
                "requiring a trusted client certificate needs a trust certificates file",
            ));
        }
        let files = TlsFiles::read(&settings)?;
        let config = build_config(&settings, &alpn, &files)?;
        info!(
            cert_file = %settings.cert_file.display(),
            client_certs = client_cert_mode(&settings),
            "TLS configured"
        );
        Ok(TlsAcceptor {
            shared: Arc::new(Shared {
                current: RwLock::new(Installed {
                    config: Arc::new(config),
                    fingerprint: files.fingerprint(),
                }),
                settings,
                alpn,
                reloading: Mutex::new(()),
            }),
            handshake_timeout: HANDSHAKE_TIMEOUT,
        })
    }

    /// This acceptor with another handshake timeout (default
    /// [`HANDSHAKE_TIMEOUT`]). Other clones keep theirs.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The settings the acceptor was made with.
    pub fn settings(&self) -> &TlsSettings {
        &self.shared.settings
    }

    /// The configuration new handshakes use now.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.shared.current.read().config)
    }

    /// Reads the files and, if their contents changed since the installed
    /// configuration was built, builds and installs a new one. Returns
    /// whether it did.
    ///
    /// Changes are detected by content (a hash of each file), so a rewrite
    /// within the file system's timestamp granularity is not missed and a
    /// mere `touch` does not rebuild. On an error the installed
    /// configuration stays, and the next call tries again. Blocking file
    /// I/O: from async code, call it through `spawn_blocking`.
    pub fn reload_now(&self) -> Result<bool, SecurityError> {
        let _one_at_a_time = self.shared.reloading.lock();
        let settings = &self.shared.settings;
        let files = TlsFiles::read(settings)?;
        let fingerprint = files.fingerprint();
        if fingerprint == self.shared.current.read().fingerprint {
            trace!(cert_file = %settings.cert_file.display(), "TLS files unchanged");
            return Ok(false);
        }
        let config = build_config(settings, &self.shared.alpn, &files)?;
        *self.shared.current.write() = Installed {
            config: Arc::new(config),
            fingerprint,
        };
        info!(cert_file = %settings.cert_file.display(), "TLS files changed; new configuration installed");
        Ok(true)
    }

    /// Starts a task that calls [`TlsAcceptor::reload_now`] every
    /// `reload_interval` until `stop` is cancelled. A file that cannot be
    /// used is logged as a warning and the previous configuration kept. With
    /// a zero interval the task ends at once.
    pub fn spawn_reloader(&self, stop: CancellationToken) -> JoinHandle<()> {
        let acceptor = self.clone();
        let period = self.shared.settings.reload_interval;
        tokio::spawn(async move {
            if period.is_zero() {
                debug!("TLS reloading is off");
                return;
            }
            let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                let check = acceptor.clone();
                match tokio::task::spawn_blocking(move || check.reload_now()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => warn!(
                        error = %e,
                        "cannot reload the TLS files; keeping the current configuration"
                    ),
                    Err(e) => warn!(error = %e, "TLS reload check failed"),
                }
            }
            debug!("TLS reloader stopped");
        })
    }

    /// Runs the server side of a handshake with the current configuration.
    /// A handshake that takes longer than the timeout fails with
    /// [`io::ErrorKind::TimedOut`].
    pub async fn accept(&self, stream: TcpStream) -> io::Result<TlsStream<TcpStream>> {
        let handshake = tokio_rustls::TlsAcceptor::from(self.server_config()).accept(stream);
        match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            )),
        }
    }
}

/// The `ring` crypto provider every TLS configuration here is built with
/// (no process-wide default provider is installed).
///
/// rustls 0.23.48 deprecated `ring::default_provider` because *ring* has no
/// post-quantum key exchange; it is still the only way to get the provider
/// this workspace builds with (no aws-lc-rs), so the deprecation is allowed
/// here, in one place.
#[allow(deprecated)]
pub fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_cert_mode(settings: &TlsSettings) -> &'static str {
    match (
        &settings.trust_certs_file,
        settings.require_trusted_client_cert,
    ) {
        (None, _) => "not requested",
        (Some(_), false) => "optional",
        (Some(_), true) => "required",
    }
}

/// The contents of the three files, read once so that the fingerprint and
/// the configuration come from the same bytes.
struct TlsFiles {
    cert: Vec<u8>,
    key: Vec<u8>,
    trust: Option<Vec<u8>>,
}

impl TlsFiles {
    fn read(settings: &TlsSettings) -> Result<Self, SecurityError> {
        let read = |what: &str, path: &Path| {
            std::fs::read(path).map_err(|e| SecurityError::config(describe(what, path), e))
        };
        Ok(TlsFiles {
            cert: read("TLS certificate file", &settings.cert_file)?,
            key: read("TLS key file", &settings.key_file)?,
            trust: settings
                .trust_certs_file
                .as_deref()
                .map(|path| read("TLS trust certificates file", path))
                .transpose()?,
        })
    }

    /// A hash of the contents; equal fingerprints mean unchanged files.
    fn fingerprint(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.cert.hash(&mut hasher);
        self.key.hash(&mut hasher);
        self.trust.hash(&mut hasher);
        hasher.finish()
    }
}

fn describe(what: &str, path: &Path) -> String {
    format!("{what} {}", path.display())
}

fn build_config(
    settings: &TlsSettings,
    alpn: &[Vec<u8>],
    files: &TlsFiles,
) -> Result<ServerConfig, SecurityError> {
    let provider = ring_provider();
    let cert_what = describe("TLS certificate file", &settings.cert_file);
    let key_what = describe("TLS key file", &settings.key_file);

    let chain = parse_certificates(&cert_what, &files.cert)?;
    // The key's parse errors are summarized: some quote the offending line.
    let key = PrivateKeyDer::from_pem_slice(&files.key).map_err(|e| {
        let reason = match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no private key found",
            _ => "malformed PEM",
        };
        SecurityError::config(key_what.as_str(), reason)
    })?;

    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| SecurityError::config("TLS protocol versions", e))?;
    let builder = match (&settings.trust_certs_file, &files.trust) {
        (Some(path), Some(trust)) => {
            let trust_what = describe("TLS trust certificates file", path);
            builder.with_client_cert_verifier(client_verifier(
                settings,
                &trust_what,
                trust,
                Arc::clone(&provider),
            )?)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => SecurityError::config(
            key_what.as_str(),
            format!("the private key does not match the certificate in {cert_what}"),
        ),
        other => SecurityError::config(
            key_what.as_str(),
            format!("unusable private key or certificate: {other}"),
        ),
    })?;
    config.alpn_protocols = alpn.to_vec();
    Ok(config)
}

fn parse_certificates(
    what: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, SecurityError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SecurityError::config(what, format!("malformed PEM: {e}")))?;
    if certs.is_empty() {
        return Err(SecurityError::config(what, "no certificate found"));
    }
    Ok(certs)
}

fn client_verifier(
    settings: &TlsSettings,
    what: &str,
    pem: &[u8],
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, SecurityError> {
    let mut roots = RootCertStore::empty();
    for cert in parse_certificates(what, pem)? {
        roots
            .add(cert)
            .map_err(|e| SecurityError::config(what, format!("unusable CA certificate: {e}")))?;
    }
    let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    if !settings.require_trusted_client_cert {
        verifier = verifier.allow_unauthenticated();
    }
    verifier.build().map_err(|e| SecurityError::config(what, e))
}

/// The verified client certificate's subject common name (the first CN
/// attribute), for the `tls` authentication provider. `None` when the
/// client presented no certificate or its subject has no UTF-8 CN.
///
/// Only certificates that chained to a trusted CA get here: without a trust
/// file no client certificate is asked for, and with one a certificate that
/// does not verify fails the handshake.
pub fn peer_common_name<IO>(stream: &TlsStream<IO>) -> Option<String> {
    let (_, connection) = stream.get_ref();
    certificate_common_name(connection.peer_certificates()?.first()?)
}

/// A DER certificate's subject common name (the first CN attribute).
pub fn certificate_common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let common_name = parsed.subject().iter_common_name().next()?.as_str().ok()?;
    Some(common_name.to_owned())
}

/// A TLS listener for `axum::serve`: accepts TCP connections and runs each
/// handshake in its own task, so a slow client never holds up others.
/// Failed handshakes are logged at debug and skipped.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    /// Serves TLS on `listener` with `acceptor` (usually from
    /// [`TlsAcceptor::for_http`]).
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> Self {
        TlsListener {
            tcp: listener,
            acceptor,
            handshakes: JoinSet::new(),
        }
    }

    fn start_handshake(&mut self, stream: TcpStream, addr: SocketAddr) {
        let acceptor = self.acceptor.clone();
        self.handshakes.spawn(async move {
            match acceptor.accept(stream).await {
                Ok(tls) => Some((tls, addr)),
                Err(e) => {
                    debug!(peer = %addr, error = %e, "TLS handshake failed");
                    None
                }
            }
        });
    }
}

impl fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener")
            .field("local_addr", &self.tcp.local_addr().ok())
            .field("pending_handshakes", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.handshakes.len() < MAX_PENDING_HANDSHAKES;
            let busy = !self.handshakes.is_empty();
            tokio::select! {
                accepted = self.tcp.accept(), if room => match accepted {
                    Ok((stream, addr)) => self.start_handshake(stream, addr),
                    Err(e) => accept_failed(e).await,
                },
                Some(finished) = self.handshakes.join_next(), if busy => match finished {
                    Ok(Some(connection)) => return connection,
                    Ok(None) => {}
                    Err(e) => warn!(error = %e, "TLS handshake task failed"),
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A failed TCP accept: a connection reset before it was accepted is
/// skipped; anything else (such as running out of file descriptors) is
/// logged and followed by a pause, as axum's own TCP listener does.
async fn accept_failed(e: io::Error) {
    match e.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionRefused => {
            debug!(error = %e, "TCP connection lost before accept");
        }
        _ => {
            error!(error = %e, "TCP accept failed; pausing for a second");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Connect info for axum over a [`TlsListener`]
/// (`Router::into_make_service_with_connect_info::<TlsPeer>()`).
#[derive(Debug, Clone)]
pub struct TlsPeer {
    /// The client's address.
    pub addr: SocketAddr,
    /// The verified client certificate's common name, if it presented one.
    pub common_name: Option<String>,
}

impl Connected<IncomingStream<'_, TlsListener>> for TlsPeer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        TlsPeer {
            addr: *stream.remote_addr(),
            common_name: peer_common_name(stream.io()),
        }
    }
}

/// Certificates for tests: a CA, server certificates for `localhost` and
/// `127.0.0.1`, client certificates with a common name, and rustls client
/// configurations that trust the CA.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    use rustls::{ClientConfig, RootCertStore};
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    /// A self-signed certificate authority.
    pub(crate) struct TestCa {
        issuer: Issuer<'static, KeyPair>,
        pub(crate) cert_pem: String,
        pub(crate) der: CertificateDer<'static>,
    }

    /// A certificate signed by a [`TestCa`] and its PKCS#8 key.
    #[derive(Clone)]
    pub(crate) struct TestCert {
        pub(crate) cert_pem: String,
        pub(crate) key_pem: String,
        pub(crate) der: CertificateDer<'static>,
    }

    impl TestCa {
        pub(crate) fn new(name: &str) -> Self {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            TestCa {
                cert_pem: cert.pem(),
                der: cert.der().clone(),
                issuer: Issuer::new(params, key),
            }
        }

        /// A server certificate for `localhost` and `127.0.0.1`.
        pub(crate) fn server_cert(&self, common_name: &str) -> TestCert {
            self.issue(
                common_name,
                vec!["localhost".into(), "127.0.0.1".into()],
                ExtendedKeyUsagePurpose::ServerAuth,
            )
        }

        /// A client certificate whose subject CN is `common_name`.
        pub(crate) fn client_cert(&self, common_name: &str) -> TestCert {
            self.issue(common_name, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)
        }

        fn issue(
            &self,
            common_name: &str,
            names: Vec<String>,
            usage: ExtendedKeyUsagePurpose,
        ) -> TestCert {
            let mut params = CertificateParams::new(names).unwrap();
            params
                .distinguished_name
                .push(DnType::CommonName, common_name);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &self.issuer).unwrap();
            TestCert {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
                der: cert.der().clone(),
            }
        }
    }

    impl TestCert {
        /// Writes the certificate and key to `cert.pem` and `key.pem` in
        /// `dir` and returns their paths.
        pub(crate) fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
            let cert_file = dir.join("cert.pem");
            let key_file = dir.join("key.pem");
            std::fs::write(&cert_file, &self.cert_pem).unwrap();
            std::fs::write(&key_file, &self.key_pem).unwrap();
            (cert_file, key_file)
        }
    }

    /// A client configuration trusting `ca`, presenting `client` if given
    /// and offering `alpn`.
    pub(crate) fn client_config(
        ca: &TestCa,
        client: Option<&TestCert>,
        alpn: &[&[u8]],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(ca.der.clone()).unwrap();
        let builder = ClientConfig::builder_with_provider(super::ring_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match client {
            Some(cert) => builder
                .with_client_auth_cert(
                    vec![cert.der.clone()],
                    PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use axum::extract::ConnectInfo;
    use axum::routing::get;
    use axum::Router;
    use rustls::ClientConfig;
    use rustls_pki_types::ServerName;
    use tempfile::TempDir;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::client;

    use super::testing::{client_config, TestCa, TestCert};
    use super::*;

    const TEST_TIMEOUT: Duration = Duration::from_secs(10);

    async fn bounded<F: Future>(f: F) -> F::Output {
        tokio::time::timeout(TEST_TIMEOUT, f)
            .await
            .expect("test step timed out")
    }

    /// A CA, a server certificate written to a temporary directory, and
    /// the CA written there as the trust file.
    struct Fixture {
        dir: TempDir,
        ca: TestCa,
        server: TestCert,
        cert_file: PathBuf,
        key_file: PathBuf,
        trust_file: PathBuf,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = TempDir::new().unwrap();
            let ca = TestCa::new("test-ca");
            let server = ca.server_cert("server-1");
            let (cert_file, key_file) = server.write(dir.path());
            let trust_file = dir.path().join("ca.pem");
            std::fs::write(&trust_file, &ca.cert_pem).unwrap();
            Fixture {
                dir,
                ca,
                server,
                cert_file,
                key_file,
                trust_file,
            }
        }

        fn settings(&self) -> TlsSettings {
            TlsSettings::new(&self.cert_file, &self.key_file)
        }

        fn client_auth_settings(&self, require: bool) -> TlsSettings {
            TlsSettings {
                trust_certs_file: Some(self.trust_file.clone()),
                require_trusted_client_cert: require,
                ..self.settings()
            }
        }
    }

    async fn connect(
        addr: SocketAddr,
        config: Arc<ClientConfig>,
    ) -> io::Result<client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
    }

    /// Accepts one connection: handshake, then reads `hello` and answers
    /// `world`. Yields the client's common name.
    async fn serve_one(
        acceptor: TlsAcceptor,
    ) -> (SocketAddr, JoinHandle<io::Result<Option<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            let mut tls = acceptor.accept(tcp).await?;
            let common_name = peer_common_name(&tls);
            let mut request = [0u8; 5];
            tls.read_exact(&mut request).await?;
            assert_eq!(&request, b"hello");
            tls.write_all(b"world").await?;
            tls.flush().await?;
            Ok::<_, io::Error>(common_name)
        });
        (addr, task)
    }

    /// Connects, sends `hello` and expects `world`; returns the server's
    /// leaf certificate.
    async fn exchange(
        addr: SocketAddr,
        config: Arc<ClientConfig>,
    ) -> io::Result<CertificateDer<'static>> {
        let mut tls = connect(addr, config).await?;
        tls.write_all(b"hello").await?;
        tls.flush().await?;
        let mut reply = [0u8; 5];
        tls.read_exact(&mut reply).await?;
        assert_eq!(&reply, b"world");
        let (_, connection) = tls.get_ref();
        Ok(connection.peer_certificates().unwrap()[0].clone())
    }

    /// One connection through `acceptor`; the server's leaf certificate.
    async fn leaf_served(acceptor: &TlsAcceptor, ca: &TestCa) -> CertificateDer<'static> {
        let (addr, server) = serve_one(acceptor.clone()).await;
        let leaf = bounded(exchange(addr, client_config(ca, None, &[])))
            .await
            .unwrap();
        bounded(server).await.unwrap().unwrap();
        leaf
    }

    #[tokio::test]
    async fn handshake_and_exchange_bytes() {
        let fx = Fixture::new();
        let acceptor = TlsAcceptor::new(fx.settings()).unwrap();
        let (addr, server) = serve_one(acceptor).await;
        let leaf = bounded(exchange(addr, client_config(&fx.ca, None, &[])))
            .await
            .unwrap();
        assert_eq!(leaf, fx.server.der);
        // Without a trust file no client certificate is asked for.
        assert_eq!(bounded(server).await.unwrap().unwrap(), None);
    }

    #[tokio::test]
    async fn client_certificate_common_name() {
        let fx = Fixture::new();
        let acceptor = TlsAcceptor::new(fx.client_auth_settings(true)).unwrap();
        let client = fx.ca.client_cert("app-role");
        let (addr, server) = serve_one(acceptor).await;
        bounded(exchange(addr, client_config(&fx.ca, Some(&client), &[])))
            .await
            .unwrap();
        let common_name = bounded(server).await.unwrap().unwrap();
        assert_eq!(common_name.as_deref(), Some("app-role"));
        assert_eq!(
            certificate_common_name(&client.der).as_deref(),
            Some("app-role")
        );
    }

    /// The server refuses the client: its handshake fails, and the client
    /// gets no answer (with TLS 1.3 the client's own handshake may finish
    /// before the server has checked its certificate).
    async fn assert_refused(acceptor: &TlsAcceptor, config: Arc<ClientConfig>) {
        let (addr, server) = serve_one(acceptor.clone()).await;
        let client = bounded(exchange(addr, config)).await;
        assert!(client.is_err(), "client got an answer");
        let server = bounded(server).await.unwrap();
        assert!(server.is_err(), "server accepted the client");
    }

    #[tokio::test]
    async fn required_client_cert_refuses_missing_and_foreign_certs() {
        let fx = Fixture::new();
        let acceptor = TlsAcceptor::new(fx.client_auth_settings(true)).unwrap();
        assert_refused(&acceptor, client_config(&fx.ca, None, &[])).await;

        let other_ca = TestCa::new("other-ca");
        let foreign = other_ca.client_cert("intruder");
        assert_refused(&acceptor, client_config(&fx.ca, Some(&foreign), &[])).await;
    }

    #[tokio::test]
    async fn optional_client_cert_allows_none_but_checks_presented_ones() {
        let fx = Fixture::new();
        let acceptor = TlsAcceptor::new(fx.client_auth_settings(false)).unwrap();
        let (addr, server) = serve_one(acceptor.clone()).await;
        bounded(exchange(addr, client_config(&fx.ca, None, &[])))
            .await
            .unwrap();
        assert_eq!(bounded(server).await.unwrap().unwrap(), None);

        let foreign = TestCa::new("other-ca").client_cert("intruder");
        assert_refused(&acceptor, client_config(&fx.ca, Some(&foreign), &[])).await;
    }

    #[tokio::test]
    async fn handshake_times_out() {
        let fx = Fixture::new();
        let acceptor = TlsAcceptor::new(fx.settings())
            .unwrap()
            .with_handshake_timeout(Duration::from_millis(200));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _silent = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let err = bounded(acceptor.accept(tcp)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn reload_installs_changed_files_and_keeps_config_on_errors() {
        let fx = Fixture::new();
        let acceptor = TlsAcceptor::new(fx.settings()).unwrap();
        assert!(!acceptor.reload_now().unwrap(), "nothing changed yet");
        assert_eq!(leaf_served(&acceptor, &fx.ca).await, fx.server.der);

        let second = fx.ca.server_cert("server-2");
        second.write(fx.dir.path());
        assert!(acceptor.reload_now().unwrap());
        assert!(!acceptor.reload_now().unwrap(), "already installed");
        assert_eq!(leaf_served(&acceptor, &fx.ca).await, second.der);

        // A corrupt certificate file: error, and the installed config stays.
        std::fs::write(&fx.cert_file, "-----BEGIN CERTIFICATE-----\n!!!\n").unwrap();
        let err = acceptor.reload_now().unwrap_err();
        assert!(matches!(err, SecurityError::Config { .. }), "{err}");
        assert_eq!(leaf_served(&acceptor, &fx.ca).await, second.der);

        // A new certificate whose key has not been written yet.
        let third = fx.ca.server_cert("server-3");
        std::fs::write(&fx.cert_file, &third.cert_pem).unwrap();
        let err = acceptor.reload_now().unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        assert_eq!(leaf_served(&acceptor, &fx.ca).await, second.der);

        // The key arrives: the next check installs it.
        std::fs::write(&fx.key_file, &third.key_pem).unwrap();
        assert!(acceptor.reload_now().unwrap());
        assert_eq!(leaf_served(&acceptor, &fx.ca).await, third.der);

        // A deleted file is an error too.
        std::fs::remove_file(&fx.key_file).unwrap();
        assert!(acceptor.reload_now().is_err());
        assert_eq!(leaf_served(&acceptor, &fx.ca).await, third.der);
    }

    #[tokio::test]
    async fn reloader_picks_up_new_files() {
        let fx = Fixture::new();
        let settings = TlsSettings {
            reload_interval: Duration::from_millis(50),
            ..fx.settings()
        };
        let acceptor = TlsAcceptor::new(settings).unwrap();
        let stop = CancellationToken::new();
        let reloader = acceptor.spawn_reloader(stop.clone());

        // A broken file first: the reloader keeps the old configuration.
        std::fs::write(&fx.key_file, "garbage").unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(leaf_served(&acceptor, &fx.ca).await, fx.server.der);

        let second = fx.ca.server_cert("server-2");
        second.write(fx.dir.path());
        bounded(async {
            while leaf_served(&acceptor, &fx.ca).await != second.der {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;

        stop.cancel();
        bounded(reloader).await.unwrap();
    }

    #[tokio::test]
    async fn zero_interval_turns_reloading_off() {
        let fx = Fixture::new();
        let settings = TlsSettings {
            reload_interval: Duration::ZERO,
            ..fx.settings()
        };
        let acceptor = TlsAcceptor::new(settings).unwrap();
        bounded(acceptor.spawn_reloader(CancellationToken::new()))
            .await
            .unwrap();
    }

    fn config_error(settings: TlsSettings) -> String {
        match TlsAcceptor::new(settings) {
            Err(err @ SecurityError::Config { .. }) => err.to_string(),
            Err(other) => panic!("expected a Config error, got {other}"),
            Ok(_) => panic!("expected a Config error, got an acceptor"),
        }
    }

    #[test]
    fn new_rejects_unusable_files() {
        let fx = Fixture::new();
        let missing = fx.dir.path().join("missing.pem");

        let message = config_error(TlsSettings {
            cert_file: missing.clone(),
            ..fx.settings()
        });
        assert!(message.contains("missing.pem"), "{message}");
        config_error(TlsSettings {
            key_file: missing.clone(),
            ..fx.settings()
        });
        config_error(TlsSettings {
            trust_certs_file: Some(missing),
            ..fx.settings()
        });

        // A certificate file without certificates.
        let message = config_error(TlsSettings {
            cert_file: fx.key_file.clone(),
            ..fx.settings()
        });
        assert!(message.contains("no certificate"), "{message}");

        // A key file without a key.
        let message = config_error(TlsSettings {
            key_file: fx.cert_file.clone(),
            ..fx.settings()
        });
        assert!(message.contains("no private key"), "{message}");

        // Requiring client certificates without CAs to check them against.
        config_error(TlsSettings {
            require_trusted_client_cert: true,
            ..fx.settings()
        });
    }

    #[test]
    fn new_rejects_a_key_that_does_not_match_without_revealing_it() {
        let fx = Fixture::new();
        let other = fx.ca.server_cert("other");
        let other_key = fx.dir.path().join("other-key.pem");
        std::fs::write(&other_key, &other.key_pem).unwrap();
        let message = config_error(TlsSettings {
            key_file: other_key,
            ..fx.settings()
        });
        assert!(message.contains("does not match"), "{message}");
        assert!(!message.contains("PRIVATE KEY"), "{message}");
        for line in other.key_pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!message.contains(line), "{message}");
        }

        // A malformed key file is reported without quoting it.
        let broken = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldA==?\n";
        std::fs::write(&fx.key_file, broken).unwrap();
        let message = config_error(fx.settings());
        assert!(!message.contains("c2VjcmV0"), "{message}");
    }

    async fn http_get(addr: SocketAddr, config: Arc<ClientConfig>, path: &str) -> String {
        let mut tls = connect(addr, config).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(HTTP_1_1_ALPN));
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).await.unwrap();
        tls.flush().await.unwrap();
        let mut response = Vec::new();
        // A peer that closes without close_notify is fine here.
        let _ = tls.read_to_end(&mut response).await;
        String::from_utf8(response).unwrap()
    }

    #[tokio::test]
    async fn tls_listener_serves_axum_with_peer_info() {
        let fx = Fixture::new();
        let acceptor = TlsAcceptor::for_http(fx.client_auth_settings(false)).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/whoami",
            get(|ConnectInfo(peer): ConnectInfo<TlsPeer>| async move {
                format!(
                    "{} from {}",
                    peer.common_name.as_deref().unwrap_or("anonymous"),
                    peer.addr.ip()
                )
            }),
        );
        let server = tokio::spawn(async move {
            axum::serve(
                TlsListener::new(listener, acceptor),
                router.into_make_service_with_connect_info::<TlsPeer>(),
            )
            .await
        });

        // A client that never speaks, and one that speaks garbage, hold up
        // nobody.
        let _silent = TcpStream::connect(addr).await.unwrap();
        let mut garbage = TcpStream::connect(addr).await.unwrap();
        garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();

        // Well within the handshake timeout the silent client is held to.
        let client = fx.ca.client_cert("admin-role");
        let config = client_config(&fx.ca, Some(&client), &[HTTP_1_1_ALPN]);
        let response =
            tokio::time::timeout(HANDSHAKE_TIMEOUT / 2, http_get(addr, config, "/whoami"))
                .await
                .expect("a silent client held up the listener");
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        assert!(
            response.ends_with("admin-role from 127.0.0.1"),
            "{response}"
        );

        let config = client_config(&fx.ca, None, &[HTTP_1_1_ALPN]);
        let response = bounded(http_get(addr, config, "/whoami")).await;
        assert!(response.ends_with("anonymous from 127.0.0.1"), "{response}");

        server.abort();
    }
}
