//! Benchmark, not a test (ignored; `scripts/bench metrics` runs it): one
//! broker over in-memory stores with many loaded topics, each with a
//! producer-less subscription and one message, scraped through the admin
//! API. Prints, per topic count and for topic-level and namespace-level
//! series: the scrape's median time over five scrapes, its size, and the
//! process's resident memory before and after loading.
//!
//! `MAGNETAR_BENCH_TOPICS` (default `10000,100000`) sets the counts.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use magnetar_broker::admin::{self, AdminState};
use magnetar_broker::managed_ledger::InitialPosition;
use magnetar_broker::namespace::TopicName;
use magnetar_metadata::MemoryStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Resident memory of this process, from `/proc/self/statm`.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

async fn scrape(addr: std::net::SocketAddr) -> (Duration, usize) {
    let started = Instant::now();
    let (head, body) = common::http_get(addr, "/metrics").await;
    assert!(head.contains(" 200"), "{head}");
    (started.elapsed(), body.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by scripts/bench metrics"]
async fn scrape_time_and_memory_with_many_topics() {
    let counts: Vec<usize> = std::env::var("MAGNETAR_BENCH_TOPICS")
        .unwrap_or_else(|_| "10000,100000".to_string())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    for count in counts {
        let broker = common::start_broker().await;
        let before = rss_bytes();
        let loading = Instant::now();
        for i in 0..count {
            let name = TopicName::parse(&format!("persistent://public/default/scale-{i}")).unwrap();
            let topic = broker.topics().get_or_load(&name).await.unwrap();
            topic
                .ledger()
                .open_cursor("sub", InitialPosition::Earliest)
                .await
                .unwrap();
            topic
                .ledger()
                .add_entry(Bytes::from_static(b"x"))
                .await
                .unwrap();
        }
        let loaded_in = loading.elapsed();
        let after = rss_bytes();
        for topic_level in [true, false] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut state = AdminState::new(
                Arc::new(MemoryStore::new()),
                Arc::clone(broker.factory()),
                "standalone",
            );
            state.topics = Some(Arc::clone(broker.topics()));
            state.topic_level_metrics = topic_level;
            let stop = CancellationToken::new();
            let server = tokio::spawn(admin::serve(
                listener,
                state,
                stop.clone().cancelled_owned(),
            ));
            let mut times = Vec::new();
            let mut size = 0;
            for _ in 0..5 {
                let (took, bytes) = scrape(addr).await;
                times.push(took);
                size = bytes;
            }
            times.sort();
            println!(
                "topics {count}: loaded in {:.1} s, RSS {} MB -> {} MB ({:.1} KB per topic); {} series: scrape median {:.0} ms, {:.1} MB",
                loaded_in.as_secs_f64(),
                before / (1 << 20),
                after / (1 << 20),
                after.saturating_sub(before) as f64 / 1024.0 / count as f64,
                if topic_level { "topic-level" } else { "namespace-level" },
                times[2].as_secs_f64() * 1e3,
                size as f64 / (1 << 20) as f64,
            );
            stop.cancel();
            let _ = server.await;
        }
        broker.topics().close_all().await;
    }
}
