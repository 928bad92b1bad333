//! Delayed delivery (Shared and Key_Shared): entries whose metadata carries
//! a `deliver_at_time` in the future are held here, ordered by that time,
//! and released to the replay set when it comes.
//!
//! Only `(time, position)` is kept, 24 bytes plus the B-tree's share per
//! delayed entry, never the entry itself. Nothing is persisted: delayed
//! entries are unacknowledged, so after a restart or a move of the topic the
//! dispatcher reads them again from the cursor and holds them again.

use std::collections::BTreeSet;

use magnetar_proto::pulsar::decode_metadata;

use crate::managed_ledger::{Entry, Position};

#[derive(Debug, Default)]
pub struct DelayedTracker {
    by_time: BTreeSet<(u64, Position)>,
}

impl DelayedTracker {
    /// Holds `entry` if its delivery time is after `now_millis`; returns
    /// whether it did.
    pub fn hold(&mut self, entry: &Entry, now_millis: u64) -> bool {
        let Ok(metadata) = decode_metadata(&entry.data) else {
            return false;
        };
        self.hold_at(entry.position, metadata.deliver_at_time, now_millis)
    }

    /// As [`Self::hold`], for a caller that has decoded the metadata.
    pub fn hold_at(
        &mut self,
        position: Position,
        deliver_at: Option<i64>,
        now_millis: u64,
    ) -> bool {
        match deliver_at {
            Some(at) if at > 0 && at as u64 > now_millis => {
                self.by_time.insert((at as u64, position));
                true
            }
            _ => false,
        }
    }

    /// Removes and returns the entries due at `now_millis`, oldest first.
    pub fn take_due(&mut self, now_millis: u64) -> Vec<Position> {
        let later = self
            .by_time
            .split_off(&(now_millis.saturating_add(1), Position::new(0, i64::MIN)));
        let due = std::mem::replace(&mut self.by_time, later);
        let mut positions: Vec<Position> = due.into_iter().map(|(_, p)| p).collect();
        positions.sort();
        positions
    }

    /// When the next held entry is due (milliseconds since the Unix epoch).
    pub fn next_due(&self) -> Option<u64> {
        self.by_time.first().map(|(at, _)| *at)
    }

    pub fn len(&self) -> usize {
        self.by_time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_time.is_empty()
    }

    pub fn clear(&mut self) {
        self.by_time.clear();
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use magnetar_proto::pulsar::api::MessageMetadata;
    use magnetar_proto::pulsar::encode_body;

    use super::*;

    fn entry(entry_id: i64, deliver_at: Option<i64>) -> Entry {
        let metadata = MessageMetadata {
            producer_name: "p".to_string(),
            sequence_id: entry_id as u64,
            publish_time: 1,
            deliver_at_time: deliver_at,
            ..Default::default()
        };
        Entry {
            position: Position::new(1, entry_id),
            data: encode_body(&metadata, b"x"),
        }
    }

    #[test]
    fn holds_only_future_entries_and_releases_them_in_time_order() {
        let mut tracker = DelayedTracker::default();
        assert!(!tracker.hold(&entry(0, None), 1_000));
        assert!(!tracker.hold(&entry(1, Some(900)), 1_000), "already due");
        assert!(tracker.hold(&entry(2, Some(3_000)), 1_000));
        assert!(tracker.hold(&entry(3, Some(2_000)), 1_000));
        assert_eq!(tracker.next_due(), Some(2_000));
        assert!(tracker.take_due(1_999).is_empty());
        assert_eq!(tracker.take_due(2_000), vec![Position::new(1, 3)]);
        assert_eq!(tracker.take_due(10_000), vec![Position::new(1, 2)]);
        assert!(tracker.is_empty());
    }

    /// The memory cost of 1,000,000 delayed messages (resident set growth;
    /// docs/benchmarks.md). Run with `--run-ignored only`.
    #[test]
    #[ignore]
    fn memory_of_a_million_delayed_messages() {
        fn resident_bytes() -> u64 {
            let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
            let pages: u64 = statm
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            pages * 4096
        }
        let template = entry(0, Some(i64::MAX / 2));
        let before = resident_bytes();
        let mut tracker = DelayedTracker::default();
        for entry_id in 0..1_000_000 {
            let entry = Entry {
                position: Position::new(1 + entry_id as u64 / 50_000, entry_id % 50_000),
                data: template.data.clone(),
            };
            assert!(tracker.hold(&entry, 0));
        }
        let grown = resident_bytes().saturating_sub(before);
        println!(
            "BENCH delayed messages: {} held, resident set grew {:.1} MB, {:.1} bytes per message",
            tracker.len(),
            grown as f64 / 1e6,
            grown as f64 / tracker.len() as f64
        );
        assert_eq!(tracker.len(), 1_000_000);
    }

    #[test]
    fn unreadable_metadata_is_delivered_at_once() {
        let mut tracker = DelayedTracker::default();
        let garbage = Entry {
            position: Position::new(1, 0),
            data: Bytes::from_static(b"\x00\x00\x00\x09abc"),
        };
        assert!(!tracker.hold(&garbage, 0));
    }
}
