//! Topic lists for pattern subscriptions over raw frames:
//! GET_TOPICS_OF_NAMESPACE filtered by pattern with the list hash, and
//! topic-list watchers (WATCH_TOPIC_LIST): the first list, updates when a
//! matching topic is created or deleted, close, refusals, and no metadata
//! watch left behind once a watcher or its connection ends.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use common::*;
use futures::StreamExt;
use magnetar_bookie::testing::MemoryLedgerStore;
use magnetar_broker::namespace::TopicName;
use magnetar_broker::{BrokerService, BrokerServiceConfig, BrokerServiceHandle};
use magnetar_metadata::{
    Expected, ListPage, MemoryStore, MetadataStore, PutOptions, Result, SessionId, Version,
    Versioned, WatchStream, WatchTarget,
};
use magnetar_proto::pulsar::api::command_get_topics_of_namespace::Mode;
use magnetar_proto::pulsar::api::*;
use tokio::net::TcpListener;

const NS: &str = "public/default";
const PATTERN: &str = "persistent://public/default/pat-.*";
/// How long a test waits to be sure nothing comes.
const QUIET: Duration = Duration::from_millis(500);

fn full(local: &str) -> String {
    format!("persistent://{NS}/{local}")
}

/// The topics hash computed here, independently of the broker: CRC32C of
/// the sorted names joined with ",", its bytes little-endian in hex.
fn hash_of(topics: &[String]) -> String {
    let mut sorted = topics.to_vec();
    sorted.sort();
    let crc = crc32c::crc32c(sorted.join(",").as_bytes());
    crc.to_le_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A memory store that counts the watch streams open on it.
struct CountingStore {
    inner: MemoryStore,
    open_watches: Arc<AtomicUsize>,
}

struct OpenWatch(Arc<AtomicUsize>);

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl MetadataStore for CountingStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: Bytes, options: PutOptions) -> Result<Version> {
        self.inner.put(key, value, options).await
    }
    async fn delete(&self, key: &str, expected: Expected) -> Result<()> {
        self.inner.delete(key, expected).await
    }
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage> {
        self.inner.list(prefix, start_after, limit).await
    }
    async fn watch(&self, target: WatchTarget, from: Option<Version>) -> Result<WatchStream> {
        let stream = self.inner.watch(target, from).await?;
        self.open_watches.fetch_add(1, Ordering::SeqCst);
        let open = OpenWatch(self.open_watches.clone());
        Ok(stream
            .map(move |item| {
                let _held = &open;
                item
            })
            .boxed())
    }
    async fn current_revision(&self) -> Result<Version> {
        self.inner.current_revision().await
    }
    async fn create_session(&self, ttl: Duration) -> Result<SessionId> {
        self.inner.create_session(ttl).await
    }
    async fn keep_alive(&self, session: SessionId) -> Result<()> {
        self.inner.keep_alive(session).await
    }
    async fn revoke_session(&self, session: SessionId) -> Result<()> {
        self.inner.revoke_session(session).await
    }
}

/// A broker over a counting store; ledgers roll over every two entries.
async fn start() -> (BrokerServiceHandle, Arc<CountingStore>) {
    init_tracing();
    let store = Arc::new(CountingStore {
        inner: MemoryStore::new(),
        open_watches: Arc::new(AtomicUsize::new(0)),
    });
    let mut config = BrokerServiceConfig::default();
    config.managed_ledger.ensemble_size = 1;
    config.managed_ledger.write_quorum = 1;
    config.managed_ledger.ack_quorum = 1;
    config.managed_ledger.max_entries_per_ledger = 2;
    config.managed_ledger.min_rollover_time = Duration::ZERO;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let broker = BrokerService::start(
        config,
        store.clone(),
        Arc::new(MemoryLedgerStore::new()),
        listener,
    )
    .await
    .unwrap();
    (broker, store)
}

/// Waits until `count` watch streams are open.
async fn await_open_watches(store: &CountingStore, count: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while store.open_watches.load(Ordering::SeqCst) != count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} watches open, expected {count}",
            store.open_watches.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn topics_of_namespace(
    client: &mut RawClient,
    request_id: u64,
    pattern: Option<&str>,
    topics_hash: Option<&str>,
) -> CommandGetTopicsOfNamespaceResponse {
    client
        .send(CommandGetTopicsOfNamespace {
            request_id,
            namespace: NS.into(),
            mode: Some(Mode::Persistent as i32),
            topics_pattern: pattern.map(str::to_string),
            topics_hash: topics_hash.map(str::to_string),
        })
        .await;
    let reply = client.recv_command().await;
    let response = reply
        .get_topics_of_namespace_response
        .clone()
        .unwrap_or_else(|| panic!("expected GET_TOPICS_OF_NAMESPACE_RESPONSE, got {reply:?}"));
    assert_eq!(response.request_id, request_id);
    *response
}

fn sorted(mut topics: Vec<String>) -> Vec<String> {
    topics.sort();
    topics
}

async fn watch(
    client: &mut RawClient,
    request_id: u64,
    watcher_id: u64,
    pattern: &str,
    hash: Option<&str>,
) -> BaseCommand {
    client
        .send(CommandWatchTopicList {
            request_id,
            watcher_id,
            namespace: NS.into(),
            topics_pattern: pattern.into(),
            topics_hash: hash.map(str::to_string),
        })
        .await;
    client.recv_command().await
}

async fn next_update(client: &mut RawClient) -> CommandWatchTopicUpdate {
    let reply = client.recv_command().await;
    *reply
        .watch_topic_update
        .clone()
        .unwrap_or_else(|| panic!("expected WATCH_TOPIC_UPDATE, got {reply:?}"))
}

async fn expect_quiet(client: &mut RawClient) {
    if let Some(frame) = client.try_recv(QUIET).await {
        panic!("expected nothing, got {:?}", frame.command());
    }
}

#[tokio::test]
async fn topics_of_namespace_filters_by_pattern_and_answers_by_hash() {
    let (broker, _store) = start().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    for (id, local) in [(1, "pat-a"), (2, "pat-b"), (3, "other")] {
        client.create_producer(&full(local), id).await;
    }
    let matching = vec![full("pat-a"), full("pat-b")];

    let listed = topics_of_namespace(&mut client, 10, Some(PATTERN), None).await;
    assert_eq!(sorted(listed.topics), matching);
    assert_eq!(listed.filtered, Some(true));
    assert_eq!(listed.changed, Some(true));
    assert_eq!(
        listed.topics_hash.as_deref(),
        Some(hash_of(&matching).as_str())
    );

    let hash = hash_of(&matching);
    let again = topics_of_namespace(&mut client, 11, Some(PATTERN), Some(&hash)).await;
    assert_eq!(again.changed, Some(false));
    assert!(again.topics.is_empty(), "{:?}", again.topics);
    assert_eq!(again.topics_hash.as_deref(), Some(hash.as_str()));

    client.create_producer(&full("pat-c"), 4).await;
    let grown = topics_of_namespace(&mut client, 12, Some(PATTERN), Some(&hash)).await;
    let matching = vec![full("pat-a"), full("pat-b"), full("pat-c")];
    assert_eq!(grown.changed, Some(true));
    assert_eq!(sorted(grown.topics), matching);
    assert_eq!(
        grown.topics_hash.as_deref(),
        Some(hash_of(&matching).as_str())
    );

    // Without a usable pattern: the whole list, for the client to filter.
    let everything = vec![full("other"), full("pat-a"), full("pat-b"), full("pat-c")];
    for (request_id, pattern) in [(13, None), (14, Some("pat-(")), (15, Some("t/ns/(?=x)"))] {
        let all = topics_of_namespace(&mut client, request_id, pattern, None).await;
        assert_eq!(all.filtered, Some(false), "pattern {pattern:?}");
        assert_eq!(sorted(all.topics), everything, "pattern {pattern:?}");
        assert_eq!(
            all.topics_hash.as_deref(),
            Some(hash_of(&everything).as_str())
        );
    }

    client
        .send(CommandGetTopicsOfNamespace {
            request_id: 16,
            namespace: NS.into(),
            mode: Some(Mode::NonPersistent as i32),
            ..Default::default()
        })
        .await;
    let none = client
        .recv_command()
        .await
        .get_topics_of_namespace_response
        .unwrap();
    assert!(none.topics.is_empty());
    assert_eq!(none.topics_hash.as_deref(), Some("00000000"));
    broker.shutdown().await;
}

#[tokio::test]
async fn watcher_reports_created_and_deleted_topics_until_closed() {
    let (broker, store) = start().await;
    let mut producers = RawClient::connect(broker.local_addr()).await;
    producers.create_producer(&full("pat-a"), 1).await;
    producers.create_producer(&full("other"), 2).await;
    let baseline = store.open_watches.load(Ordering::SeqCst);

    let mut watcher = RawClient::open(broker.local_addr()).await;
    let connected = watcher.handshake(21).await;
    assert_eq!(
        connected
            .feature_flags
            .and_then(|f| f.supports_topic_watchers),
        Some(true)
    );
    let reply = watch(&mut watcher, 1, 7, PATTERN, None).await;
    let success = reply
        .watch_topic_list_success
        .clone()
        .unwrap_or_else(|| panic!("expected WATCH_TOPIC_LIST_SUCCESS, got {reply:?}"));
    assert_eq!((success.request_id, success.watcher_id), (1, 7));
    assert_eq!(success.topic, vec![full("pat-a")]);
    assert_eq!(success.topics_hash, hash_of(&[full("pat-a")]));
    await_open_watches(&store, baseline + 1).await;

    producers.create_producer(&full("pat-b"), 3).await;
    let update = next_update(&mut watcher).await;
    assert_eq!(update.watcher_id, 7);
    assert_eq!(update.new_topics, vec![full("pat-b")]);
    assert!(update.deleted_topics.is_empty());
    assert_eq!(update.topics_hash, hash_of(&[full("pat-a"), full("pat-b")]));

    // A topic that does not match, and rollovers that rewrite a matching
    // topic's ledger list, change nothing.
    producers.create_producer(&full("other-2"), 4).await;
    producers.publish_numbered(1, 5).await;
    let list = store
        .get("/managed-ledgers/public/default/persistent/pat-a")
        .await
        .unwrap()
        .expect("ledger list of pat-a");
    let list: serde_json::Value = serde_json::from_slice(&list.value).unwrap();
    assert!(
        list["ledgers"].as_array().unwrap().len() > 1,
        "no rollover: {list}"
    );
    expect_quiet(&mut watcher).await;

    let pat_b = TopicName::parse(&full("pat-b")).unwrap();
    broker.topics().unload(&pat_b).await;
    broker
        .factory()
        .delete(&pat_b.persistence_name())
        .await
        .unwrap();
    let update = next_update(&mut watcher).await;
    assert!(update.new_topics.is_empty());
    assert_eq!(update.deleted_topics, vec![full("pat-b")]);
    assert_eq!(update.topics_hash, hash_of(&[full("pat-a")]));

    watcher
        .send(CommandWatchTopicListClose {
            request_id: 2,
            watcher_id: 7,
        })
        .await;
    let reply = watcher.recv_command().await;
    assert_eq!(
        reply.success.as_ref().map(|s| s.request_id),
        Some(2),
        "{reply:?}"
    );
    await_open_watches(&store, baseline).await;
    // (A new connection: the first one was sent CLOSE_PRODUCER for pat-b.)
    let mut late = RawClient::connect(broker.local_addr()).await;
    late.create_producer(&full("pat-c"), 1).await;
    expect_quiet(&mut watcher).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn watcher_with_current_hash_gets_no_list_and_bad_requests_are_refused() {
    let (broker, _store) = start().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    client.create_producer(&full("pat-a"), 1).await;
    let hash = hash_of(&[full("pat-a")]);
    let reply = watch(&mut client, 1, 1, PATTERN, Some(&hash)).await;
    let success = reply.watch_topic_list_success.expect("success");
    assert!(success.topic.is_empty());
    assert_eq!(success.topics_hash, hash);

    let duplicate = watch(&mut client, 2, 1, ".*", None).await;
    assert_eq!(error_code(&duplicate), ServerError::NotAllowedError);
    assert_eq!(duplicate.error.as_ref().map(|e| e.request_id), Some(2));

    let invalid = watch(&mut client, 3, 2, "pat-(", None).await;
    assert_eq!(error_code(&invalid), ServerError::NotAllowedError);
    let message = invalid.error.map(|e| e.message).unwrap_or_default();
    assert!(message.contains("invalid topics pattern"), "{message}");

    // The refused id is free: the same id may watch with a good pattern.
    let reply = watch(&mut client, 4, 2, ".*", None).await;
    assert_eq!(
        reply.watch_topic_list_success.map(|s| s.topic),
        Some(vec![full("pat-a")])
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn watchers_end_with_their_connection() {
    let (broker, store) = start().await;
    let baseline = store.open_watches.load(Ordering::SeqCst);
    let mut client = RawClient::connect(broker.local_addr()).await;
    for watcher_id in [1, 2] {
        let reply = watch(&mut client, watcher_id, watcher_id, PATTERN, None).await;
        assert!(reply.watch_topic_list_success.is_some(), "{reply:?}");
    }
    await_open_watches(&store, baseline + 2).await;
    drop(client);
    await_open_watches(&store, baseline).await;
    broker.shutdown().await;
}
