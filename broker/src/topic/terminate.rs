//! Terminating a topic, as Pulsar does: its managed ledger ends at its last
//! entry for good (stored with the ledger list, so a restart or a move of
//! the topic keeps it terminated). Producers are disconnected and new ones
//! refused (`TopicTerminatedError`); consumers go on reading, and each
//! subscription's dispatcher tells its consumers once they have everything
//! (`REACHED_END_OF_TOPIC`, see `dispatch/end_of_topic.rs`).

use crate::managed_ledger::Position;

use super::{PersistentTopic, TopicError};

impl PersistentTopic {
    /// Terminates the topic and returns the position of its last entry
    /// (`(L, -1)` when it holds none). Terminating a terminated topic
    /// returns the same position.
    pub async fn terminate(&self) -> Result<Position, TopicError> {
        if self.is_closing() {
            return Err(TopicError::Closing(self.name().to_string()));
        }
        let already = self.ledger().is_terminated();
        let position = self.ledger().terminate().await?;
        if !already {
            tracing::info!(topic = %self.name(), %position, "topic terminated");
        }
        // Also on a repeat: a producer may have slipped in meanwhile.
        self.disconnect_producers();
        for subscription in self.subscriptions().await {
            subscription.dispatcher().topic_terminated();
        }
        Ok(position)
    }

    /// Refuses producers on a terminated topic.
    pub(super) fn check_not_terminated(&self) -> Result<(), TopicError> {
        if self.ledger().is_terminated() {
            return Err(TopicError::Terminated(self.name().to_string()));
        }
        Ok(())
    }
}
