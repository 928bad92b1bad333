//! [`AutoRecoveryConfig`]: the timing of the auditor and the replication
//! worker that run inside a bookie process.

use std::time::Duration;

use magnetar_proto::grpc_tls::GrpcClientTls;

/// Settings of auto-recovery.
#[derive(Debug, Clone)]
pub struct AutoRecoveryConfig {
    /// How long a bookie must stay unregistered before the auditor marks
    /// its ledgers under-replicated. A restarting bookie is back sooner and
    /// costs no copying. Default 30 s.
    pub lost_bookie_recovery_delay: Duration,
    /// How long a spare bookie must be available, without a gap, while an
    /// open ledger's last segment lacks a bookie (lost, or a hole) before a
    /// worker fences and closes the ledger to re-replicate it. Until then
    /// the writer is expected to replace the bookie or fill the hole itself;
    /// without a spare the ledger is never fenced. Default 30 s.
    pub open_ledger_rereplication_grace: Duration,
    /// How often the auditor scans every ledger even without a bookie
    /// disappearing (it also scans when it becomes auditor). Default 1 h.
    pub periodic_check_interval: Duration,
    /// How often a worker retries marked ledgers it could not finish (and
    /// looks for markers it may have missed). Default 5 s.
    pub retry_interval: Duration,
    /// Entries copied concurrently while re-replicating a fragment. Default 64.
    pub copy_parallelism: usize,
    /// TLS of the worker's ledger client towards the other bookies
    /// (`None`: plain text), as the brokers' ledger clients use it.
    pub client_tls: Option<GrpcClientTls>,
}

impl Default for AutoRecoveryConfig {
    fn default() -> Self {
        AutoRecoveryConfig {
            lost_bookie_recovery_delay: Duration::from_secs(30),
            open_ledger_rereplication_grace: Duration::from_secs(30),
            periodic_check_interval: Duration::from_secs(60 * 60),
            retry_interval: Duration::from_secs(5),
            copy_parallelism: 64,
            client_tls: None,
        }
    }
}
