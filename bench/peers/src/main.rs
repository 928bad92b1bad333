//! `peer-load`: drives the brokers Magnetar is compared with (NATS JetStream
//! with file storage, Redis streams) through their own Rust clients, with the
//! workloads of `magnetar perf` and its summary lines, so that
//! `scripts/bench peers` reads every broker's figures the same way.
//!
//! Workloads (1 KiB payloads by default):
//! - `produce`: as fast as the broker confirms, at most `--window` sends
//!   without a confirmation; latency from the send to its confirmation.
//! - `produce --rate R`: paced; latency counted from each message's intended
//!   send time (start + i / R), so a stalled client or broker cannot hide the
//!   messages it delayed.
//! - `e2e --rate R`: the paced producer with a consumer beside it; latency
//!   from the intended send time, stamped in the payload, to its receipt.
//!
//! Every payload starts with its intended send time in microseconds since the
//! Unix epoch (big-endian), the stamp `magnetar perf` writes.

mod nats;
mod redis_streams;
mod report;
mod target;
mod workload;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(about = "Load for the peer brokers of `scripts/bench peers`")]
struct Args {
    /// Which broker.
    #[arg(long, value_enum)]
    target: TargetKind,
    /// Where it listens, `host:port`.
    #[arg(long)]
    addr: String,
    /// Payload size in bytes (at least 16).
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// How long to produce, in seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Most sends without a confirmation.
    #[arg(long, default_value_t = 1000)]
    window: usize,
    /// Messages per second (0: as fast as confirmed).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// The stream to create (and delete after the run).
    #[arg(long, default_value = "peer-load")]
    stream: String,
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Subcommand, Clone, Copy)]
enum Workload {
    /// Produce only.
    Produce,
    /// Produce and consume at once; end-to-end latency.
    E2e,
}

#[derive(ValueEnum, Clone, Copy)]
enum TargetKind {
    Nats,
    Redis,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.size >= 16, "--size must be at least 16 bytes");
    let target: Box<dyn target::Target> = match args.target {
        TargetKind::Nats => Box::new(nats::Nats::connect(&args.addr, &args.stream).await?),
        TargetKind::Redis => {
            Box::new(redis_streams::RedisStreams::connect(&args.addr, &args.stream).await?)
        }
    };
    let plan = workload::Plan {
        size: args.size,
        duration: std::time::Duration::from_secs(args.duration),
        window: args.window.max(1),
        rate: args.rate,
    };
    let outcome = match args.workload {
        Workload::Produce => workload::produce(target.as_ref(), &plan).await,
        Workload::E2e => workload::end_to_end(target.as_ref(), &plan).await,
    };
    target.remove().await?;
    outcome
}
