//! An unreachable metadata store: a `magnetar broker` and a `magnetar
//! bookie` on a real etcd stay up while etcd is down, the broker reports
//! unhealthy on `GET /health`, and both serve produce and consume again
//! once etcd is back.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use magnetar_metadata::testing::EtcdServer;
use magnetar_tests::process::MagnetarProcess;
use magnetar_tests::python::run_python;

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Status code of `GET /health`, or `None` when the request failed.
fn health_status(http_addr: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(http_addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(format!("GET /health HTTP/1.0\r\nHost: {http_addr}\r\n\r\n").as_bytes())
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// Polls `/health` until it returns `expected`, for at most `limit`.
fn wait_for_health(http_addr: &str, expected: u16, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut last = None;
    while Instant::now() < deadline {
        last = health_status(http_addr);
        if last == Some(expected) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "/health did not return {expected} within {limit:?}; last: {last:?}"
    ))
}

fn produce_and_consume(pulsar_url: &str, topic: &str) -> serde_json::Value {
    let out = run_python(
        "produce_consume.py",
        &[pulsar_url, topic, "200", "on", "none"],
        Duration::from_secs(120),
    )
    .expect("produce and consume succeed");
    let line = out
        .lines()
        .rfind(|l| l.starts_with('{'))
        .expect("script printed a JSON result");
    serde_json::from_str(line).expect("result is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_and_bookie_ride_out_an_etcd_outage() {
    let mut etcd = EtcdServer::start().await.expect("start etcd");
    let url = format!("etcd://{}", etcd.endpoints().join(","));
    let bookie_dir = tempfile::tempdir().unwrap();
    let mut bookie = MagnetarProcess::start(
        &[
            "bookie",
            "--metadata",
            &url,
            "--data-dir",
            bookie_dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        START_TIMEOUT,
    )
    .expect("bookie starts");
    let mut broker = MagnetarProcess::start(
        &[
            "broker",
            "--metadata",
            &url,
            "--bind",
            "127.0.0.1",
            "--pulsar-port",
            "0",
            "--http-port",
            "0",
            "--ensemble-size",
            "1",
            "--write-quorum",
            "1",
            "--ack-quorum",
            "1",
        ],
        START_TIMEOUT,
    )
    .expect("broker starts");
    let http = broker.ready.addr("http").unwrap().to_string();
    let pulsar = broker.pulsar_url().unwrap();

    wait_for_health(&http, 200, Duration::from_secs(10)).unwrap();
    let before = produce_and_consume(&pulsar, "before-outage");
    assert_eq!(before["consumed"], 200, "{before}");

    etcd.stop();
    wait_for_health(&http, 503, Duration::from_secs(20)).unwrap();
    // Unhealthy, not gone: both processes keep running through the outage.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(broker.is_alive(), "broker exited while etcd was down");
    assert!(bookie.is_alive(), "bookie exited while etcd was down");
    assert_eq!(health_status(&http), Some(503));

    etcd.restart().await.expect("restart etcd");
    wait_for_health(&http, 200, Duration::from_secs(60)).unwrap();
    assert!(bookie.is_alive(), "bookie exited after etcd returned");
    let after = produce_and_consume(&pulsar, "after-outage");
    assert_eq!(after["consumed"], 200, "{after}");
}
