//! A topic's producers and its producer access modes (Pulsar's
//! `ProducerAccessMode`):
//!
//! | mode | admitted when | otherwise |
//! |---|---|---|
//! | Shared | no exclusive producer holds or waits for the topic | `ProducerBusy` |
//! | Exclusive | no other producer is attached or waiting | `ProducerFenced` |
//! | WaitForExclusive | as Exclusive | queued (FIFO), admitted when the holder leaves |
//! | ExclusiveWithFencing | always | — the others are closed, waiters refused |
//!
//! Names are unique per topic. [`ProducerSet`] is the pure state machine;
//! the topic persists the topic epoch that each new exclusive holder gets
//! (see `persistent.rs`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use magnetar_proto::pulsar::api::ProducerAccessMode;
use tokio::sync::oneshot;

use super::TopicError;
use crate::producer::Producer;

/// What the set needs of a producer.
pub trait Named {
    fn name(&self) -> &str;
    fn is_closed(&self) -> bool;
}

impl Named for Producer {
    fn name(&self) -> &str {
        Producer::name(self)
    }

    fn is_closed(&self) -> bool {
        Producer::is_closed(self)
    }
}

/// How a producer wants the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessMode {
    Shared,
    Exclusive,
    WaitForExclusive,
    ExclusiveWithFencing,
}

impl AccessMode {
    /// From the wire value; an unknown value is refused.
    pub fn from_wire(value: Option<i32>) -> Result<Self, TopicError> {
        match ProducerAccessMode::try_from(value.unwrap_or(0)) {
            Ok(ProducerAccessMode::Shared) => Ok(AccessMode::Shared),
            Ok(ProducerAccessMode::Exclusive) => Ok(AccessMode::Exclusive),
            Ok(ProducerAccessMode::WaitForExclusive) => Ok(AccessMode::WaitForExclusive),
            Ok(ProducerAccessMode::ExclusiveWithFencing) => Ok(AccessMode::ExclusiveWithFencing),
            Err(_) => Err(TopicError::InvalidRequest(format!(
                "unknown producer access mode {}",
                value.unwrap_or(0)
            ))),
        }
    }

    pub fn is_exclusive(self) -> bool {
        self != AccessMode::Shared
    }
}

/// What [`ProducerSet::add`] did.
#[derive(Debug)]
pub enum Admission<P = Producer> {
    /// Attached now; `fenced` are the producers it displaced (to be closed).
    Attached { fenced: Vec<Arc<P>> },
    /// Queued behind the exclusive holder: resolves with the topic epoch
    /// when it is attached, or with the reason it never will be.
    Queued(oneshot::Receiver<Result<u64, TopicError>>),
}

/// A producer attached on promotion, and the sender that tells its client.
pub type Promoted<P> = (Arc<P>, oneshot::Sender<Result<u64, TopicError>>);

struct Waiter<P> {
    producer: Arc<P>,
    attached: oneshot::Sender<Result<u64, TopicError>>,
}

/// The producers of one topic.
pub struct ProducerSet<P = Producer> {
    by_name: HashMap<String, Arc<P>>,
    /// The name of the exclusive holder, if any.
    exclusive: Option<String>,
    waiting: VecDeque<Waiter<P>>,
}

impl<P> Default for ProducerSet<P> {
    fn default() -> Self {
        ProducerSet {
            by_name: HashMap::new(),
            exclusive: None,
            waiting: VecDeque::new(),
        }
    }
}

impl<P: Named> ProducerSet<P> {
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Admits `producer` in `mode`, or says why not.
    pub fn add(
        &mut self,
        topic: &str,
        producer: Arc<P>,
        mode: AccessMode,
    ) -> Result<Admission<P>, TopicError> {
        self.forget_closed();
        if self.by_name.contains_key(producer.name())
            || self
                .waiting
                .iter()
                .any(|w| w.producer.name() == producer.name())
        {
            return Err(TopicError::ProducerBusy {
                topic: topic.to_string(),
                name: producer.name().to_string(),
            });
        }
        let held = self.exclusive.is_some() || !self.waiting.is_empty();
        let fenced = match mode {
            AccessMode::Shared if held => {
                return Err(TopicError::ProducerBusy {
                    topic: topic.to_string(),
                    name: format!("{} (the topic has an exclusive producer)", producer.name()),
                })
            }
            AccessMode::Shared => Vec::new(),
            AccessMode::Exclusive if !self.by_name.is_empty() || held => {
                return Err(TopicError::ProducerFenced(format!(
                    "{topic} already has producers; producer {:?} wants it exclusively",
                    producer.name()
                )))
            }
            AccessMode::WaitForExclusive if !self.by_name.is_empty() || held => {
                let (attached, receiver) = oneshot::channel();
                self.waiting.push_back(Waiter { producer, attached });
                return Ok(Admission::Queued(receiver));
            }
            AccessMode::Exclusive | AccessMode::WaitForExclusive => Vec::new(),
            AccessMode::ExclusiveWithFencing => {
                for waiter in self.waiting.drain(..) {
                    let _ = waiter.attached.send(Err(TopicError::ProducerFenced(format!(
                        "{topic} was taken by producer {:?} with fencing",
                        producer.name()
                    ))));
                }
                self.exclusive = None;
                self.by_name.drain().map(|(_, p)| p).collect()
            }
        };
        if mode.is_exclusive() {
            self.exclusive = Some(producer.name().to_string());
        }
        self.by_name.insert(producer.name().to_string(), producer);
        Ok(Admission::Attached { fenced })
    }

    /// Detaches `producer` (attached or waiting). When it held the topic
    /// exclusively, the first live waiter is attached and returned with
    /// the sender that tells its client.
    pub fn remove(&mut self, producer: &Arc<P>) -> Option<Promoted<P>> {
        self.waiting.retain(|w| !Arc::ptr_eq(&w.producer, producer));
        let registered = self
            .by_name
            .get(producer.name())
            .is_some_and(|p| Arc::ptr_eq(p, producer));
        if !registered {
            return None;
        }
        self.by_name.remove(producer.name());
        if self.exclusive.as_deref() != Some(producer.name()) {
            return None;
        }
        self.exclusive = None;
        self.promote()
    }

    /// Attaches the first waiter whose client is still there.
    fn promote(&mut self) -> Option<Promoted<P>> {
        while let Some(waiter) = self.waiting.pop_front() {
            if waiter.producer.is_closed() || waiter.attached.is_closed() {
                continue;
            }
            let name = waiter.producer.name().to_string();
            self.exclusive = Some(name.clone());
            self.by_name.insert(name, waiter.producer.clone());
            return Some((waiter.producer, waiter.attached));
        }
        None
    }

    /// Whether `producer` holds the topic exclusively now.
    pub fn holds(&self, producer: &Arc<P>) -> bool {
        self.exclusive.as_deref() == Some(producer.name())
            && self
                .by_name
                .get(producer.name())
                .is_some_and(|p| Arc::ptr_eq(p, producer))
            && !producer.is_closed()
    }

    /// The attached producers.
    pub fn attached(&self) -> Vec<Arc<P>> {
        self.by_name.values().cloned().collect()
    }

    /// Everything, for closing the topic: attached producers, and waiters
    /// (refused).
    pub fn drain(&mut self, topic: &str) -> Vec<Arc<P>> {
        for waiter in self.waiting.drain(..) {
            let _ = waiter
                .attached
                .send(Err(TopicError::Closing(topic.to_string())));
        }
        self.exclusive = None;
        self.by_name.drain().map(|(_, p)| p).collect()
    }

    /// Producers closed without being removed yet no longer count, except
    /// the exclusive holder: its removal passes the topic to a waiter.
    fn forget_closed(&mut self) {
        let closed: Vec<String> = self
            .by_name
            .iter()
            .filter(|(name, p)| p.is_closed() && self.exclusive.as_deref() != Some(name.as_str()))
            .map(|(name, _)| name.clone())
            .collect();
        for name in closed {
            self.by_name.remove(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    const T: &str = "persistent://public/default/t";

    #[derive(Debug)]
    struct Fake {
        name: String,
        closed: AtomicBool,
    }

    impl Named for Fake {
        fn name(&self) -> &str {
            &self.name
        }

        fn is_closed(&self) -> bool {
            self.closed.load(Ordering::Relaxed)
        }
    }

    fn producer(_id: u64, name: &str) -> Arc<Fake> {
        Arc::new(Fake {
            name: name.to_string(),
            closed: AtomicBool::new(false),
        })
    }

    fn attached(result: Result<Admission<Fake>, TopicError>) -> Vec<Arc<Fake>> {
        match result {
            Ok(Admission::Attached { fenced }) => fenced,
            other => panic!("expected attached, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn shared_producers_coexist_and_names_are_unique() {
        let mut set = ProducerSet::default();
        attached(set.add(T, producer(1, "a"), AccessMode::Shared));
        attached(set.add(T, producer(2, "b"), AccessMode::Shared));
        assert!(matches!(
            set.add(T, producer(3, "a"), AccessMode::Shared),
            Err(TopicError::ProducerBusy { .. })
        ));
        assert!(matches!(
            set.add(T, producer(4, "x"), AccessMode::Exclusive),
            Err(TopicError::ProducerFenced(_))
        ));
        assert_eq!(set.len(), 2);
    }

    #[tokio::test]
    async fn an_exclusive_producer_keeps_shared_ones_out() {
        let mut set = ProducerSet::default();
        let holder = producer(1, "x");
        attached(set.add(T, holder.clone(), AccessMode::Exclusive));
        assert!(matches!(
            set.add(T, producer(2, "s"), AccessMode::Shared),
            Err(TopicError::ProducerBusy { .. })
        ));
        assert!(set.remove(&holder).is_none());
        attached(set.add(T, producer(3, "s"), AccessMode::Shared));
    }

    #[tokio::test]
    async fn waiters_are_attached_in_order_when_the_holder_leaves() {
        let mut set = ProducerSet::default();
        let holder = producer(1, "x");
        attached(set.add(T, holder.clone(), AccessMode::WaitForExclusive));
        let first = producer(2, "w1");
        let Ok(Admission::Queued(_first_ready)) =
            set.add(T, first.clone(), AccessMode::WaitForExclusive)
        else {
            panic!("expected queued")
        };
        let Ok(Admission::Queued(_second_ready)) =
            set.add(T, producer(3, "w2"), AccessMode::WaitForExclusive)
        else {
            panic!("expected queued")
        };
        // Waiters hold the topic too: a shared producer stays out.
        assert!(set.add(T, producer(4, "s"), AccessMode::Shared).is_err());
        let (promoted, _) = set.remove(&holder).expect("first waiter promoted");
        assert!(Arc::ptr_eq(&promoted, &first));
        assert_eq!(set.len(), 1);
    }

    #[tokio::test]
    async fn a_waiter_whose_client_left_is_skipped() {
        let mut set = ProducerSet::default();
        let holder = producer(1, "x");
        attached(set.add(T, holder.clone(), AccessMode::Exclusive));
        let gone = producer(2, "gone");
        let Ok(Admission::Queued(ready)) = set.add(T, gone.clone(), AccessMode::WaitForExclusive)
        else {
            panic!("expected queued")
        };
        drop(ready);
        let next = producer(3, "next");
        let Ok(Admission::Queued(_ready)) = set.add(T, next.clone(), AccessMode::WaitForExclusive)
        else {
            panic!("expected queued")
        };
        let (promoted, _) = set.remove(&holder).expect("promoted");
        assert!(Arc::ptr_eq(&promoted, &next));
    }

    #[tokio::test]
    async fn a_closed_holder_still_passes_the_topic_on() {
        let mut set = ProducerSet::default();
        let holder = producer(1, "x");
        attached(set.add(T, holder.clone(), AccessMode::Exclusive));
        let waiter = producer(2, "w");
        let Ok(Admission::Queued(_ready)) =
            set.add(T, waiter.clone(), AccessMode::WaitForExclusive)
        else {
            panic!("expected queued")
        };
        // Closed, not yet removed: another add in between must not strand
        // the waiter.
        holder.closed.store(true, Ordering::Relaxed);
        assert!(set.add(T, producer(3, "s"), AccessMode::Shared).is_err());
        let (promoted, _) = set.remove(&holder).expect("the waiter takes over");
        assert!(Arc::ptr_eq(&promoted, &waiter));
        assert!(set.holds(&waiter));
    }

    #[tokio::test]
    async fn fencing_displaces_everyone() {
        let mut set = ProducerSet::default();
        attached(set.add(T, producer(1, "a"), AccessMode::Shared));
        attached(set.add(T, producer(2, "b"), AccessMode::Shared));
        let fenced = attached(set.add(T, producer(3, "f"), AccessMode::ExclusiveWithFencing));
        assert_eq!(fenced.len(), 2);
        assert_eq!(set.len(), 1);
        let Ok(Admission::Queued(waiting)) =
            set.add(T, producer(4, "w"), AccessMode::WaitForExclusive)
        else {
            panic!("expected queued")
        };
        let fenced = attached(set.add(T, producer(5, "g"), AccessMode::ExclusiveWithFencing));
        assert_eq!(fenced.len(), 1);
        assert!(matches!(
            waiting.await,
            Ok(Err(TopicError::ProducerFenced(_)))
        ));
    }

    #[tokio::test]
    async fn unknown_wire_modes_are_refused() {
        assert_eq!(AccessMode::from_wire(None).unwrap(), AccessMode::Shared);
        assert_eq!(
            AccessMode::from_wire(Some(3)).unwrap(),
            AccessMode::ExclusiveWithFencing
        );
        assert!(AccessMode::from_wire(Some(9)).is_err());
    }
}
