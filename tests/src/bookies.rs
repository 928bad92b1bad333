//! A bookie cluster on loopback: one metadata service (a real etcd, or one
//! the caller started) and `magnetar bookie` processes, each on an
//! ephemeral port with its own data directory.
//!
//! A bookie's id is its advertised `host:port`, and its cookie ties the data
//! directory to that id. The first start binds port 0 and learns the port
//! from the ready line; a restart binds that same port again, so the bookie
//! comes back with the same id and data. Processes are SIGKILLed on drop,
//! bookies before etcd.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use magnetar_metadata::testing::{EtcdPlacement, EtcdServer};
use magnetar_metadata::url::MetadataUrl;
use magnetar_metadata::MetadataStore;
use magnetar_proto::grpc_tls::GrpcClientTls;
use tempfile::TempDir;

use crate::internal_tls::InternalTls;
use crate::lossy_fs::LossyDisk;
use crate::netns::{bind_ip, Host};
use crate::process::MagnetarProcess;
use crate::raft::RaftGroup;
use crate::small_disk::SmallDisk;

/// How long a bookie may take to become ready (includes journal replay).
pub const BOOKIE_START_TIMEOUT: Duration = Duration::from_secs(60);

/// One `magnetar bookie` process and its data directory.
pub struct BookieProcess {
    process: Option<MagnetarProcess>,
    id: String,
    metadata_url: String,
    /// Flags beyond the metadata URL, data directory and ports (TLS).
    extra_args: Vec<String>,
    /// Kept across restarts; deleted on drop (after the process is killed).
    data_dir: TempDir,
    /// The lossy filesystem `data_dir` lives on, if any, so that the
    /// bookie can lose its power; unmounted after `data_dir` is deleted.
    lossy: Option<LossyDisk>,
    /// The small disk `data_dir` (or the lossy filesystem's backing
    /// directory) lives on, if any; unmounted last.
    disk: Option<SmallDisk>,
    /// The network namespace the bookie runs in, restarts included, when
    /// the test has a network ([`crate::netns`]).
    host: Option<Arc<Host>>,
}

impl BookieProcess {
    /// Starts a bookie on port 0 of 127.0.0.1 (or of a namespace of its
    /// own, see [`crate::netns`]) with a fresh data directory.
    pub async fn start(metadata_url: &str) -> Result<BookieProcess> {
        BookieProcess::start_on(metadata_url, None).await
    }

    /// As [`BookieProcess::start`], with the data directory on `disk` when
    /// one is given (a disk a test can fill up).
    pub async fn start_on(metadata_url: &str, disk: Option<SmallDisk>) -> Result<BookieProcess> {
        BookieProcess::start_with(metadata_url, disk, Vec::new()).await
    }

    /// As [`BookieProcess::start_on`], with `extra_args` on every start.
    pub async fn start_with(
        metadata_url: &str,
        disk: Option<SmallDisk>,
        extra_args: Vec<String>,
    ) -> Result<BookieProcess> {
        BookieProcess::start_with_disks(metadata_url, disk, false, extra_args).await
    }

    /// As [`BookieProcess::start_with`]; with `lossy`, the data directory
    /// is on a [`LossyDisk`] (over `disk` when there is one), so that
    /// [`BookieProcess::power_loss`] can drop what it has not fsynced.
    pub async fn start_with_disks(
        metadata_url: &str,
        disk: Option<SmallDisk>,
        lossy: bool,
        extra_args: Vec<String>,
    ) -> Result<BookieProcess> {
        let lossy = if lossy {
            let over = disk.as_ref().map(SmallDisk::path);
            Some(LossyDisk::mount_over(over).context("mount a lossy disk")?)
        } else {
            None
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix("magnetar-bookie-");
        let data_dir = match (&lossy, &disk) {
            (Some(lossy), _) => builder.tempdir_in(lossy.path()),
            (None, Some(disk)) => builder.tempdir_in(disk.path()),
            (None, None) => builder.tempdir(),
        }
        .context("create bookie data dir")?;
        let host = Host::next()?;
        let listen = format!("{}:0", bind_ip(host.as_ref()));
        let process = spawn_bookie(
            metadata_url,
            data_dir.path(),
            &listen,
            &extra_args,
            host.clone(),
        )
        .await?;
        let id = process.ready.addr("grpc")?.to_string();
        Ok(BookieProcess {
            process: Some(process),
            id,
            metadata_url: metadata_url.to_string(),
            extra_args,
            data_dir,
            lossy,
            disk,
            host,
        })
    }

    /// The small disk the data directory lives on, if any.
    pub fn disk(&self) -> Option<&SmallDisk> {
        self.disk.as_ref()
    }

    /// `host:port` of the bookie's HTTP server (`/health`, `/metrics`).
    pub fn http_addr(&self) -> Result<String> {
        let process = self
            .process
            .as_ref()
            .ok_or_else(|| anyhow!("bookie {} is not running", self.id))?;
        Ok(process.ready.addr("http")?.to_string())
    }

    /// The bookie id (`host:port`), which is also its gRPC address.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// SIGKILL: no final checkpoint, no session revoke. Its registration
    /// stays in the metadata store until the session TTL expires.
    pub fn kill9(&mut self) -> Result<()> {
        match self.process.take() {
            Some(mut process) => process.kill9(),
            None => Ok(()),
        }
    }

    /// Power loss: kill -9, then every write to the data directory not
    /// yet fsynced is dropped. Returns how many overwritten bytes were put
    /// back. [`BookieProcess::restart`] brings the bookie back.
    pub fn power_loss(&mut self) -> Result<u64> {
        self.kill9()?;
        self.lossy
            .as_mut()
            .context("the bookie is not on a lossy disk")?
            .power_loss()
    }

    /// SIGSTOP: a zombie that holds its port and its session's lease
    /// until the session TTL expires.
    pub fn pause(&self) -> Result<()> {
        self.process
            .as_ref()
            .context("the bookie is not running")?
            .signal("-STOP")
    }

    /// SIGCONT of a paused bookie.
    pub fn resume(&self) -> Result<()> {
        self.process
            .as_ref()
            .context("the bookie is not running")?
            .signal("-CONT")
    }

    /// Kills the process if it runs, then starts it again on the same port
    /// and data directory (the journal is replayed on start).
    pub async fn restart(&mut self) -> Result<()> {
        self.kill9()?;
        let process = spawn_bookie(
            &self.metadata_url,
            self.data_dir.path(),
            &self.id,
            &self.extra_args,
            self.host.clone(),
        )
        .await?;
        let addr = process.ready.addr("grpc")?;
        if addr != self.id {
            bail!("bookie {} came back as {addr}", self.id);
        }
        self.process = Some(process);
        Ok(())
    }
}

async fn spawn_bookie(
    metadata_url: &str,
    data_dir: &Path,
    listen: &str,
    extra_args: &[String],
    host: Option<Arc<Host>>,
) -> Result<MagnetarProcess> {
    let mut args: Vec<String> = [
        "bookie",
        "--metadata",
        metadata_url,
        "--data-dir",
        &data_dir.to_string_lossy(),
        "--listen",
        listen,
        "--http-port",
        "0",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    args.extend_from_slice(extra_args);
    // Waiting for the ready line blocks; keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        MagnetarProcess::spawn_on(host, &args, None)?.wait_ready(BOOKIE_START_TIMEOUT)
    })
    .await
    .context("bookie start task")?
}

/// What keeps the metadata service of a [`BookieCluster`] alive: its own
/// etcd, or a service the caller started (a Raft group), dropped last.
enum MetadataService {
    Etcd(Box<EtcdServer>),
    External {
        _guard: Box<dyn std::any::Any + Send>,
    },
}

/// A metadata service plus `magnetar bookie` processes registered in it.
pub struct BookieCluster {
    // Declared before `service`: bookies are killed first on drop.
    bookies: Vec<BookieProcess>,
    metadata_url: String,
    /// Flags of every bookie started here beyond the defaults (TLS).
    bookie_args: Vec<String>,
    /// TLS of this harness's own metadata clients (`None`: plain text).
    metadata_tls: Option<GrpcClientTls>,
    service: MetadataService,
    /// The network namespace of the cluster's own etcd, if any.
    _etcd_host: Option<Arc<Host>>,
}

impl BookieCluster {
    /// Starts etcd and `count` bookies (possibly none; see
    /// [`BookieCluster::add_bookie`]). Each bookie prints its ready line
    /// only after it registered, so all of them are writable on return.
    pub async fn start(count: usize) -> Result<BookieCluster> {
        // In a network namespace of its own when the test has a network.
        let host = Host::next()?;
        let placement = match &host {
            Some(host) => EtcdPlacement {
                host: bind_ip(Some(host)),
                launcher: host.launcher(),
            },
            None => EtcdPlacement::default(),
        };
        let etcd = EtcdServer::start_placed(placement)
            .await
            .context("start etcd")?;
        let metadata_url = etcd.url(None).to_string();
        let mut cluster = BookieCluster {
            bookies: Vec::with_capacity(count),
            metadata_url,
            bookie_args: Vec::new(),
            metadata_tls: None,
            service: MetadataService::Etcd(Box::new(etcd)),
            _etcd_host: host,
        };
        for _ in 0..count {
            cluster.add_bookie().await?;
        }
        Ok(cluster)
    }

    /// As [`BookieCluster::start`] with every link on TLS: etcd serves
    /// mutual TLS only, and each bookie serves gRPC over TLS, requires a
    /// client certificate, and reaches etcd and the other bookies over TLS.
    pub async fn start_tls(count: usize, tls: &InternalTls) -> Result<BookieCluster> {
        let etcd = EtcdServer::start_tls(tls.etcd_files())
            .await
            .context("start etcd on TLS")?;
        let mut cluster = BookieCluster {
            bookies: Vec::with_capacity(count),
            metadata_url: etcd.url(None).to_string(),
            bookie_args: tls.bookie_args(),
            metadata_tls: etcd.client_tls(),
            service: MetadataService::Etcd(Box::new(etcd)),
            _etcd_host: None,
        };
        cluster.add_bookies(count).await?;
        Ok(cluster)
    }

    /// A cluster without bookies on a metadata service the caller started
    /// (`url`, e.g. `raft://…`); `guard` keeps that service running and is
    /// dropped after the bookies.
    pub fn with_metadata(url: &str, guard: impl std::any::Any + Send) -> BookieCluster {
        BookieCluster {
            bookies: Vec::new(),
            metadata_url: url.to_string(),
            bookie_args: Vec::new(),
            metadata_tls: None,
            service: MetadataService::External {
                _guard: Box::new(guard),
            },
            _etcd_host: None,
        }
    }

    /// Starts one more bookie on a small disk of `size_mb` (when given),
    /// and on a lossy disk (with `lossy`), and returns its id.
    pub async fn add_bookie_on_disks(
        &mut self,
        size_mb: Option<u64>,
        lossy: bool,
    ) -> Result<String> {
        let disk = size_mb.map(SmallDisk::mount).transpose()?;
        let bookie = BookieProcess::start_with_disks(
            &self.metadata_url,
            disk,
            lossy,
            self.bookie_args.clone(),
        )
        .await?;
        let id = bookie.id().to_string();
        self.bookies.push(bookie);
        Ok(id)
    }

    /// Starts one more bookie and returns its id.
    pub async fn add_bookie(&mut self) -> Result<String> {
        let bookie =
            BookieProcess::start_with(&self.metadata_url, None, self.bookie_args.clone()).await?;
        let id = bookie.id().to_string();
        self.bookies.push(bookie);
        Ok(id)
    }

    /// Starts `count` more bookies at the same time and returns their ids.
    pub async fn add_bookies(&mut self, count: usize) -> Result<Vec<String>> {
        let mut starting = tokio::task::JoinSet::new();
        for _ in 0..count {
            let url = self.metadata_url.clone();
            let args = self.bookie_args.clone();
            starting.spawn(async move { BookieProcess::start_with(&url, None, args).await });
        }
        let mut ids = Vec::with_capacity(count);
        while let Some(started) = starting.join_next().await {
            let bookie = started.context("bookie start task")??;
            ids.push(bookie.id().to_string());
            self.bookies.push(bookie);
        }
        Ok(ids)
    }

    /// The URL the bookies were started with (`etcd://host:port` for a
    /// cluster with its own etcd).
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The etcd of a cluster started with [`BookieCluster::start`].
    pub fn etcd(&self) -> Option<&EtcdServer> {
        match &self.service {
            MetadataService::Etcd(etcd) => Some(etcd),
            MetadataService::External { .. } => None,
        }
    }

    /// As [`BookieCluster::etcd`], to stop, restart or pause it.
    pub fn etcd_mut(&mut self) -> Option<&mut EtcdServer> {
        match &mut self.service {
            MetadataService::Etcd(etcd) => Some(etcd),
            MetadataService::External { .. } => None,
        }
    }

    /// The Raft group a cluster was built on with
    /// [`BookieCluster::with_metadata`], to kill, restart or pause a node.
    pub fn raft_mut(&mut self) -> Option<&mut RaftGroup> {
        match &mut self.service {
            MetadataService::External { _guard } => _guard.downcast_mut::<RaftGroup>(),
            MetadataService::Etcd(_) => None,
        }
    }

    /// A new metadata client on the cluster's metadata service.
    pub async fn metadata(&self) -> Result<Arc<dyn MetadataStore>> {
        let url = MetadataUrl::parse(&self.metadata_url)
            .with_context(|| format!("parse {}", self.metadata_url))?;
        magnetar_metadata::url::connect_with_tls(&url, self.metadata_tls.clone())
            .await
            .with_context(|| format!("connect to {url}"))
    }

    pub fn bookies(&self) -> &[BookieProcess] {
        &self.bookies
    }

    /// The bookie with id `id`.
    pub fn bookie_mut(&mut self, id: &str) -> Result<&mut BookieProcess> {
        self.bookies
            .iter_mut()
            .find(|bookie| bookie.id() == id)
            .ok_or_else(|| anyhow!("no bookie {id} in this cluster"))
    }

    /// Ids of every bookie, running or not.
    pub fn ids(&self) -> Vec<String> {
        self.bookies.iter().map(|b| b.id().to_string()).collect()
    }
}

/// Makes the bookie processes this test starts run auto-recovery with
/// short timings (they inherit the environment; nextest runs each test in
/// its own process, so no other test sees them).
pub fn set_recovery_timings(session_ttl_ms: u64, recovery_delay_ms: u64, open_grace_ms: u64) {
    std::env::set_var("MAGNETAR_AUTORECOVERY", "true");
    std::env::set_var("MAGNETAR_SESSION_TTL_MS", session_ttl_ms.to_string());
    std::env::set_var(
        "MAGNETAR_LOST_BOOKIE_RECOVERY_DELAY_MS",
        recovery_delay_ms.to_string(),
    );
    std::env::set_var(
        "MAGNETAR_OPEN_LEDGER_REREPLICATION_GRACE_MS",
        open_grace_ms.to_string(),
    );
}
