//! [`BookieConfig`]: every setting of a bookie, with documented defaults.
//!
//! The CLI maps its flags onto this struct; tests build it with
//! [`BookieConfig::for_dir`] and shrink the intervals they care about.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use magnetar_proto::bookie::ADD_BATCH_CLOSE_BYTES;

/// Largest entry payload a client may send (5 MiB, Pulsar's default max
/// message size).
pub const DEFAULT_MAX_PAYLOAD: usize = 5 * 1024 * 1024;
/// Slack on top of the payload for the entry frame and batching headers.
pub const ENTRY_SIZE_SLACK: usize = 64 * 1024;

/// Settings of one bookie.
#[derive(Debug, Clone)]
pub struct BookieConfig {
    /// Root of everything this bookie stores: `current/VERSION` (cookie),
    /// `journal/`, `entrylogs/`, `index/` (RocksDB), `checkpoint`.
    pub data_dir: PathBuf,
    /// Address the gRPC server binds (when not given a pre-bound listener).
    /// Default `127.0.0.1:3181`.
    pub listen: SocketAddr,
    /// Address clients should use; also the bookie id (`host:port`).
    /// Default: the bound address.
    pub advertised_address: Option<String>,
    /// fsync the journal before acknowledging an add. Default `true`.
    /// `false` is an explicit unsafe mode: acks may be lost on power failure.
    pub journal_sync: bool,
    /// Longest time the oldest record of a group waits for its fsync while
    /// the queue keeps delivering records. Default 2 ms. (When the queue runs
    /// empty the group is synced immediately: flush-when-idle.)
    pub journal_max_group_wait: Duration,
    /// A group is synced once it holds this many bytes. Default 512 KiB.
    pub journal_buffered_bytes_threshold: usize,
    /// Capacity of the journal's request queue (the backpressure bound).
    /// Default 10 000.
    pub journal_queue_size: usize,
    /// A journal file rolls over at this size. Default 64 MiB.
    pub journal_max_file_size: u64,
    /// Zero-fill journal files ahead of the writer, so that journal fsyncs
    /// overwrite allocated blocks rather than grow the file. Default `true`.
    pub journal_preallocate: bool,
    /// An entry log rolls over at this size. Default 1 GiB.
    pub entry_log_max_file_size: u64,
    /// The write cache is flushed to entry logs this often. Default 5 s.
    pub flush_interval: Duration,
    /// A flush starts early when the write cache's active half holds this
    /// many bytes; adds wait while both halves (the active one and the one
    /// being flushed) hold twice this. Default 64 MiB.
    pub write_cache_max_bytes: usize,
    /// Longest an add waits for room in a full write cache before it is
    /// refused as too many requests. Default 10 s.
    pub write_cache_max_throttle: Duration,
    /// Memory of the RocksDB index: memtables and block cache. Default
    /// 32 MiB and 16 MiB.
    pub index_memory: IndexMemory,
    /// Largest accepted entry body (frame included). Default 5 MiB + 64 KiB.
    pub max_entry_size: usize,
    /// How often disk usage is checked. Default 10 s.
    pub disk_check_interval: Duration,
    /// Above this used fraction the bookie goes read-only. Default 0.95.
    pub disk_usage_threshold: f64,
    /// Below this used fraction a read-only bookie becomes writable again.
    /// Default 0.90.
    pub disk_usage_low_water_mark: f64,
    /// How often garbage collection runs. Default 15 min.
    pub gc_interval: Duration,
    /// Entry logs whose live fraction is below this are compacted. Default 0.5.
    pub compaction_threshold: f64,
    /// Time-to-live of the metadata session holding the registration.
    /// Default 30 s.
    pub session_ttl: Duration,
}

/// How much memory the index may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexMemory {
    /// Memtables of all column families together: when they reach this,
    /// RocksDB flushes the largest.
    pub memtable_bytes: usize,
    /// The block cache of reads.
    pub block_cache_bytes: usize,
}

impl Default for IndexMemory {
    /// 32 MiB of memtables and 16 MiB of block cache.
    fn default() -> Self {
        IndexMemory {
            memtable_bytes: 32 << 20,
            block_cache_bytes: 16 << 20,
        }
    }
}

impl BookieConfig {
    /// Defaults for a bookie storing under `data_dir`.
    pub fn for_dir(data_dir: impl Into<PathBuf>) -> Self {
        BookieConfig {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 3181)),
            advertised_address: None,
            journal_sync: true,
            journal_max_group_wait: Duration::from_millis(2),
            journal_buffered_bytes_threshold: 512 * 1024,
            journal_queue_size: 10_000,
            journal_max_file_size: 64 * 1024 * 1024,
            journal_preallocate: true,
            entry_log_max_file_size: 1024 * 1024 * 1024,
            flush_interval: Duration::from_secs(5),
            write_cache_max_bytes: 64 * 1024 * 1024,
            write_cache_max_throttle: Duration::from_secs(10),
            index_memory: IndexMemory::default(),
            max_entry_size: DEFAULT_MAX_PAYLOAD + ENTRY_SIZE_SLACK,
            disk_check_interval: Duration::from_secs(10),
            disk_usage_threshold: 0.95,
            disk_usage_low_water_mark: 0.90,
            gc_interval: Duration::from_secs(15 * 60),
            compaction_threshold: 0.5,
            session_ttl: Duration::from_secs(30),
        }
    }

    /// Largest gRPC message the server accepts: an add batch, that is up to
    /// [`ADD_BATCH_CLOSE_BYTES`] of bodies plus one largest entry, plus the
    /// requests' own fields (about 60 bytes for each of up to 1,024 adds).
    pub fn max_grpc_message_size(&self) -> usize {
        ADD_BATCH_CLOSE_BYTES + self.max_entry_size + 2 * ENTRY_SIZE_SLACK
    }

    pub(crate) fn journal_dir(&self) -> PathBuf {
        self.data_dir.join("journal")
    }

    pub(crate) fn entry_log_dir(&self) -> PathBuf {
        self.data_dir.join("entrylogs")
    }

    pub(crate) fn index_dir(&self) -> PathBuf {
        self.data_dir.join("index")
    }

    pub(crate) fn checkpoint_path(&self) -> PathBuf {
        self.data_dir.join("checkpoint")
    }

    pub(crate) fn cookie_path(&self) -> PathBuf {
        self.data_dir.join("current").join("VERSION")
    }
}
