//! [`EtcdServer`]: a real single-node `etcd` process for tests.
//!
//! It listens on 127.0.0.1 with client and peer ports picked by binding port
//! 0 and releasing it (retrying if another process grabs a port first),
//! keeps its data in a temporary directory, and is killed on drop. `stop`
//! and `restart` (same data and ports) let tests exercise reconnects.
//! [`EtcdServer::start_tls`] serves clients over mutual TLS only;
//! [`EtcdServer::start_placed`] listens on another address, started through
//! a launcher command (a network namespace of its own, say).

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use magnetar_proto::grpc_tls::{GrpcClientTls, TlsFileError};
use tempfile::TempDir;

use crate::etcd::{EtcdOptions, EtcdStore};
use crate::store::MetadataStore;
use crate::url::MetadataUrl;

/// How long etcd may take to become healthy.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);
/// Attempts at starting etcd on fresh ports.
const START_ATTEMPTS: usize = 4;

pub struct EtcdServer {
    child: Option<Child>,
    data_dir: TempDir,
    client_port: u16,
    peer_port: u16,
    tls: Option<EtcdTlsFiles>,
    placement: EtcdPlacement,
}

/// Where a test etcd runs: the address it listens on, and the command it
/// is started through (`["ip", "netns", "exec", "NAME"]`, say; empty for
/// etcd itself).
#[derive(Debug, Clone)]
pub struct EtcdPlacement {
    pub host: IpAddr,
    pub launcher: Vec<String>,
}

impl Default for EtcdPlacement {
    fn default() -> EtcdPlacement {
        EtcdPlacement {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            launcher: Vec::new(),
        }
    }
}

/// PEM files of an etcd that serves clients over mutual TLS: its own
/// certificate, the CA that client certificates must chain to (which also
/// signed the server's), and a client certificate for the test's own calls.
#[derive(Debug, Clone)]
pub struct EtcdTlsFiles {
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub trusted_ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl EtcdTlsFiles {
    /// Client settings that trust the CA and present the client certificate.
    pub fn client_tls(&self) -> Result<GrpcClientTls, TlsFileError> {
        GrpcClientTls::load(
            &self.trusted_ca,
            Some(&self.client_cert),
            Some(&self.client_key),
        )
    }
}

impl EtcdServer {
    /// Starts etcd (binary `etcd` on the PATH, or `$ETCD_BIN`) and waits
    /// until it serves requests.
    pub async fn start() -> io::Result<EtcdServer> {
        EtcdServer::start_with(None, EtcdPlacement::default()).await
    }

    /// As [`EtcdServer::start`], listening on `placement.host` and started
    /// through `placement.launcher`.
    pub async fn start_placed(placement: EtcdPlacement) -> io::Result<EtcdServer> {
        EtcdServer::start_with(None, placement).await
    }

    /// As [`EtcdServer::start`], serving clients over TLS only and
    /// requiring client certificates signed by `files.trusted_ca`.
    pub async fn start_tls(files: EtcdTlsFiles) -> io::Result<EtcdServer> {
        EtcdServer::start_with(Some(files), EtcdPlacement::default()).await
    }

    async fn start_with(
        tls: Option<EtcdTlsFiles>,
        placement: EtcdPlacement,
    ) -> io::Result<EtcdServer> {
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let data_dir = fast_temp_dir()?;
            let (client_port, peer_port) = (free_port()?, free_port()?);
            let mut server = EtcdServer {
                child: None,
                data_dir,
                client_port,
                peer_port,
                tls: tls.clone(),
                placement: placement.clone(),
            };
            match server.launch_and_wait().await {
                Ok(()) => return Ok(server),
                Err(error) => {
                    tracing::warn!(%error, client_port, peer_port, "etcd failed to start; retrying on new ports");
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("etcd did not start")))
    }

    /// `host:port` of the client endpoint.
    pub fn endpoints(&self) -> Vec<String> {
        vec![format!("{}:{}", self.placement.host, self.client_port)]
    }

    /// `etcd://host:port[/prefix]`.
    pub fn url(&self, prefix: Option<&str>) -> MetadataUrl {
        MetadataUrl::Etcd {
            endpoints: self.endpoints(),
            prefix: prefix.map(str::to_string),
        }
    }

    /// A store client under `prefix`; over TLS with the test client
    /// certificate when this etcd serves TLS and `options` bring none.
    pub async fn store(
        &self,
        prefix: Option<&str>,
        mut options: EtcdOptions,
    ) -> crate::store::Result<EtcdStore> {
        if options.tls.is_none() {
            options.tls = self.client_tls();
        }
        EtcdStore::connect(&self.endpoints(), prefix, options).await
    }

    /// The TLS settings of a client of this etcd (`None` for plain text).
    pub fn client_tls(&self) -> Option<GrpcClientTls> {
        let files = self.tls.as_ref()?;
        match files.client_tls() {
            Ok(tls) => Some(tls),
            Err(error) => {
                tracing::warn!(%error, "etcd test client TLS files unusable");
                None
            }
        }
    }

    /// The process id of the running etcd (to pause it, say).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills etcd, keeping its data and ports for [`EtcdServer::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd again on the same data directory and ports.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.launch_and_wait().await
    }

    async fn launch_and_wait(&mut self) -> io::Result<()> {
        let binary = std::env::var("ETCD_BIN").unwrap_or_else(|_| "etcd".to_string());
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let host = self.placement.host;
        let client_url = format!("{scheme}://{host}:{}", self.client_port);
        let peer_url = format!("http://{host}:{}", self.peer_port);
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.data_dir.path().join("etcd.log"))?;
        let mut command = match self.placement.launcher.split_first() {
            Some((launcher, launcher_args)) => {
                let mut command = Command::new(launcher);
                command.args(launcher_args).arg(&binary);
                command
            }
            None => Command::new(&binary),
        };
        if let Some(files) = &self.tls {
            command
                .arg(format!("--cert-file={}", files.server_cert.display()))
                .arg(format!("--key-file={}", files.server_key.display()))
                .arg(format!("--trusted-ca-file={}", files.trusted_ca.display()))
                .arg("--client-cert-auth");
        }
        let child = command
            .arg("--name=test")
            .arg(format!(
                "--data-dir={}",
                self.data_dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=test={peer_url}"))
            .arg("--initial-cluster-state=new")
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|error| io::Error::new(error.kind(), format!("spawn {binary}: {error}")))?;
        self.child = Some(child);
        let result = self.wait_until_healthy().await;
        if result.is_err() {
            self.stop();
        }
        result
    }

    async fn wait_until_healthy(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        let options = EtcdOptions {
            operation_timeout: Duration::from_millis(500),
            ..EtcdOptions::default()
        };
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    return Err(io::Error::other(format!(
                        "etcd exited during startup with {status}"
                    )));
                }
            }
            if let Ok(store) = self.store(None, options.clone()).await {
                if store.current_revision().await.is_ok() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "etcd did not become healthy in time",
        ))
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A temporary directory, in memory-backed storage when the system has it,
/// so etcd's fsyncs do not dominate test time.
fn fast_temp_dir() -> io::Result<TempDir> {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new()
            .prefix("magnetar-etcd-")
            .tempdir_in(shm)
        {
            return Ok(dir);
        }
    }
    tempfile::Builder::new().prefix("magnetar-etcd-").tempdir()
}
