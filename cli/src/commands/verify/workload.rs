//! The load `magnetar verify` puts on a cluster, through the Rust `pulsar`
//! crate as any application would: paced producers that record the outcome
//! of every send, and consumers that record every delivery before they
//! acknowledge it. Both ride through broker and bookie faults: the client
//! reconnects, and a consumer whose stream ends is subscribed again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use parking_lot::Mutex;
use pulsar::consumer::InitialPosition;
use pulsar::producer::{self, ProducerOptions};
use pulsar::{ConsumerOptions, Pulsar, SubType, TokioExecutor};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::check::{Content, Delivery, MessageRef, OrderRule, SendOutcome, SubscriptionLog};
use super::payload::{decode, encode, Decoded, Stamp};

/// Sends awaiting their receipt, per producer.
const MAX_IN_FLIGHT: usize = 1_000;
/// Pause after a failed attempt to create a producer or consumer, or a
/// send refused at once.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// Receive errors in a row after which a consumer subscribes again.
const MAX_ERRORS_IN_A_ROW: u32 = 10;

/// Counters the progress bar shows.
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub failed: AtomicU64,
    pub delivered: AtomicU64,
}

/// One producer's outcomes, indexed by sequence number.
pub type Outcomes = Arc<Mutex<Vec<SendOutcome>>>;

/// What every producer shares.
#[derive(Clone)]
pub struct ProducePlan {
    pub topic: String,
    pub run: u64,
    pub size: usize,
    pub keys: u64,
    /// Messages per second for this producer.
    pub rate: f64,
    pub until: Instant,
}

/// The key of a producer's message: Key_Shared orders per key.
pub fn message_key(producer: u32, seq: u64, keys: u64) -> String {
    format!("p{producer}-k{}", seq % keys)
}

/// Sends until `plan.until`, then waits for every receipt (each is bounded
/// by the client's operation timeout). Never fails: a send that cannot be
/// made is recorded as failed.
pub async fn produce(
    client: Pulsar<TokioExecutor>,
    plan: ProducePlan,
    index: u32,
    outcomes: Outcomes,
    progress: Arc<Progress>,
) {
    let name = format!("verify-{}-{index}", plan.run);
    let Some(mut producer) = create_producer(&client, &plan, &name).await else {
        tracing::warn!(producer = %name, "no producer before the end of the run");
        return;
    };
    let (receipts_tx, mut receipts_rx) = mpsc::channel(MAX_IN_FLIGHT);
    let receipts = {
        let outcomes = outcomes.clone();
        let progress = progress.clone();
        tokio::spawn(async move {
            while let Some((seq, receipt)) = receipts_rx.recv().await {
                let receipt: producer::SendFuture = receipt;
                let outcome = match receipt.await {
                    Ok(_) => {
                        progress.acked.fetch_add(1, Ordering::Relaxed);
                        SendOutcome::Acked
                    }
                    Err(error) => {
                        tracing::debug!(%error, seq, "send failed");
                        progress.failed.fetch_add(1, Ordering::Relaxed);
                        SendOutcome::Failed
                    }
                };
                outcomes.lock()[seq] = outcome;
            }
        })
    };
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / plan.rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if Instant::now() >= plan.until {
            break;
        }
        let seq = {
            let mut outcomes = outcomes.lock();
            outcomes.push(SendOutcome::Pending);
            outcomes.len() - 1
        };
        progress.sent.fetch_add(1, Ordering::Relaxed);
        let stamp = Stamp {
            run: plan.run,
            producer: index,
            seq: seq as u64,
        };
        let message = producer::Message {
            payload: encode(stamp, plan.size),
            partition_key: Some(message_key(index, seq as u64, plan.keys)),
            ..Default::default()
        };
        match producer.send_non_blocking(message).await {
            Ok(receipt) => {
                if receipts_tx.send((seq, receipt)).await.is_err() {
                    break;
                }
            }
            Err(error) => {
                tracing::debug!(%error, seq, "send refused");
                outcomes.lock()[seq] = SendOutcome::Failed;
                progress.failed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
    drop(receipts_tx);
    if let Err(error) = receipts.await {
        tracing::warn!(%error, "receipt task failed");
    }
    let _ = producer.close().await;
}

async fn create_producer(
    client: &Pulsar<TokioExecutor>,
    plan: &ProducePlan,
    name: &str,
) -> Option<pulsar::Producer<TokioExecutor>> {
    while Instant::now() < plan.until {
        let options = ProducerOptions {
            block_queue_if_full: true,
            ..Default::default()
        };
        match client
            .producer()
            .with_topic(&plan.topic)
            .with_name(name)
            .with_options(options)
            .build()
            .await
        {
            Ok(producer) => return Some(producer),
            Err(error) => {
                tracing::info!(%error, producer = name, "create producer; retrying");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
    None
}

/// One subscription the run reads through.
#[derive(Debug, Clone)]
pub struct SubscriptionPlan {
    pub name: String,
    pub sub_type: SubType,
    pub consumers: u32,
    /// Subscribes at the start but reads only once the producers stopped:
    /// every acknowledged message must then still be stored, not merely
    /// have been delivered once.
    pub late: bool,
}

impl SubscriptionPlan {
    pub fn order(&self) -> OrderRule {
        match self.sub_type {
            SubType::Exclusive | SubType::Failover => OrderRule::PerProducer,
            SubType::KeyShared => OrderRule::PerKey,
            SubType::Shared => OrderRule::Unordered,
        }
    }
}

/// A subscription's log, appended to by its consumers in receive order.
pub type SharedLog = Arc<Mutex<SubscriptionLog>>;

/// What ties a consumer to the run: the counters it bumps, and when it
/// starts and stops.
pub struct ConsumerRun {
    pub progress: Arc<Progress>,
    /// Told once the first subscription succeeded.
    pub subscribed: mpsc::Sender<()>,
    /// Becomes true when the producers have stopped (late subscriptions
    /// read from then on).
    pub producers_done: watch::Receiver<bool>,
    pub stop: CancellationToken,
}

/// One consumer of `plan`: subscribes (again after its stream ends),
/// records each delivery in `log` and then acknowledges it, until told to
/// stop. A late plan's consumer subscribes, closes, and reads only once
/// the producers are done.
pub async fn consume(
    client: Pulsar<TokioExecutor>,
    topic: String,
    plan: SubscriptionPlan,
    index: u32,
    run: u64,
    log: SharedLog,
    run_state: ConsumerRun,
) {
    let ConsumerRun {
        progress,
        subscribed,
        mut producers_done,
        stop,
    } = run_state;
    let mut subscribed = Some(subscribed);
    while !stop.is_cancelled() {
        let built = client
            .consumer()
            .with_topic(&topic)
            .with_subscription(&plan.name)
            .with_subscription_type(plan.sub_type)
            .with_consumer_name(format!("{}-{index}", plan.name))
            .with_options(
                ConsumerOptions::default().with_initial_position(InitialPosition::Earliest),
            )
            .build::<Vec<u8>>()
            .await;
        let mut consumer: pulsar::Consumer<Vec<u8>, TokioExecutor> = match built {
            Ok(consumer) => consumer,
            Err(error) => {
                tracing::info!(%error, subscription = %plan.name, "subscribe; retrying");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(RETRY_PAUSE) => continue,
                }
            }
        };
        if let Some(subscribed) = subscribed.take() {
            let _ = subscribed.send(()).await;
            if plan.late {
                // The subscription now holds every message from the first
                // on; it is read only after the producers stop.
                let _ = consumer.close().await;
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = producers_done.wait_for(|done| *done) => continue,
                }
            }
        }
        let mut errors_in_a_row = 0;
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => break,
                next = consumer.next() => next,
            };
            let message = match next {
                Some(Ok(message)) => message,
                Some(Err(error)) => {
                    tracing::info!(%error, subscription = %plan.name, "receive failed");
                    errors_in_a_row += 1;
                    if errors_in_a_row >= MAX_ERRORS_IN_A_ROW {
                        break;
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
                None => break,
            };
            errors_in_a_row = 0;
            let id = &message.message_id.id;
            let content = match decode(&message.payload.data, run) {
                Decoded::Intact { producer, seq } => Content::Intact { producer, seq },
                Decoded::Corrupt => Content::Corrupt,
                Decoded::Foreign => Content::Foreign,
            };
            log.lock().deliveries.push(Delivery {
                consumer: index,
                message: MessageRef {
                    ledger: id.ledger_id,
                    entry: id.entry_id,
                    batch: id.batch_index.unwrap_or(-1),
                },
                key: message.payload.metadata.partition_key.clone(),
                content,
            });
            progress.delivered.fetch_add(1, Ordering::Relaxed);
            if let Err(error) = consumer.ack(&message).await {
                tracing::debug!(%error, subscription = %plan.name, "ack failed");
            }
        }
        let _ = consumer.close().await;
    }
}
