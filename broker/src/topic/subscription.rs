//! A subscription: a managed cursor plus the dispatcher that feeds the
//! subscription's consumers from it. Durable subscriptions outlive their
//! consumers; a non-durable one (a reader) ends with its last consumer.

use std::sync::Arc;

use crate::consumer::{Consumer, SubscriptionType};
use crate::dispatch::{DispatchConfig, Dispatcher};
use crate::managed_ledger::{ManagedCursor, ManagedLedger};

pub struct Subscription {
    name: String,
    cursor: Arc<ManagedCursor>,
    dispatcher: parking_lot::Mutex<Arc<Dispatcher>>,
    ledger: Arc<ManagedLedger>,
    partition: Option<u32>,
    config: DispatchConfig,
}

impl Subscription {
    pub fn new(
        name: String,
        mode: SubscriptionType,
        cursor: Arc<ManagedCursor>,
        ledger: Arc<ManagedLedger>,
        partition: Option<u32>,
        config: DispatchConfig,
    ) -> Self {
        let dispatcher = Dispatcher::start(
            mode,
            name.clone(),
            cursor.clone(),
            ledger.clone(),
            partition,
            config,
        );
        Subscription {
            name,
            cursor,
            dispatcher: parking_lot::Mutex::new(dispatcher),
            ledger,
            partition,
            config,
        }
    }

    /// A reader's subscription: it is forgotten when its consumer leaves.
    pub fn is_durable(&self) -> bool {
        self.cursor.is_durable()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn cursor(&self) -> &Arc<ManagedCursor> {
        &self.cursor
    }

    pub fn dispatcher(&self) -> Arc<Dispatcher> {
        self.dispatcher.lock().clone()
    }

    pub fn consumers(&self) -> Vec<Arc<Consumer>> {
        self.dispatcher().consumers()
    }

    /// Attaches a consumer. A subscription without consumers takes the type
    /// of whoever subscribes next; one with consumers refuses other types.
    pub fn add_consumer(
        &self,
        mode: SubscriptionType,
        consumer: Arc<Consumer>,
    ) -> Result<(), super::TopicError> {
        let mut dispatcher = self.dispatcher.lock();
        if dispatcher.mode() != mode {
            if dispatcher.consumers().iter().any(|c| !c.is_closed()) {
                return Err(super::TopicError::SubscriptionTypeMismatch {
                    subscription: self.name.clone(),
                    existing: dispatcher.mode().as_str(),
                    requested: mode.as_str(),
                });
            }
            dispatcher.stop();
            // What the old dispatcher had read but not delivered for good
            // (its replay set, its consumers' unacknowledged entries) must
            // be read again by the new one.
            self.cursor.rewind();
            *dispatcher = Dispatcher::start(
                mode,
                self.name.clone(),
                self.cursor.clone(),
                self.ledger.clone(),
                self.partition,
                self.config,
            );
        }
        Ok(dispatcher.add_consumer(consumer)?)
    }

    /// Stops dispatching and closes every consumer from the broker side.
    pub fn close(&self) {
        let dispatcher = self.dispatcher();
        dispatcher.stop();
        for consumer in dispatcher.consumers() {
            consumer.close_by_broker();
        }
    }
}
