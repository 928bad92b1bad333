//! The memory budget holds under load. A standalone with the default budget
//! (256 MiB) takes an unlimited batched produce of 1 KiB messages for 20 s
//! (`MAGNETAR_MEMORY_TEST_SECS=60` for a minute) while a slow consumer (the
//! official Python client, 500 msg/s) leaves a growing backlog behind it.
//! The pools fill within the first second, so 20 s show the steady state;
//! the default is short because the retained backlog takes disk at the
//! produce rate, about 9 GB in 20 s here. Its resident
//! memory, read from `/proc` four times a second, never passes the budget,
//! and the pools it reports on `/metrics` stay inside their shares. After
//! the load the allocator gives back what the load freed: resident memory
//! falls back near where it was before.

use std::collections::BTreeMap;
use std::fs::File;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use magnetar_tests::http::http_get;
use magnetar_tests::{magnetar_bin, run_python_json, Standalone};

const BUDGET_MB: u64 = 256;
const MIB: u64 = 1 << 20;

/// Resident memory of `pid`, in bytes (`VmRSS` of `/proc/PID/status`).
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The unlabelled gauges of a `/metrics` scrape, by name.
fn gauges(addr: &str) -> BTreeMap<String, u64> {
    let Ok(response) = http_get(addr, "/metrics") else {
        return BTreeMap::new();
    };
    response
        .body
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.split_once(' ')?;
            Some((name.to_string(), value.trim().parse::<f64>().ok()? as u64))
        })
        .collect()
}

/// The largest of each sampled figure while the load ran.
#[derive(Debug, Default)]
struct Peaks {
    resident: u64,
    write_cache: u64,
    entry_cache: u64,
    index: u64,
    samples: u32,
}

fn sample_until(pid: u32, http: String, stop: Arc<AtomicBool>) -> Peaks {
    let mut peaks = Peaks::default();
    let mut last_scrape = Instant::now() - Duration::from_secs(60);
    while !stop.load(Ordering::Relaxed) {
        if let Some(resident) = resident_bytes(pid) {
            peaks.resident = peaks.resident.max(resident);
            peaks.samples += 1;
        }
        if last_scrape.elapsed() >= Duration::from_secs(1) {
            last_scrape = Instant::now();
            let gauges = gauges(&http);
            let get = |name: &str| gauges.get(name).copied().unwrap_or(0);
            peaks.write_cache = peaks
                .write_cache
                .max(get("magnetar_bookie_write_cache_bytes"));
            peaks.entry_cache = peaks
                .entry_cache
                .max(get("magnetar_broker_entry_cache_bytes"));
            peaks.index = peaks.index.max(get("magnetar_bookie_index_memory_bytes"));
        }
        thread::sleep(Duration::from_millis(250));
    }
    peaks
}

#[test]
fn resident_memory_stays_under_the_budget_through_a_long_unlimited_produce() {
    let seconds: u64 = std::env::var("MAGNETAR_MEMORY_TEST_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let budget = BUDGET_MB * MIB;
    // The backlog takes disk at the produce rate; a bookie that goes
    // read-only at the usual 95 % would end the run on a machine whose disk
    // is mostly build output, which is not what this test is about.
    let budget_mb = BUDGET_MB.to_string();
    let standalone = Standalone::start_with(&[
        "--memory-budget-mb",
        &budget_mb,
        "--disk-usage-threshold",
        "0.99",
    ])
    .expect("start standalone");
    let pid = standalone.process.pid().expect("standalone pid");
    let url = standalone.pulsar_url().unwrap();
    let http = standalone.process.ready.addr("http").unwrap().to_string();
    let topic = "persistent://public/default/memory-budget";

    // The subscription exists before the load, so the backlog builds.
    let consumer = {
        let url = url.clone();
        let secs = seconds.to_string();
        thread::spawn(move || {
            run_python_json(
                "slow_consumer.py",
                &[&url, topic, "slow", &secs, "500"],
                Duration::from_secs(seconds + 120),
            )
        })
    };
    thread::sleep(Duration::from_secs(3));
    let idle = resident_bytes(pid).expect("read the standalone's RSS");

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (http, stop) = (http.clone(), stop.clone());
        thread::spawn(move || sample_until(pid, http, stop))
    };
    let produce_log = tempfile::NamedTempFile::new().unwrap();
    let produced = Command::new(magnetar_bin())
        .args(["perf", "produce", "--url", &url, "--batching", "true"])
        .args(["--duration", &seconds.to_string(), topic])
        .stdout(File::create(produce_log.path()).unwrap())
        .stderr(Stdio::null())
        .status()
        .expect("run perf produce");
    let consumed = consumer.join().unwrap().expect("the slow consumer");
    stop.store(true, Ordering::Relaxed);
    let peaks = sampler.join().unwrap();
    let produce_output = std::fs::read_to_string(produce_log.path()).unwrap();
    let summary = produce_output
        .lines()
        .find(|line| line.contains("summary"))
        .unwrap_or_default()
        .to_string();
    eprintln!(
        "idle {} MiB; peaks {peaks:?} (MiB: resident {}, write cache {}, entry cache {}, \
         index {}); {summary}; consumer {consumed}",
        idle / MIB,
        peaks.resident / MIB,
        peaks.write_cache / MIB,
        peaks.entry_cache / MIB,
        peaks.index / MIB,
    );
    assert!(produced.success(), "perf produce failed:\n{produce_output}");
    assert!(summary.contains("msgs"), "no summary:\n{produce_output}");
    assert!(peaks.samples as u64 >= seconds * 2, "{peaks:?}");

    // The pools stay inside their shares (standalone, one bookie: write
    // cache 2 × B/8 plus one add batch of 1 MiB, entry cache B/8, index
    // B/16 + B/32 plus RocksDB's arena rounding).
    assert!(peaks.write_cache <= budget / 4 + 2 * MIB, "{peaks:?}");
    assert!(peaks.entry_cache <= budget / 8, "{peaks:?}");
    assert!(
        peaks.index <= budget / 16 + budget / 32 + 8 * MIB,
        "{peaks:?}"
    );
    assert!(
        peaks.write_cache > 0,
        "the write cache was never seen in use"
    );
    // The whole process stays under the budget.
    assert!(
        peaks.resident <= budget,
        "resident memory peaked at {} MiB over the {BUDGET_MB} MiB budget",
        peaks.resident / MIB
    );

    // After the load, freed memory goes back to the system.
    let near_idle = idle + 64 * MIB;
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut resident = resident_bytes(pid).unwrap_or(u64::MAX);
    while resident > near_idle && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(500));
        resident = resident_bytes(pid).unwrap_or(u64::MAX);
    }
    assert!(
        resident <= near_idle,
        "resident memory still {} MiB 45 s after the load (idle was {} MiB)",
        resident / MIB,
        idle / MIB
    );
}
