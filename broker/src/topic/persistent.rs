//! A persistent topic: its managed ledger, its producers (unique by name)
//! and its subscriptions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::consumer::{Consumer, SubscriptionType};
use crate::dispatch::DispatchConfig;
use crate::managed_ledger::{InitialPosition, ManagedLedger, Position};
use crate::producer::Producer;
use crate::traffic::TopicTraffic;

use super::{Subscription, TopicError, TopicName};

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
    producers: parking_lot::Mutex<HashMap<String, Arc<Producer>>>,
    /// Async lock: creating a subscription opens a cursor.
    subscriptions: tokio::sync::Mutex<HashMap<String, Arc<Subscription>>>,
    closing: AtomicBool,
    traffic: Arc<TopicTraffic>,
    dispatch: DispatchConfig,
}

impl PersistentTopic {
    pub fn new(name: TopicName, ledger: Arc<ManagedLedger>, dispatch: DispatchConfig) -> Self {
        PersistentTopic {
            name,
            ledger,
            producers: parking_lot::Mutex::new(HashMap::new()),
            subscriptions: tokio::sync::Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
            traffic: Arc::default(),
            dispatch,
        }
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

    /// Registers a producer; names are unique per topic.
    pub fn add_producer(&self, producer: Arc<Producer>) -> Result<(), TopicError> {
        self.check_open()?;
        let mut producers = self.producers.lock();
        if let Some(existing) = producers.get(producer.name()) {
            if !existing.is_closed() {
                return Err(TopicError::ProducerBusy {
                    topic: self.name.to_string(),
                    name: producer.name().to_string(),
                });
            }
        }
        producers.insert(producer.name().to_string(), producer);
        Ok(())
    }

    /// Unregisters `producer` (only if it is the one registered under its name).
    pub fn remove_producer(&self, producer: &Arc<Producer>) {
        let mut producers = self.producers.lock();
        if producers
            .get(producer.name())
            .is_some_and(|p| Arc::ptr_eq(p, producer))
        {
            producers.remove(producer.name());
        }
    }

    pub fn producer_count(&self) -> usize {
        self.producers.lock().len()
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

    /// Closes the topic: clients are told to reconnect (CLOSE_PRODUCER /
    /// CLOSE_CONSUMER), dispatchers stop, then the managed ledger closes
    /// (which flushes cursors).
    pub async fn close(&self) {
        if self.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        let producers: Vec<_> = self.producers.lock().drain().map(|(_, p)| p).collect();
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
