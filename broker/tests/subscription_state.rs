//! What a subscription keeps across a broker restart and when it goes:
//! partly acknowledged batches come back with their acknowledged messages
//! marked, and a subscription left without consumers for longer than its
//! namespace's expiration time is deleted (not one with a consumer, not a
//! recently used one). Brokers restart over the same in-memory stores.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use magnetar_bookie::testing::MemoryLedgerStore;
use magnetar_broker::managed_ledger::{now_millis, StoredCursor, CURSOR_ROOT};
use magnetar_broker::namespace::{NamespaceName, PolicyStore};
use magnetar_broker::topic::TopicName;
use magnetar_broker::{BrokerServiceConfig, BrokerServiceHandle};
use magnetar_metadata::{Expected, MemoryStore, MetadataStore, PutOptions};
use magnetar_proto::pulsar::api::command_ack::AckType;
use magnetar_proto::pulsar::api::command_subscribe::SubType;
use magnetar_proto::pulsar::api::*;

struct Stores {
    metadata: Arc<MemoryStore>,
    ledgers: Arc<MemoryLedgerStore>,
}

impl Stores {
    fn new() -> Stores {
        Stores {
            metadata: Arc::new(MemoryStore::new()),
            ledgers: Arc::new(MemoryLedgerStore::new()),
        }
    }

    async fn start(&self) -> BrokerServiceHandle {
        let config = BrokerServiceConfig {
            policy_check_interval: Duration::from_millis(200),
            ..BrokerServiceConfig::default()
        };
        start_broker_over(config, &self.metadata, &self.ledgers).await
    }

    fn cursor_key(&self, topic: &str, subscription: &str) -> String {
        let ml = TopicName::parse(topic).unwrap().persistence_name();
        format!("{CURSOR_ROOT}{ml}/{subscription}")
    }

    async fn stored_cursor(&self, topic: &str, subscription: &str) -> Option<StoredCursor> {
        let stored = self
            .metadata
            .get(&self.cursor_key(topic, subscription))
            .await
            .unwrap()?;
        Some(serde_json::from_slice(&stored.value).unwrap())
    }
}

/// Half of a batch of four is acknowledged by index; after a restart the
/// batch is redelivered with those indexes marked as acknowledged.
#[tokio::test]
async fn partly_acknowledged_batches_survive_a_restart() {
    let stores = Stores::new();
    let topic = topic("batch-acks-restart");
    let broker = stores.start().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    client.create_producer(&topic, 1).await;
    client.publish(1, 0, b"four messages", 4).await;
    assert!(client.recv_command().await.send_receipt.is_some());
    client.subscribe(&topic, "s", SubType::Shared, 1).await;
    client.flow(1, 10).await;
    let (message, _) = client.recv_message().await;
    assert!(message.ack_set.is_empty(), "first delivery is whole");
    // A set bit is a message still unacknowledged: 0 and 1 are acked.
    let remaining = vec![0b1100_i64];
    client
        .send(CommandAck {
            consumer_id: 1,
            ack_type: AckType::Individual as i32,
            message_id: vec![MessageIdData {
                ack_set: remaining.clone(),
                ..message.message_id.clone()
            }],
            ..Default::default()
        })
        .await;
    // The ack is applied before the broker stops (acks are one-way).
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(client);
    broker.shutdown().await;
    let stored = stores.stored_cursor(&topic, "s").await.unwrap();
    assert_eq!(stored.batch_acks.len(), 1, "{stored:?}");

    let broker = stores.start().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    client.subscribe(&topic, "s", SubType::Shared, 1).await;
    client.flow(1, 10).await;
    let (again, _) = client.recv_message().await;
    assert_eq!(again.message_id.entry_id, message.message_id.entry_id);
    assert_eq!(again.ack_set, remaining, "acked indexes are marked");
    broker.shutdown().await;
}

async fn close_consumer(client: &mut RawClient, consumer_id: u64) {
    client
        .send(CommandCloseConsumer {
            consumer_id,
            request_id: 9000 + consumer_id,
        })
        .await;
    assert!(client.recv_command().await.success.is_some());
}

/// With an expiration time of one minute, a subscription whose last
/// consumer left two minutes ago is deleted; one as old but with a
/// consumer attached, and one left just now, are kept.
#[tokio::test]
async fn unused_subscriptions_expire() {
    let stores = Stores::new();
    let topic = topic("subscription-expiry");
    let broker = stores.start().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    for (id, name) in [(1, "old"), (2, "attached"), (3, "fresh")] {
        client.subscribe(&topic, name, SubType::Exclusive, id).await;
        close_consumer(&mut client, id).await;
    }
    drop(client);
    broker.shutdown().await;

    // Two minutes without consumers, as the stored cursors tell it.
    for name in ["old", "attached"] {
        let mut cursor = stores.stored_cursor(&topic, name).await.unwrap();
        assert!(cursor.last_active.is_some(), "{cursor:?}");
        cursor.last_active = Some(now_millis() - 120_000);
        stores
            .metadata
            .put(
                &stores.cursor_key(&topic, name),
                Bytes::from(serde_json::to_vec(&cursor).unwrap()),
                PutOptions::expect(Expected::Any),
            )
            .await
            .unwrap();
    }
    let namespace = NamespaceName::new("public", "default").unwrap();
    PolicyStore::new(stores.metadata.clone())
        .update_namespace_policies(&namespace, |p| {
            p.subscription_expiration_time_minutes = Some(1);
            Ok(())
        })
        .await
        .unwrap();

    let broker = stores.start().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    let reply = client
        .subscribe(&topic, "attached", SubType::Exclusive, 2)
        .await;
    assert!(reply.success.is_some(), "{reply:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while stores.stored_cursor(&topic, "old").await.is_some() {
        assert!(Instant::now() < deadline, "the old subscription was kept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Several more policy passes: the others stay.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(stores.stored_cursor(&topic, "attached").await.is_some());
    assert!(stores.stored_cursor(&topic, "fresh").await.is_some());
    broker.shutdown().await;
}

/// Properties given when a subscription is created are stored with it and
/// shown in its stats, also after a restart.
#[tokio::test]
async fn subscription_properties_are_kept_and_shown() {
    let stores = Stores::new();
    let topic = topic("subscription-properties");
    let name = TopicName::parse(&topic).unwrap();
    let broker = stores.start().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    client
        .send(CommandSubscribe {
            topic: topic.clone(),
            subscription: "s".into(),
            sub_type: SubType::Shared as i32,
            consumer_id: 1,
            request_id: 1,
            subscription_properties: vec![KeyValue {
                key: "team".into(),
                value: "billing".into(),
            }],
            ..Default::default()
        })
        .await;
    assert!(client.recv_command().await.success.is_some());
    let properties = |snapshot: magnetar_broker::topic::TopicSnapshot| {
        snapshot
            .subscriptions
            .into_iter()
            .find(|(n, _)| n == "s")
            .map(|(_, stats)| stats.subscription_properties)
    };
    let expected = Some([("team".to_string(), "billing".to_string())].into());
    let loaded = broker.topics().get(&name).unwrap();
    assert_eq!(properties(loaded.snapshot().await), expected);
    drop(client);
    broker.shutdown().await;

    let broker = stores.start().await;
    let mut client = RawClient::connect(broker.local_addr()).await;
    client.subscribe(&topic, "s", SubType::Shared, 1).await;
    let loaded = broker.topics().get(&name).unwrap();
    assert_eq!(properties(loaded.snapshot().await), expected);
    broker.shutdown().await;
}
