//! `magnetar perf disk`: the raw-disk baseline the other benchmarks are
//! compared with. It appends `--size`-byte blocks to a file in `--dir` and
//! calls fdatasync after each one, reporting the rate, bandwidth and fdatasync
//! latency percentiles; this is the floor under every durable acknowledgement.
//! With `--preallocated-mib` it overwrites a zero-filled file instead, the
//! pattern of a journal that preallocates its files.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

use crate::args::PerfDiskArgs;

pub fn run(args: PerfDiskArgs) -> Result<()> {
    std::fs::create_dir_all(&args.dir).with_context(|| format!("create {}", args.dir.display()))?;
    let path = args
        .dir
        .join(format!("magnetar-perf-disk-{}.tmp", std::process::id()));
    let result = measure(&path, &args);
    let _ = std::fs::remove_file(&path);
    result
}

fn measure(path: &std::path::Path, args: &PerfDiskArgs) -> Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    let block = vec![0xa5u8; args.size.max(1)];
    let preallocated = zero_fill(&mut file, args.preallocated_mib)?;
    let mut offset = 0u64;
    let mut latency =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).context("create histogram")?;
    let (mut writes, mut bytes) = (0u64, 0u64);
    let start = Instant::now();
    let end = start + Duration::from_secs(args.duration);
    let mut next_report = start + Duration::from_secs(1);
    let mut last_writes = 0;
    while Instant::now() < end {
        if preallocated == 0 {
            file.write_all(&block).context("write block")?;
        } else {
            if offset + block.len() as u64 > preallocated {
                offset = 0;
            }
            file.write_all_at(&block, offset).context("write block")?;
            offset += block.len() as u64;
        }
        let t0 = Instant::now();
        file.sync_data().context("fdatasync")?;
        latency.saturating_record((t0.elapsed().as_micros() as u64).max(1));
        writes += 1;
        bytes += block.len() as u64;
        if Instant::now() >= next_report {
            println!("disk: {} fdatasync/s", writes - last_writes);
            last_writes = writes;
            next_report += Duration::from_secs(1);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "disk summary: {} writes of {} B with fdatasync in {secs:.1} s = {:.0} ops/s, {:.1} MB/s; fdatasync ms p50 {:.3} p99 {:.3} p99.9 {:.3}",
        writes,
        block.len(),
        writes as f64 / secs,
        bytes as f64 / secs / 1e6,
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.value_at_quantile(0.999) as f64 / 1000.0,
    );
    Ok(())
}

/// Fills `file` with `mib` MiB of zeros and syncs it (nothing for 0);
/// returns its length.
fn zero_fill(file: &mut File, mib: u64) -> Result<u64> {
    if mib == 0 {
        return Ok(0);
    }
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..mib {
        file.write_all(&chunk).context("zero-fill")?;
    }
    file.sync_all().context("sync the zero-filled file")?;
    Ok(mib << 20)
}
