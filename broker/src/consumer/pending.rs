//! What a consumer was sent and has not acknowledged (Shared and
//! Key_Shared), with its message count and the unacked limit: a consumer
//! at the limit is *blocked* until it is down to half of it, as in Pulsar.

use std::collections::HashMap;

use crate::managed_ledger::Position;

#[derive(Debug, Default)]
pub struct PendingAcks {
    /// Position -> messages in the entry.
    entries: HashMap<Position, u32>,
    messages: u64,
    /// 0: no limit.
    max_messages: u64,
    blocked: bool,
}

impl PendingAcks {
    pub fn new(max_messages: u64) -> Self {
        PendingAcks {
            max_messages,
            ..Default::default()
        }
    }

    pub fn messages(&self) -> u64 {
        self.messages
    }

    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    pub fn insert(&mut self, position: Position, messages: u32) {
        if let Some(previous) = self.entries.insert(position, messages) {
            self.messages -= u64::from(previous);
        }
        self.messages += u64::from(messages);
        if self.max_messages > 0 && self.messages >= self.max_messages {
            self.blocked = true;
        }
    }

    pub fn remove(&mut self, position: &Position) -> bool {
        match self.entries.remove(position) {
            Some(messages) => {
                self.messages -= u64::from(messages);
                true
            }
            None => false,
        }
    }

    /// Keeps only the positions `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&Position) -> bool) {
        let mut removed = 0;
        self.entries.retain(|p, n| {
            let kept = keep(p);
            if !kept {
                removed += u64::from(*n);
            }
            kept
        });
        self.messages -= removed;
    }

    /// Removes and returns every position.
    pub fn drain(&mut self) -> Vec<Position> {
        self.messages = 0;
        self.entries.drain().map(|(p, _)| p).collect()
    }

    /// Lifts the block once the consumer is down to half its limit;
    /// returns whether it did.
    pub fn unblock_if_drained(&mut self) -> bool {
        if self.blocked && self.messages <= self.max_messages / 2 {
            self.blocked = false;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_at_the_limit_and_unblocks_at_half() {
        let mut pending = PendingAcks::new(10);
        for entry_id in 0..4 {
            pending.insert(Position::new(1, entry_id), 3);
        }
        assert_eq!(pending.messages(), 12);
        assert!(pending.is_blocked());
        pending.remove(&Position::new(1, 0));
        assert!(!pending.unblock_if_drained(), "9 > 5: still blocked");
        pending.retain(|p| p.entry_id == 3);
        assert_eq!(pending.messages(), 3);
        assert!(pending.unblock_if_drained());
        assert!(!pending.is_blocked());
    }

    #[test]
    fn zero_means_no_limit() {
        let mut pending = PendingAcks::new(0);
        for entry_id in 0..1000 {
            pending.insert(Position::new(1, entry_id), 100);
        }
        assert!(!pending.is_blocked());
        assert_eq!(pending.drain().len(), 1000);
        assert_eq!(pending.messages(), 0);
    }
}
