//! Helpers shared by the bookie server's integration tests: starting a
//! bookie on port 0, a gRPC client, and one-call add/read wrappers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use magnetar_bookie::digest::{encode_entry, master_key};
use magnetar_bookie::node::{RunningBookie, StartOptions};
use magnetar_bookie::server::BookieConfig;
use magnetar_proto::bookie::bookie_client::BookieClient;
use magnetar_proto::bookie::{
    AddBatch, AddRequest, AddResponse, ReadRequest, ReadResponse, StatusCode,
};
use tokio::net::TcpListener;
use tonic::transport::Channel;

pub type Client = BookieClient<Channel>;

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("magnetar_bookie=debug")
        .with_test_writer()
        .try_init();
}

/// A config with background work slowed down, so tests decide when
/// checkpoints and GC happen.
pub fn test_config(dir: &Path) -> BookieConfig {
    let mut config = BookieConfig::for_dir(dir);
    config.flush_interval = Duration::from_secs(3600);
    config.gc_interval = Duration::from_secs(3600);
    config.disk_check_interval = Duration::from_millis(20);
    config.session_ttl = Duration::from_secs(5);
    config
}

pub async fn start(config: BookieConfig, options: StartOptions) -> RunningBookie {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    RunningBookie::start(config, listener, options)
        .await
        .unwrap()
}

pub async fn connect(addr: SocketAddr) -> Client {
    BookieClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20)
}

pub fn key(password: &str) -> Bytes {
    master_key(password.as_bytes())
}

/// Deterministic payload of an entry, so reads can be checked byte for byte.
pub fn payload(ledger_id: i64, entry_id: i64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (ledger_id as usize * 31 + entry_id as usize * 7 + i) as u8)
        .collect()
}

pub fn add_request(
    ledger_id: i64,
    entry_id: i64,
    master_key: &Bytes,
    flags: u32,
    data: &[u8],
) -> AddRequest {
    AddRequest {
        request_id: (ledger_id as u64) << 32 | entry_id as u64,
        ledger_id,
        entry_id,
        master_key: master_key.clone(),
        body: encode_entry(ledger_id, entry_id, entry_id - 1, 0, data),
        flags,
    }
}

/// Adds per batch in [`add_all`]: small, so multi-add tests cross batch
/// boundaries.
pub const TEST_BATCH_SIZE: usize = 7;

/// Sends every request on one pipelined stream, in batches of
/// [`TEST_BATCH_SIZE`]; returns the responses ordered by request id.
pub async fn add_all(client: &mut Client, requests: Vec<AddRequest>) -> Vec<AddResponse> {
    let count = requests.len();
    let batches: Vec<AddBatch> = requests
        .chunks(TEST_BATCH_SIZE)
        .map(|adds| AddBatch {
            adds: adds.to_vec(),
        })
        .collect();
    let mut stream = client
        .add_entries(futures::stream::iter(batches))
        .await
        .unwrap()
        .into_inner();
    let mut responses = Vec::with_capacity(count);
    while let Some(batch) = stream.message().await.unwrap() {
        responses.extend(batch.responses);
    }
    assert_eq!(
        responses.len(),
        count,
        "every add gets exactly one response"
    );
    responses.sort_by_key(|r| r.request_id);
    responses
}

pub async fn add_one(client: &mut Client, request: AddRequest) -> AddResponse {
    add_all(client, vec![request]).await.remove(0)
}

pub async fn read(client: &mut Client, ledger_id: i64, entry_id: i64) -> ReadResponse {
    let request = ReadRequest {
        ledger_id,
        entry_id,
        fence: false,
        master_key: Bytes::new(),
    };
    client.read_entry(request).await.unwrap().into_inner()
}

pub fn status(code: i32) -> StatusCode {
    StatusCode::try_from(code).unwrap()
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
pub async fn wait_for(timeout: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}
