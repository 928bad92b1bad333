//! A storage-only bookie for crash tests: `bookie_crash_target <data-dir>`.
//!
//! Serves on an ephemeral port, prints `listening <addr>` once ready and
//! runs until killed. Checkpoints run every 100 ms and files roll at 1 MiB,
//! so a SIGKILL lands in every phase of the write path sooner or later.

use std::time::Duration;

use magnetar_bookie::node::{RunningBookie, StartOptions};
use magnetar_bookie::server::BookieConfig;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data_dir = std::env::args()
        .nth(1)
        .ok_or("usage: bookie_crash_target <data-dir>")?;
    let mut config = BookieConfig::for_dir(data_dir);
    config.flush_interval = Duration::from_millis(100);
    config.journal_max_file_size = 1 << 20;
    config.entry_log_max_file_size = 1 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let bookie = RunningBookie::start(config, listener, StartOptions::storage_only()).await?;
    println!("listening {}", bookie.local_addr());
    std::future::pending::<()>().await;
    Ok(())
}
