//! A bounded, revision-ordered log of recent changes, so that watches can
//! resume from a revision they have not seen yet.
//!
//! Each retained event has a distinct revision and the log is sorted by
//! revision, so a resume point is found by binary search. When the log is
//! full the oldest event is dropped and `first_retained` moves past it; a
//! resume from before that point is [`MetadataError::Compacted`].

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::MetadataError;
use crate::store::{Result, Version, WatchEvent, WatchTarget};

/// Default number of events kept for resuming watches.
pub const DEFAULT_HISTORY_LIMIT: usize = 100_000;

#[derive(Debug, Serialize, Deserialize)]
pub struct EventHistory {
    events: VecDeque<WatchEvent>,
    limit: usize,
    /// Every event with a revision at or above this one is still in `events`.
    first_retained: Version,
}

impl EventHistory {
    pub fn new(limit: usize) -> Self {
        EventHistory {
            events: VecDeque::new(),
            limit: limit.max(1),
            first_retained: 1,
        }
    }

    /// Appends an event; its revision must exceed every retained one.
    pub fn push(&mut self, event: WatchEvent) {
        debug_assert!(self
            .events
            .back()
            .is_none_or(|last| last.revision() < event.revision()));
        self.events.push_back(event);
        while self.events.len() > self.limit {
            if let Some(dropped) = self.events.pop_front() {
                self.first_retained = dropped.revision() + 1;
            }
        }
    }

    /// The oldest revision a watch can still resume from.
    pub fn first_retained(&self) -> Version {
        self.first_retained
    }

    /// Up to `max` events with revision `>= from` that `target` matches, in
    /// revision order. [`MetadataError::Compacted`] (carrying the oldest
    /// revision still available) when `from` is older than the history.
    pub fn since(
        &self,
        from: Version,
        target: &WatchTarget,
        max: usize,
    ) -> Result<Vec<WatchEvent>> {
        let from = from.max(1);
        if from < self.first_retained {
            return Err(MetadataError::Compacted(self.first_retained));
        }
        let start = self.events.partition_point(|event| event.revision() < from);
        Ok(self
            .events
            .range(start..)
            .filter(|event| target.matches(event.key()))
            .take(max)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delete(key: &str, revision: Version) -> WatchEvent {
        WatchEvent::Delete {
            key: key.to_string(),
            revision,
        }
    }

    #[test]
    fn since_filters_by_revision_and_target() {
        let mut history = EventHistory::new(10);
        history.push(delete("/a", 1));
        history.push(delete("/b", 2));
        history.push(delete("/a/x", 3));
        let prefix = WatchTarget::Prefix("/a".to_string());
        let events = history.since(2, &prefix, 10).unwrap();
        assert_eq!(events, vec![delete("/a/x", 3)]);
        assert_eq!(history.since(1, &prefix, 1).unwrap(), vec![delete("/a", 1)]);
        assert!(history.since(4, &prefix, 10).unwrap().is_empty());
    }

    #[test]
    fn resuming_before_the_retained_window_is_compacted() {
        let mut history = EventHistory::new(2);
        for revision in 1..=5 {
            history.push(delete("/k", revision));
        }
        let key = WatchTarget::Key("/k".to_string());
        assert_eq!(history.since(3, &key, 10), Err(MetadataError::Compacted(4)));
        assert_eq!(history.since(4, &key, 10).unwrap().len(), 2);
    }
}
