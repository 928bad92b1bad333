//! [`RunningBookie`]: starting and stopping a bookie process: cookie check,
//! storage and journal replay, the gRPC server on a (possibly pre-bound)
//! listener, and the background tasks (checkpoints, disk checks,
//! registration, GC, and auto-recovery when configured).
//!
//! Start order: cookie → storage open (journal replay) → first disk check →
//! checkpoint and disk-check loops → registration → GC → auto-recovery →
//! gRPC. The storage engine's parts come from [`crate::server`]; this file
//! only wires them.
//!
//! Shutdown order: stop accepting and drain gRPC → stop background tasks →
//! final checkpoint → release storage (RocksDB lock, journal thread). The
//! bookie is also crash-safe without it: nothing is acked before its fsync.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetar_metadata::MetadataStore;
use magnetar_proto::bookie::bookie_server::BookieServer as BookieGrpcServer;
use magnetar_proto::grpc_tls::GrpcServerTls;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::http::RunningStatus;
use super::registration::Registrar;
use crate::autorecovery::{self, AutoRecoveryConfig};
use crate::metrics::{self, StatusSource};
use crate::server::checkpointer::run_checkpoints;
use crate::server::cookie::verify_or_create_cookie;
use crate::server::disk::{
    check_disk, run_disk_checker, DiskStatus, DiskThresholds, DiskUsageProbe, StatvfsProbe,
};
use crate::server::gc::{run_gc, run_gc_once, GcReport};
use crate::server::record::RECORD_HEADER_LEN;
use crate::server::service::BookieService;
use crate::server::{Bookie, BookieConfig, BookieError, StartError};

/// What a bookie is started with besides its config.
#[derive(Clone)]
pub struct StartOptions {
    /// The metadata store for cookie, registration and GC. `None` runs a
    /// storage-only bookie (no cookie, no registration, no GC) for tests
    /// and tools.
    pub metadata: Option<Arc<dyn MetadataStore>>,
    /// Measures disk usage; [`StatvfsProbe`] by default.
    pub disk_probe: Arc<dyn DiskUsageProbe>,
    /// Run an auditor candidate and a replication worker in this process
    /// (needs a metadata store). Default `None`; `magnetar bookie` turns it
    /// on unless `--autorecovery=false`.
    pub autorecovery: Option<AutoRecoveryConfig>,
    /// Serve gRPC over TLS with these files (`None`: plain text). Ledger
    /// clients then need matching [`crate::client::ClientConfig::tls`].
    pub tls: Option<GrpcServerTls>,
}

impl StartOptions {
    pub fn with_metadata(metadata: Arc<dyn MetadataStore>) -> Self {
        StartOptions {
            metadata: Some(metadata),
            disk_probe: Arc::new(StatvfsProbe),
            autorecovery: None,
            tls: None,
        }
    }

    pub fn storage_only() -> Self {
        StartOptions {
            metadata: None,
            disk_probe: Arc::new(StatvfsProbe),
            autorecovery: None,
            tls: None,
        }
    }

    pub fn disk_probe(mut self, probe: Arc<dyn DiskUsageProbe>) -> Self {
        self.disk_probe = probe;
        self
    }

    /// Runs auto-recovery in this process (`None`: not).
    pub fn autorecovery(mut self, config: Option<AutoRecoveryConfig>) -> Self {
        self.autorecovery = config;
        self
    }

    /// Serves gRPC over TLS (`None`: plain text).
    pub fn tls(mut self, tls: Option<GrpcServerTls>) -> Self {
        self.tls = tls;
        self
    }
}

/// Binds `config.listen`, runs the bookie until `shutdown` resolves, then
/// stops it cleanly.
pub async fn run_bookie(
    config: BookieConfig,
    metadata: Arc<dyn MetadataStore>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let bookie =
        RunningBookie::start(config, listener, StartOptions::with_metadata(metadata)).await?;
    tracing::info!(bookie_id = %bookie.bookie_id(), "bookie running");
    shutdown.await;
    bookie.shutdown().await;
    Ok(())
}

/// A started bookie.
pub struct RunningBookie {
    /// Registered with the process's metrics while the bookie runs.
    status: Arc<dyn StatusSource>,
    bookie: Arc<Bookie>,
    local_addr: SocketAddr,
    bookie_id: String,
    config: BookieConfig,
    metadata: Option<Arc<dyn MetadataStore>>,
    cancel: CancellationToken,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningBookie {
    /// Opens storage (replaying the journal), and serves on `listener`.
    pub async fn start(
        config: BookieConfig,
        listener: TcpListener,
        options: StartOptions,
    ) -> Result<Self, StartError> {
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let bookie_id = config
            .advertised_address
            .clone()
            .unwrap_or_else(|| local_addr.to_string());
        // TLS settings are checked before storage opens, so a bad file
        // fails the start at once rather than after a journal replay.
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = &options.tls {
            server = server
                .tls_config(tls.server_config())
                .map_err(|error| StartError::Config(format!("TLS settings refused: {error}")))?;
        }
        if let Some(metadata) = &options.metadata {
            verify_or_create_cookie(&config, &bookie_id, metadata).await?;
        }
        let open_config = config.clone();
        let bookie = tokio::task::spawn_blocking(move || Bookie::open(&open_config))
            .await
            .map_err(|e| StartError::Config(format!("storage open task failed: {e}")))??;
        let cancel = CancellationToken::new();
        let disk_status = Arc::new(DiskStatus::default());
        let thresholds = DiskThresholds {
            interval: config.disk_check_interval,
            read_only_above: config.disk_usage_threshold,
            writable_below: config.disk_usage_low_water_mark,
        };
        check_disk(
            &bookie,
            options.disk_probe.as_ref(),
            &config.data_dir,
            &thresholds,
            &disk_status,
        );
        let mut tasks = vec![
            tokio::spawn(run_checkpoints(
                bookie.clone(),
                config.clone(),
                cancel.clone(),
            )),
            tokio::spawn(run_disk_checker(
                bookie.clone(),
                options.disk_probe.clone(),
                config.data_dir.clone(),
                thresholds,
                disk_status.clone(),
                cancel.clone(),
            )),
        ];
        if let Some(metadata) = options.metadata.clone() {
            let registrar = Registrar::register(
                metadata.clone(),
                bookie_id.clone(),
                bookie.clone(),
                disk_status.clone(),
                config.session_ttl,
            )
            .await?;
            tasks.push(tokio::spawn(registrar.run(cancel.clone())));
            tasks.push(tokio::spawn(run_gc(
                bookie.clone(),
                metadata.clone(),
                config.clone(),
                cancel.clone(),
            )));
            if let Some(recovery_config) = options.autorecovery.clone() {
                tasks.extend(autorecovery::spawn(
                    metadata,
                    &bookie_id,
                    recovery_config,
                    config.session_ttl,
                    cancel.clone(),
                ));
            }
        }
        let service = BookieService::new(bookie.clone(), bookie_id.clone(), disk_status.clone());
        let max_message = config.max_grpc_message_size();
        let grpc = BookieGrpcServer::new(service)
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message);
        let shutdown = cancel.clone().cancelled_owned();
        let server = tokio::spawn(
            server
                .add_service(grpc)
                // No Nagle: adds are small and latency-bound; a delayed segment
                // costs tens of milliseconds per round trip.
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                    shutdown,
                ),
        );
        tracing::info!(
            bookie_id = %bookie_id,
            addr = %local_addr,
            tls = options.tls.is_some(),
            "bookie serving"
        );
        let status: Arc<dyn StatusSource> = Arc::new(RunningStatus {
            bookie: bookie.clone(),
            disk: disk_status.clone(),
        });
        metrics::register_status(&status);
        Ok(RunningBookie {
            status,
            bookie,
            local_addr,
            bookie_id,
            config,
            metadata: options.metadata,
            cancel,
            server,
            tasks,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn bookie_id(&self) -> &str {
        &self.bookie_id
    }

    /// The bookie's state for `/health` and `/metrics` ([`super::http`]).
    pub fn status(&self) -> Arc<dyn StatusSource> {
        self.status.clone()
    }

    /// The storage engine (for tests and admin tools).
    pub fn bookie(&self) -> &Arc<Bookie> {
        &self.bookie
    }

    /// Runs garbage collection now (it also runs every `gc_interval`).
    /// Needs a metadata store to tell deleted ledgers apart.
    pub async fn run_gc_now(&self) -> Result<GcReport, BookieError> {
        let Some(metadata) = &self.metadata else {
            return Err(BookieError::BadRequest("gc needs a metadata store".into()));
        };
        let max_body_len = self.config.max_entry_size + RECORD_HEADER_LEN;
        run_gc_once(
            &self.bookie,
            metadata.as_ref(),
            self.config.compaction_threshold,
            max_body_len,
        )
        .await
    }

    /// Stops cleanly, with a final checkpoint.
    pub async fn shutdown(self) {
        self.stop(true).await
    }

    /// Stops without a final checkpoint: the next start must replay the
    /// journal (what a crash leaves behind, minus the unflushed page cache).
    pub async fn stop_without_checkpoint(self) {
        self.stop(false).await
    }

    async fn stop(self, checkpoint: bool) {
        let RunningBookie {
            bookie,
            cancel,
            server,
            tasks,
            bookie_id,
            ..
        } = self;
        cancel.cancel();
        match tokio::time::timeout(Duration::from_secs(10), server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => tracing::warn!(error = %err, "grpc server ended with an error"),
            Ok(Err(err)) => tracing::warn!(error = %err, "grpc server task failed"),
            Err(_) => tracing::warn!("grpc server did not drain within 10s"),
        }
        for task in tasks {
            let _ = task.await;
        }
        if checkpoint {
            if let Err(err) = bookie.checkpoint().await {
                tracing::warn!(error = %err, "final checkpoint failed");
            }
        }
        // Wait for in-flight add/read tasks to release the engine so its
        // RocksDB lock and journal thread are gone when this returns.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&bookie) > 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(bookie);
        tracing::info!(bookie_id = %bookie_id, "bookie stopped");
    }
}
