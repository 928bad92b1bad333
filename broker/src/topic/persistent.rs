//! A persistent topic: its managed ledger, its producers (unique by name,
//! with access modes: `producers.rs`) and its subscriptions.
//!
//! The topic epoch: each producer that takes the topic exclusively gets the
//! next epoch, stored as the managed-ledger property `pulsar.topic.epoch`
//! before the producer hears of it, so it only ever grows, across restarts
//! and moves. A reconnecting exclusive producer presents its epoch: an
//! older one than the topic's is fenced for good.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::compaction::TopicCompaction;
use crate::consumer::{Consumer, SubscriptionType};
use crate::dispatch::DispatchConfig;
use crate::managed_ledger::{
    now_millis, InitialPosition, ManagedLedger, ManagedLedgerError, Position,
};
use crate::namespace::{ExpiryDefaults, TopicLimits};
use crate::producer::{DedupSwitch, Deduplication, Producer, DEDUP_CURSOR};
use crate::replication::{ReplicationContext, Replicators};
use crate::traffic::TopicTraffic;

use super::history::TopicHistory;
use super::producers::{AccessMode, Admission, ProducerSet, Promoted};
use super::{Subscription, TopicError, TopicName};

/// The managed-ledger property that holds the topic epoch (Pulsar's name).
pub const TOPIC_EPOCH_PROPERTY: &str = "pulsar.topic.epoch";

/// A producer admitted to the topic.
#[derive(Debug)]
pub enum ProducerAdmission {
    /// Attached; exclusive producers get the topic epoch.
    Ready { topic_epoch: Option<u64> },
    /// WaitForExclusive behind another producer: resolves with the topic
    /// epoch once attached, or with the reason it will not be.
    Waiting(tokio::sync::oneshot::Receiver<Result<u64, TopicError>>),
}

/// Where a new subscription's cursor starts, and whether it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorStart {
    /// A durable subscription (created at the position if it is new).
    Durable(InitialPosition),
    /// A reader: a non-durable cursor whose first entry is the first at or
    /// after the position.
    Reader(Position),
}

pub struct PersistentTopic {
    name: TopicName,
    ledger: Arc<ManagedLedger>,
    producers: Arc<parking_lot::Mutex<ProducerSet>>,
    /// Serializes changes of the topic epoch.
    epochs: Arc<tokio::sync::Mutex<()>>,
    /// Deduplication, shared with the producers (recovered when turned on).
    dedup: Arc<DedupSwitch>,
    /// Serializes turning deduplication on and off.
    dedup_changes: tokio::sync::Mutex<()>,
    /// Async lock: creating a subscription opens a cursor.
    subscriptions: tokio::sync::Mutex<HashMap<String, Arc<Subscription>>>,
    closing: AtomicBool,
    traffic: Arc<TopicTraffic>,
    dispatch: DispatchConfig,
    /// What the namespace's policies say (`limits.rs`).
    limits: parking_lot::Mutex<TopicLimits>,
    /// One per remote cluster of the namespace's replication clusters.
    replicators: Replicators,
    /// The broker's expiry settings, for namespaces without their own.
    expiry_defaults: ExpiryDefaults,
    /// When a producer or consumer last attached or left (Unix ms).
    last_used: AtomicU64,
    /// Compaction runs and the compacted view (`compaction.rs`).
    compaction: Arc<TopicCompaction>,
    /// The last 15 minutes of rates and backlogs (`history.rs`).
    history: parking_lot::Mutex<TopicHistory>,
}

impl PersistentTopic {
    pub fn new(
        name: TopicName,
        ledger: Arc<ManagedLedger>,
        dispatch: DispatchConfig,
        expiry_defaults: ExpiryDefaults,
        replication: Arc<ReplicationContext>,
        compaction: Arc<TopicCompaction>,
    ) -> Self {
        PersistentTopic {
            replicators: Replicators::new(name.clone(), ledger.clone(), replication),
            name,
            ledger,
            producers: Arc::default(),
            epochs: Arc::default(),
            dedup: Arc::default(),
            dedup_changes: tokio::sync::Mutex::new(()),
            subscriptions: tokio::sync::Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
            traffic: Arc::default(),
            dispatch,
            limits: parking_lot::Mutex::new(TopicLimits::default()),
            expiry_defaults,
            last_used: AtomicU64::new(now_millis()),
            compaction,
            history: parking_lot::Mutex::default(),
        }
    }

    /// The last 15 minutes of rates and backlogs, for the console.
    pub fn history(&self) -> &parking_lot::Mutex<TopicHistory> {
        &self.history
    }

    /// Compaction runs and the compacted view.
    pub fn compaction(&self) -> &Arc<TopicCompaction> {
        &self.compaction
    }

    pub fn name(&self) -> &TopicName {
        &self.name
    }

    pub fn ledger(&self) -> &Arc<ManagedLedger> {
        &self.ledger
    }

    /// Messages in and out, shared with producers and consumers.
    pub fn traffic(&self) -> &Arc<TopicTraffic> {
        &self.traffic
    }

    /// Producers and consumers attached now (a bundle's "sessions").
    pub async fn session_count(&self) -> usize {
        let consumers: usize = self
            .subscriptions
            .lock()
            .await
            .values()
            .map(|s| s.consumers().len())
            .sum();
        self.producer_count() + consumers
    }

    pub(super) fn limits_cell(&self) -> &parking_lot::Mutex<TopicLimits> {
        &self.limits
    }

    pub(super) fn expiry_defaults(&self) -> &ExpiryDefaults {
        &self.expiry_defaults
    }

    pub(super) fn last_used(&self) -> &AtomicU64 {
        &self.last_used
    }

    /// The subscription's unacknowledged limit: the namespace's, else the
    /// broker's (0: none).
    pub(super) fn max_unacked_per_subscription(&self) -> u64 {
        self.limits()
            .max_unacked_per_subscription
            .unwrap_or(self.dispatch.max_unacked_per_subscription)
    }

    /// The topic's replicators, one per remote cluster.
    pub fn replicators(&self) -> &Replicators {
        &self.replicators
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    fn check_open(&self) -> Result<(), TopicError> {
        if self.is_closing() {
            Err(TopicError::Closing(self.name.to_string()))
        } else {
            Ok(())
        }
    }

    /// Turns deduplication on (recovering its state the first time) or off
    /// (dropping the state and its cursor), for every producer of the
    /// topic, and returns the switch a new producer shares.
    /// `snapshot_interval`: see [`Deduplication::recover`].
    pub async fn deduplication(
        &self,
        enabled: bool,
        snapshot_interval: Option<std::time::Duration>,
    ) -> Result<Arc<DedupSwitch>, TopicError> {
        let _changes = self.dedup_changes.lock().await;
        match (enabled, self.dedup.current().is_some()) {
            (true, false) => {
                let state = Deduplication::recover(&self.ledger, snapshot_interval).await?;
                self.dedup.set(Some(Arc::new(state)));
            }
            (false, true) => {
                self.dedup.set(None);
                match self.ledger.delete_cursor(DEDUP_CURSOR).await {
                    Ok(()) | Err(ManagedLedgerError::NoSuchCursor(_)) => {}
                    Err(error) => return Err(error.into()),
                }
                tracing::info!(topic = %self.name, "deduplication off");
            }
            _ => {}
        }
        Ok(self.dedup.clone())
    }

    /// Attaches a producer in `mode`; `requested_epoch` is the topic epoch
    /// a reconnecting exclusive producer presents.
    pub async fn add_producer(
        &self,
        producer: Arc<Producer>,
        mode: AccessMode,
        requested_epoch: Option<u64>,
    ) -> Result<ProducerAdmission, TopicError> {
        self.check_open()?;
        self.check_not_terminated()?;
        self.admit_producer().await?;
        self.mark_used();
        let topic = self.name.to_string();
        if !mode.is_exclusive() {
            self.producers.lock().add(&topic, producer, mode)?;
            return Ok(ProducerAdmission::Ready { topic_epoch: None });
        }
        let epochs_guard = self.epochs.lock().await;
        let current = topic_epoch(&self.ledger).await;
        if let Some(requested) = requested_epoch.filter(|&e| e < current) {
            return Err(TopicError::ProducerFenced(format!(
                "producer {:?} presents topic epoch {requested}, older than {current}",
                producer.name()
            )));
        }
        let admission = self.producers.lock().add(&topic, producer.clone(), mode)?;
        match admission {
            Admission::Queued(waiting) => Ok(ProducerAdmission::Waiting(waiting)),
            Admission::Attached { fenced } => {
                for other in fenced {
                    tracing::info!(%topic, producer = other.name(), by = producer.name(), "producer fenced");
                    other.close_by_broker();
                }
                let epoch = requested_epoch.unwrap_or(current + 1);
                if epoch != current {
                    if let Err(error) = self
                        .ledger
                        .set_property(TOPIC_EPOCH_PROPERTY, &epoch.to_string())
                        .await
                    {
                        drop(epochs_guard);
                        self.remove_producer(&producer);
                        return Err(error.into());
                    }
                }
                Ok(ProducerAdmission::Ready {
                    topic_epoch: Some(epoch),
                })
            }
        }
    }

    /// Closes every producer from the broker side (CLOSE_PRODUCER) and
    /// forgets it; producers waiting for exclusive access are refused.
    pub(super) fn disconnect_producers(&self) {
        let producers = self.producers.lock().drain(&self.name.to_string());
        for producer in producers {
            producer.close_by_broker();
        }
    }

    /// Detaches `producer`; when it held the topic exclusively, the next
    /// waiting producer takes it with the next epoch.
    pub fn remove_producer(&self, producer: &Arc<Producer>) {
        self.mark_used();
        let promoted = self.producers.lock().remove(producer);
        if let Some(promoted) = promoted {
            tokio::spawn(promote(
                self.name.to_string(),
                self.ledger.clone(),
                self.producers.clone(),
                self.epochs.clone(),
                promoted,
            ));
        }
    }

    pub fn producer_count(&self) -> usize {
        self.producers.lock().len()
    }

    /// The attached producers (not those waiting for exclusive access).
    pub fn producers(&self) -> Vec<Arc<Producer>> {
        self.producers.lock().attached()
    }

    /// Finds or creates the subscription and attaches `consumer`.
    pub async fn subscribe(
        &self,
        subscription: &str,
        mode: SubscriptionType,
        start: CursorStart,
        consumer: Arc<Consumer>,
    ) -> Result<Arc<Subscription>, TopicError> {
        self.check_open()?;
        self.admit_consumer().await?;
        let mut subscriptions = self.subscriptions.lock().await;
        let entry = match subscriptions.get(subscription) {
            Some(existing) => {
                if existing.is_durable() != matches!(start, CursorStart::Durable(_)) {
                    return Err(TopicError::InvalidRequest(format!(
                        "subscription {subscription:?} exists and is {}",
                        if existing.is_durable() {
                            "durable"
                        } else {
                            "a reader's"
                        }
                    )));
                }
                existing.clone()
            }
            None => {
                let cursor = match start {
                    CursorStart::Durable(initial) => {
                        self.ledger.open_cursor(subscription, initial).await?
                    }
                    CursorStart::Reader(position) => self
                        .ledger
                        .open_non_durable_cursor(subscription, position)?,
                };
                let created = Arc::new(Subscription::new(
                    subscription.to_string(),
                    mode,
                    cursor,
                    self.ledger.clone(),
                    self.name.partition_index(),
                    self.dispatch,
                ));
                subscriptions.insert(subscription.to_string(), created.clone());
                tracing::info!(topic = %self.name, subscription, mode = mode.as_str(), "created subscription");
                created
            }
        };
        if let Err(error) = entry.add_consumer(mode, consumer) {
            if !entry.is_durable() && entry.consumers().iter().all(|c| c.is_closed()) {
                self.forget_reader(&mut subscriptions, &entry);
            }
            return Err(error);
        }
        entry
            .dispatcher()
            .set_max_unacked(self.max_unacked_per_subscription());
        entry.cursor().touch();
        self.mark_used();
        Ok(entry)
    }

    /// Detaches a consumer from its subscription; a reader's subscription
    /// ends with its last consumer.
    pub async fn detach_consumer(
        &self,
        subscription: &Arc<Subscription>,
        consumer_id: u64,
        cid: u64,
    ) {
        subscription.dispatcher().remove_consumer(consumer_id, cid);
        subscription.cursor().touch();
        self.mark_used();
        if subscription.is_durable() || subscription.consumers().iter().any(|c| !c.is_closed()) {
            return;
        }
        let mut subscriptions = self.subscriptions.lock().await;
        self.forget_reader(&mut subscriptions, subscription);
    }

    fn forget_reader(
        &self,
        subscriptions: &mut HashMap<String, Arc<Subscription>>,
        subscription: &Arc<Subscription>,
    ) {
        let name = subscription.name();
        if subscriptions
            .get(name)
            .is_some_and(|s| Arc::ptr_eq(s, subscription))
        {
            subscriptions.remove(name);
        }
        subscription.dispatcher().stop();
        self.ledger.close_non_durable_cursor(name);
        tracing::debug!(topic = %self.name, subscription = name, "reader closed");
    }

    pub async fn subscription(&self, name: &str) -> Option<Arc<Subscription>> {
        self.subscriptions.lock().await.get(name).cloned()
    }

    pub async fn subscriptions(&self) -> Vec<Arc<Subscription>> {
        self.subscriptions.lock().await.values().cloned().collect()
    }

    pub async fn subscription_names(&self) -> Vec<String> {
        self.subscriptions.lock().await.keys().cloned().collect()
    }

    /// Deletes the subscription and its cursor. Refused while consumers
    /// other than `requester` (consumer id, connection id) are attached.
    pub async fn unsubscribe(&self, name: &str, requester: (u64, u64)) -> Result<(), TopicError> {
        let mut subscriptions = self.subscriptions.lock().await;
        let subscription = subscriptions
            .get(name)
            .cloned()
            .ok_or_else(|| TopicError::SubscriptionNotFound(name.to_string()))?;
        let others = subscription
            .consumers()
            .iter()
            .any(|c| !c.is_closed() && (c.id(), c.cid()) != requester);
        if others {
            return Err(TopicError::SubscriptionBusy {
                subscription: name.to_string(),
            });
        }
        subscription.dispatcher().stop();
        self.ledger.delete_cursor(name).await?;
        subscriptions.remove(name);
        tracing::info!(topic = %self.name, subscription = name, "deleted subscription");
        Ok(())
    }

    /// Deletes a subscription (an admin's request): refused while
    /// consumers are attached unless `force`, which closes them first.
    /// A durable subscription's cursor is deleted, also when no consumer
    /// ever attached here.
    pub async fn delete_subscription(&self, name: &str, force: bool) -> Result<(), TopicError> {
        let mut subscriptions = self.subscriptions.lock().await;
        if let Some(subscription) = subscriptions.get(name).cloned() {
            if !force && subscription.consumers().iter().any(|c| !c.is_closed()) {
                return Err(TopicError::SubscriptionBusy {
                    subscription: name.to_string(),
                });
            }
            subscription.close();
            subscriptions.remove(name);
            if !subscription.is_durable() {
                self.ledger.close_non_durable_cursor(name);
                return Ok(());
            }
        }
        match self.ledger.delete_cursor(name).await {
            Ok(()) => {
                tracing::info!(topic = %self.name, subscription = name, "deleted subscription");
                Ok(())
            }
            Err(ManagedLedgerError::NoSuchCursor(_)) => {
                Err(TopicError::SubscriptionNotFound(name.to_string()))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Closes the topic: clients are told to reconnect (CLOSE_PRODUCER /
    /// CLOSE_CONSUMER), dispatchers stop, then the managed ledger closes
    /// (which flushes cursors).
    pub async fn close(&self) {
        if self.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        // Stopped first, so their cursors' last positions are stored when
        // the ledger closes.
        self.replicators.stop_all().await;
        let producers = self.producers.lock().drain(&self.name.to_string());
        for producer in producers {
            producer.close_by_broker();
        }
        let subscriptions: Vec<_> = self
            .subscriptions
            .lock()
            .await
            .drain()
            .map(|(_, s)| s)
            .collect();
        for subscription in subscriptions {
            subscription.close();
        }
        if let Err(error) = self.ledger.close().await {
            tracing::warn!(topic = %self.name, error = %error, "closing managed ledger failed");
        }
        tracing::info!(topic = %self.name, "topic closed");
    }
}

/// The topic epoch stored in the managed ledger (0 before the first
/// exclusive producer).
async fn topic_epoch(ledger: &ManagedLedger) -> u64 {
    ledger
        .properties()
        .await
        .get(TOPIC_EPOCH_PROPERTY)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Gives a promoted waiter the next epoch, stored first; if it cannot be
/// stored the waiter is refused and the next one tried.
async fn promote(
    topic: String,
    ledger: Arc<ManagedLedger>,
    producers: Arc<parking_lot::Mutex<ProducerSet>>,
    epochs: Arc<tokio::sync::Mutex<()>>,
    promoted: Promoted<Producer>,
) {
    let mut next = Some(promoted);
    while let Some((producer, attached)) = next.take() {
        let _epochs = epochs.lock().await;
        if !producers.lock().holds(&producer) {
            // Fenced (or gone) before it got its epoch: the fencer holds
            // the topic now.
            let _ = attached.send(Err(TopicError::ProducerFenced(format!(
                "{topic} was taken before producer {:?} got it",
                producer.name()
            ))));
            continue;
        }
        let epoch = topic_epoch(&ledger).await + 1;
        match ledger
            .set_property(TOPIC_EPOCH_PROPERTY, &epoch.to_string())
            .await
        {
            Ok(()) => {
                tracing::info!(%topic, producer = producer.name(), epoch, "waiting producer attached");
                if attached.send(Ok(epoch)).is_err() {
                    // Its client left meanwhile: pass the topic on.
                    next = producers.lock().remove(&producer);
                }
            }
            Err(error) => {
                let _ = attached.send(Err(error.into()));
                next = producers.lock().remove(&producer);
            }
        }
    }
}
