//! A randomized run per subscription type, with a seed: produce, consume,
//! ack, negative ack, consumers joining and leaving, and broker restarts
//! (over the same metadata and ledger stores) interleave. Afterwards every
//! produced message must have been delivered and acknowledged, and the
//! first deliveries must keep publish order (Exclusive, Failover) or per-key
//! order (Key_Shared). A failing run prints its seed; set
//! `MAGNETAR_SEED` to replay it.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use magnetar_bookie::testing::MemoryLedgerStore;
use magnetar_broker::{BrokerService, BrokerServiceConfig, BrokerServiceHandle};
use magnetar_metadata::MemoryStore;
use magnetar_proto::pulsar::api::command_subscribe::SubType;
use magnetar_proto::pulsar::api::*;
use magnetar_proto::pulsar::{encode_body, Frame, PayloadFrame};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;

const KEYS: u32 = 8;
const STEPS: usize = 120;

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
}

/// A connection with Shared consumer 1 on subscription `s`, 10 permits.
async fn shared_consumer(broker: &BrokerServiceHandle, topic: &str) -> RawClient {
    let mut client = RawClient::connect(broker.local_addr()).await;
    client.subscribe(topic, "s", SubType::Shared, 1).await;
    client.flow(1, 10).await;
    client
}

async fn start(stores: &Stores) -> BrokerServiceHandle {
    init_tracing();
    let mut config = BrokerServiceConfig::default();
    config.managed_ledger.ensemble_size = 1;
    config.managed_ledger.write_quorum = 1;
    config.managed_ledger.ack_quorum = 1;
    config.dispatch.failover_delay = Duration::from_millis(50);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    BrokerService::start(
        config,
        stores.metadata.clone(),
        stores.ledgers.clone(),
        listener,
    )
    .await
    .unwrap()
}

struct Consumer {
    client: RawClient,
    id: u64,
}

/// What the run saw, checked at the end.
#[derive(Default)]
struct Model {
    produced: Vec<u64>,
    acked: HashSet<u64>,
    delivered: HashSet<u64>,
    /// First deliveries in arrival order: (key, seq).
    first_deliveries: Vec<(u32, u64)>,
}

struct Run {
    seed: u64,
    mode: SubType,
    rng: StdRng,
    stores: Stores,
    broker: Option<BrokerServiceHandle>,
    producer: RawClient,
    consumers: Vec<Consumer>,
    next_consumer_id: u64,
    next_sequence: u64,
    model: Model,
    topic: String,
}

impl Run {
    async fn new(seed: u64, mode: SubType) -> Run {
        let stores = Stores::new();
        let broker = start(&stores).await;
        let topic = topic("random");
        let mut producer = RawClient::connect(broker.local_addr()).await;
        producer.create_producer(&topic, 1).await;
        Run {
            seed,
            mode,
            rng: StdRng::seed_from_u64(seed),
            stores,
            broker: Some(broker),
            producer,
            consumers: Vec::new(),
            next_consumer_id: 1,
            next_sequence: 0,
            model: Model::default(),
            topic,
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.broker.as_ref().expect("broker running").local_addr()
    }

    async fn produce(&mut self, count: usize) {
        for _ in 0..count {
            let seq = self.next_sequence;
            self.next_sequence += 1;
            let key = self.rng.gen_range(0..KEYS);
            let metadata = MessageMetadata {
                producer_name: "random".into(),
                sequence_id: seq,
                publish_time: 1,
                partition_key: Some(format!("key-{key}")),
                ..Default::default()
            };
            let send = CommandSend {
                producer_id: 1,
                sequence_id: seq,
                num_messages: Some(1),
                ..Default::default()
            };
            let body = encode_body(&metadata, format!("{key}:{seq}").as_bytes());
            self.producer
                .send_frame(Frame::Payload(PayloadFrame::new(send.into(), body)))
                .await;
            let reply = self.producer.recv_command().await;
            assert!(
                reply.send_receipt.is_some(),
                "seed {}: {reply:?}",
                self.seed
            );
            self.model.produced.push(seq);
        }
    }

    async fn join(&mut self) {
        if self.mode == SubType::Exclusive && !self.consumers.is_empty() {
            return;
        }
        let id = self.next_consumer_id;
        self.next_consumer_id += 1;
        let mut client = RawClient::connect(self.addr()).await;
        client
            .send(CommandSubscribe {
                topic: self.topic.clone(),
                subscription: "random".into(),
                sub_type: self.mode as i32,
                consumer_id: id,
                request_id: id,
                consumer_name: Some(format!("c{id}")),
                initial_position: Some(command_subscribe::InitialPosition::Earliest as i32),
                ..Default::default()
            })
            .await;
        loop {
            let reply = client.recv_command().await;
            if reply.active_consumer_change.is_some() {
                continue;
            }
            assert!(reply.success.is_some(), "seed {}: {reply:?}", self.seed);
            break;
        }
        client.flow(id, 50).await;
        self.consumers.push(Consumer { client, id });
    }

    async fn leave(&mut self) {
        if self.consumers.is_empty() {
            return;
        }
        let index = self.rng.gen_range(0..self.consumers.len());
        let mut consumer = self.consumers.remove(index);
        consumer
            .client
            .send(CommandCloseConsumer {
                consumer_id: consumer.id,
                request_id: 1_000_000 + consumer.id,
            })
            .await;
    }

    /// Receives what each consumer has, acking most and negatively acking
    /// some; tops permits back up.
    async fn consume(&mut self, nack_ratio: f64) {
        for index in 0..self.consumers.len() {
            let mut received = 0;
            let mut acks = Vec::new();
            let mut nacks = Vec::new();
            while let Some(frame) = self.consumers[index]
                .client
                .try_recv(Duration::from_millis(15))
                .await
            {
                let Frame::Payload(PayloadFrame { command, body, .. }) = frame else {
                    continue;
                };
                let message = command.message.expect("MESSAGE");
                let text = String::from_utf8(payload_of(&body).to_vec()).unwrap();
                let (key, seq) = text.split_once(':').unwrap();
                let (key, seq): (u32, u64) = (key.parse().unwrap(), seq.parse().unwrap());
                if self.model.delivered.insert(seq) {
                    self.model.first_deliveries.push((key, seq));
                }
                received += 1;
                if self.rng.gen_bool(nack_ratio) {
                    nacks.push(message.message_id);
                } else {
                    self.model.acked.insert(seq);
                    acks.push(message.message_id);
                }
            }
            let consumer = &mut self.consumers[index];
            if !acks.is_empty() {
                consumer
                    .client
                    .send(CommandAck {
                        consumer_id: consumer.id,
                        ack_type: command_ack::AckType::Individual as i32,
                        message_id: acks,
                        ..Default::default()
                    })
                    .await;
            }
            if !nacks.is_empty() {
                consumer
                    .client
                    .send(CommandRedeliverUnacknowledgedMessages {
                        consumer_id: consumer.id,
                        message_ids: nacks,
                        consumer_epoch: None,
                    })
                    .await;
            }
            if received > 0 {
                consumer.flow(received).await;
            }
        }
    }

    /// Shuts the broker down and starts another over the same stores;
    /// every client connects again.
    async fn restart(&mut self) {
        let count = self.consumers.len();
        self.consumers.clear();
        if let Some(broker) = self.broker.take() {
            broker.shutdown().await;
        }
        let broker = start(&self.stores).await;
        self.broker = Some(broker);
        self.producer = RawClient::connect(self.addr()).await;
        self.producer.create_producer(&self.topic, 1).await;
        for _ in 0..count {
            self.join().await;
        }
    }

    async fn run(&mut self) {
        self.join().await;
        for _ in 0..STEPS {
            match self.rng.gen_range(0..100) {
                0..=34 => {
                    let count = self.rng.gen_range(1..20);
                    self.produce(count).await;
                }
                35..=74 => self.consume(0.1).await,
                75..=84 => self.join().await,
                85..=94 => self.leave().await,
                _ => self.restart().await,
            }
        }
        if self.consumers.is_empty() {
            self.join().await;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.model.acked.len() < self.model.produced.len() && Instant::now() < deadline {
            self.consume(0.0).await;
        }
    }

    fn check(&self) {
        let seed = self.seed;
        let missing: Vec<u64> = self
            .model
            .produced
            .iter()
            .filter(|seq| !self.model.acked.contains(seq))
            .copied()
            .collect();
        assert!(
            missing.is_empty(),
            "seed {seed} {:?}: {} of {} never acknowledged, first {:?}",
            self.mode,
            missing.len(),
            self.model.produced.len(),
            &missing[..missing.len().min(10)]
        );
        match self.mode {
            SubType::Exclusive | SubType::Failover => {
                let seqs: Vec<u64> = self
                    .model
                    .first_deliveries
                    .iter()
                    .map(|(_, s)| *s)
                    .collect();
                assert!(
                    seqs.windows(2).all(|w| w[0] < w[1]),
                    "seed {seed} {:?}: first deliveries out of publish order: {seqs:?}",
                    self.mode
                );
            }
            SubType::KeyShared => {
                let mut last: HashMap<u32, u64> = HashMap::new();
                for &(key, seq) in &self.model.first_deliveries {
                    if let Some(previous) = last.insert(key, seq) {
                        assert!(
                            previous < seq,
                            "seed {seed}: key {key} delivered {seq} after {previous}"
                        );
                    }
                }
            }
            SubType::Shared => {}
        }
    }
}

impl Consumer {
    async fn flow(&mut self, permits: u32) {
        self.client.flow(self.id, permits).await;
    }
}

async fn run_seeded(mode: SubType) {
    let seeds: Vec<u64> = match std::env::var("MAGNETAR_SEED") {
        Ok(seed) => vec![seed.parse().expect("MAGNETAR_SEED is a number")],
        Err(_) => (0..5).map(|_| rand::random::<u64>()).collect(),
    };
    for seed in seeds {
        eprintln!("{mode:?}: seed {seed} (MAGNETAR_SEED={seed} replays it)");
        let mut run = Run::new(seed, mode).await;
        run.run().await;
        run.check();
        if let Some(broker) = run.broker.take() {
            broker.shutdown().await;
        }
    }
}

#[tokio::test]
async fn random_exclusive() {
    run_seeded(SubType::Exclusive).await;
}

#[tokio::test]
async fn random_failover() {
    run_seeded(SubType::Failover).await;
}

#[tokio::test]
async fn random_shared() {
    run_seeded(SubType::Shared).await;
}

#[tokio::test]
async fn random_key_shared() {
    run_seeded(SubType::KeyShared).await;
}

/// Redelivery counts are stored with the cursor, so a dead-letter policy
/// keeps counting across a broker restart.
#[tokio::test]
async fn redelivery_counts_survive_a_restart() {
    let stores = Stores::new();
    let topic = topic("redelivery-restart");
    let broker = start(&stores).await;
    let mut producer = RawClient::connect(broker.local_addr()).await;
    producer.create_producer(&topic, 1).await;
    producer.publish_numbered(1, 1).await;
    let mut client = shared_consumer(&broker, &topic).await;
    for expected in 0..3 {
        let (message, _) = client.recv_message().await;
        assert_eq!(message.redelivery_count, Some(expected));
        client
            .send(CommandRedeliverUnacknowledgedMessages {
                consumer_id: 1,
                message_ids: vec![message.message_id],
                consumer_epoch: None,
            })
            .await;
    }
    // The third negative ack made the count 3; the entry is in the replay
    // set when the broker stops.
    client.recv_message().await;
    drop(client);
    broker.shutdown().await;

    let broker = start(&stores).await;
    let mut client = shared_consumer(&broker, &topic).await;
    let (message, _) = client.recv_message().await;
    assert!(
        message.redelivery_count >= Some(3),
        "count after restart: {:?}",
        message.redelivery_count
    );
    broker.shutdown().await;
}

/// A delayed message held when the broker stops is neither lost nor
/// delivered early by the next broker: it is read again and held again.
#[tokio::test]
async fn delayed_messages_survive_a_restart_and_never_come_early() {
    let stores = Stores::new();
    let topic = topic("delayed-restart");
    let broker = start(&stores).await;
    let mut client = shared_consumer(&broker, &topic).await;
    client.create_producer(&topic, 1).await;
    let now_millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let deliver_at = now_millis + 2_000;
    let delayed = MessageMetadata {
        producer_name: "delayed".into(),
        sequence_id: 0,
        publish_time: now_millis as u64,
        deliver_at_time: Some(deliver_at),
        ..Default::default()
    };
    let send = CommandSend {
        producer_id: 1,
        sequence_id: 0,
        num_messages: Some(1),
        ..Default::default()
    };
    client
        .send_frame(Frame::Payload(PayloadFrame::new(
            send.into(),
            encode_body(&delayed, b"later"),
        )))
        .await;
    assert!(client.recv_command().await.send_receipt.is_some());
    assert!(
        client.try_recv(Duration::from_millis(300)).await.is_none(),
        "delivered before its time"
    );
    drop(client);
    broker.shutdown().await;

    let broker = start(&stores).await;
    let mut client = shared_consumer(&broker, &topic).await;
    let (_, body) = client.recv_message().await;
    let arrived = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(payload_of(&body), "later");
    assert!(
        arrived >= deliver_at,
        "delivered {} ms early after the restart",
        deliver_at - arrived
    );
    broker.shutdown().await;
}
