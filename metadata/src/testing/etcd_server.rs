//! [`EtcdServer`]: a real single-node `etcd` process for tests.
//!
//! It listens on 127.0.0.1 with client and peer ports picked by binding port
//! 0 and releasing it (retrying if another process grabs a port first),
//! keeps its data in a temporary directory, and is killed on drop. `stop`
//! and `restart` (same data and ports) let tests exercise reconnects.

use std::fs::File;
use std::io;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
}

impl EtcdServer {
    /// Starts etcd (binary `etcd` on the PATH, or `$ETCD_BIN`) and waits
    /// until it serves requests.
    pub async fn start() -> io::Result<EtcdServer> {
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let data_dir = fast_temp_dir()?;
            let (client_port, peer_port) = (free_port()?, free_port()?);
            let mut server = EtcdServer {
                child: None,
                data_dir,
                client_port,
                peer_port,
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
        vec![format!("127.0.0.1:{}", self.client_port)]
    }

    /// `etcd://127.0.0.1:port[/prefix]`.
    pub fn url(&self, prefix: Option<&str>) -> MetadataUrl {
        MetadataUrl::Etcd {
            endpoints: self.endpoints(),
            prefix: prefix.map(str::to_string),
        }
    }

    /// A store client under `prefix`.
    pub async fn store(
        &self,
        prefix: Option<&str>,
        options: EtcdOptions,
    ) -> crate::store::Result<EtcdStore> {
        EtcdStore::connect(&self.endpoints(), prefix, options).await
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
        let client_url = format!("http://127.0.0.1:{}", self.client_port);
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.data_dir.path().join("etcd.log"))?;
        let child = Command::new(&binary)
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
            if let Ok(store) = self.store(None, options).await {
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
