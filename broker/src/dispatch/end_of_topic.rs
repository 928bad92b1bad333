//! The end of a terminated topic: once the managed ledger is terminated
//! and the subscription has everything, each consumer is told, once
//! (`REACHED_END_OF_TOPIC`). A durable subscription has everything when
//! nothing is left unacknowledged (its mark-delete position is the
//! terminated position); a reader's when it has read everything and
//! nothing waits for redelivery, acknowledged or not.
//!
//! The dispatcher task checks whenever it goes idle: after its last read,
//! after acks (which wake it on a terminated topic), when a consumer joins
//! (so one subscribing later still hears it) and when the topic is
//! terminated ([`Dispatcher::topic_terminated`]).

use super::Dispatcher;

impl Dispatcher {
    /// The topic was just terminated: check whether the subscription is
    /// already at its end.
    pub fn topic_terminated(&self) {
        self.wake.notify_one();
    }

    /// Tells every consumer the end is reached, if it is.
    pub(super) fn notify_if_end_reached(&self) {
        if !self.ledger.is_terminated() {
            return;
        }
        let consumers = {
            let state = self.state.lock();
            if !state.replay.is_empty() || state.consumers.is_empty() {
                return;
            }
            state.consumers.clone()
        };
        let reached = if self.cursor.is_durable() {
            self.cursor.backlog() == 0
        } else {
            !self.cursor.has_more_entries()
        };
        if reached {
            for consumer in consumers {
                consumer.notify_end_of_topic();
            }
        }
    }
}
