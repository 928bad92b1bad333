//! The writer's queue of adds that are sent but not yet confirmed to the
//! caller, and the ordering rule: an add is *completed* once `Qa` bookies of
//! its write set acked it, but it is *confirmed* (its future resolved, LAC
//! advanced) only when every earlier add was confirmed. Completed adds wait at
//! the head of the queue for their predecessors.
//!
//! Pure bookkeeping, no I/O: the writer task owns one and feeds it acks.

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::client::write_set::Quorum;
use crate::ledger::{EntryId, LedgerError};

/// Where the result of one `LedgerWriter::append` goes.
pub type AppendReply = oneshot::Sender<Result<EntryId, LedgerError>>;

/// One add in flight, waiting for the ack quorum of its write set.
pub struct QuorumAdd {
    pub entry_id: EntryId,
    /// The digest-framed body, kept to re-send it to a replacement bookie.
    pub body: Bytes,
    /// Cumulative ledger length including this entry.
    pub cumulative_length: u64,
    /// Ensemble indices that acked this add.
    acked: BTreeSet<usize>,
    reply: Option<AppendReply>,
}

impl QuorumAdd {
    pub fn new(
        entry_id: EntryId,
        body: Bytes,
        cumulative_length: u64,
        reply: Option<AppendReply>,
    ) -> Self {
        QuorumAdd {
            entry_id,
            body,
            cumulative_length,
            acked: BTreeSet::new(),
            reply,
        }
    }
}

/// An add that left the queue confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirmed {
    pub entry_id: EntryId,
    pub cumulative_length: u64,
}

/// The ordered queue of pending adds.
pub struct AddQueue {
    quorum: Quorum,
    pending: VecDeque<QuorumAdd>,
}

impl AddQueue {
    pub fn new(quorum: Quorum) -> Self {
        AddQueue {
            quorum,
            pending: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Appends an add; entry ids must be consecutive.
    pub fn push(&mut self, add: QuorumAdd) {
        debug_assert!(self
            .pending
            .back()
            .is_none_or(|last| last.entry_id + 1 == add.entry_id));
        self.pending.push_back(add);
    }

    fn find_mut(&mut self, entry_id: EntryId) -> Option<&mut QuorumAdd> {
        let first = self.pending.front()?.entry_id;
        let offset = usize::try_from(entry_id - first).ok()?;
        self.pending.get_mut(offset)
    }

    /// Records an ack from ensemble index `index`. Acks from bookies outside
    /// the entry's write set, or for entries no longer pending, are ignored.
    pub fn ack(&mut self, entry_id: EntryId, index: usize) {
        let quorum = self.quorum;
        if let Some(add) = self.find_mut(entry_id) {
            if quorum.holds(index, entry_id) {
                add.acked.insert(index);
            }
        }
    }

    /// Forgets every ack from `index` (its bookie was replaced) and returns
    /// the adds that must be re-sent to the replacement: `(entry_id, body)` of
    /// every pending add whose write set contains `index`.
    pub fn reset_index(&mut self, index: usize) -> Vec<(EntryId, Bytes)> {
        let quorum = self.quorum;
        self.pending
            .iter_mut()
            .filter(|add| quorum.holds(index, add.entry_id))
            .map(|add| {
                add.acked.remove(&index);
                (add.entry_id, add.body.clone())
            })
            .collect()
    }

    /// Pops the completed adds at the head of the queue, resolving their
    /// futures in entry order. Stops at the first add lacking its ack quorum.
    /// `publish` sees each add *before* its future resolves, so a caller whose
    /// add is confirmed never reads an older LAC.
    pub fn confirm_completed_head(&mut self, mut publish: impl FnMut(Confirmed)) -> Vec<Confirmed> {
        let mut confirmed = Vec::new();
        while self
            .pending
            .front()
            .is_some_and(|head| head.acked.len() >= self.quorum.ack)
        {
            let Some(mut head) = self.pending.pop_front() else {
                break;
            };
            let done = Confirmed {
                entry_id: head.entry_id,
                cumulative_length: head.cumulative_length,
            };
            publish(done);
            if let Some(reply) = head.reply.take() {
                let _ = reply.send(Ok(head.entry_id));
            }
            confirmed.push(done);
        }
        confirmed
    }

    /// Fails every pending add with `error` and empties the queue.
    pub fn fail_all(&mut self, error: &LedgerError) {
        for mut add in self.pending.drain(..) {
            if let Some(reply) = add.reply.take() {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue_with(
        quorum: Quorum,
        entries: std::ops::Range<EntryId>,
    ) -> (
        AddQueue,
        Vec<oneshot::Receiver<Result<EntryId, LedgerError>>>,
    ) {
        let mut queue = AddQueue::new(quorum);
        let mut receivers = Vec::new();
        for entry_id in entries {
            let (reply, receiver) = oneshot::channel();
            queue.push(QuorumAdd::new(
                entry_id,
                Bytes::new(),
                entry_id as u64 + 1,
                Some(reply),
            ));
            receivers.push(receiver);
        }
        (queue, receivers)
    }

    #[test]
    fn completed_entries_wait_for_their_predecessors() {
        let (mut queue, mut receivers) = queue_with(Quorum::new(3, 3, 2), 0..3);
        queue.ack(1, 0);
        queue.ack(1, 1);
        queue.ack(2, 2);
        queue.ack(2, 0);
        assert!(
            queue.confirm_completed_head(|_| {}).is_empty(),
            "entry 0 has no acks yet"
        );
        assert!(receivers[1].try_recv().is_err());
        queue.ack(0, 2);
        assert!(
            queue.confirm_completed_head(|_| {}).is_empty(),
            "one ack is below Qa"
        );
        queue.ack(0, 1);
        let confirmed: Vec<_> = queue
            .confirm_completed_head(|_| {})
            .iter()
            .map(|c| c.entry_id)
            .collect();
        assert_eq!(confirmed, vec![0, 1, 2]);
        for (expected, receiver) in receivers.iter_mut().enumerate() {
            assert_eq!(receiver.try_recv().unwrap(), Ok(expected as EntryId));
        }
    }

    #[test]
    fn progress_is_published_before_the_add_resolves() {
        let (mut queue, mut receivers) = queue_with(Quorum::new(3, 3, 2), 0..2);
        for entry in 0..2 {
            queue.ack(entry, 0);
            queue.ack(entry, 1);
        }
        let mut published = Vec::new();
        queue.confirm_completed_head(|confirmed| {
            let receiver = &mut receivers[confirmed.entry_id as usize];
            assert!(
                receiver.try_recv().is_err(),
                "add resolved before its LAC was published"
            );
            published.push(confirmed.entry_id);
        });
        assert_eq!(published, vec![0, 1]);
        for (expected, receiver) in receivers.iter_mut().enumerate() {
            assert_eq!(receiver.try_recv().unwrap(), Ok(expected as EntryId));
        }
    }

    #[test]
    fn acks_outside_the_write_set_do_not_count() {
        // E=3, Qw=2: entry 0 lives on {0,1}; index 2 must not count.
        let (mut queue, _receivers) = queue_with(Quorum::new(3, 2, 2), 0..1);
        queue.ack(0, 2);
        queue.ack(0, 0);
        assert!(queue.confirm_completed_head(|_| {}).is_empty());
        queue.ack(0, 1);
        assert_eq!(queue.confirm_completed_head(|_| {}).len(), 1);
    }

    #[test]
    fn resetting_an_index_discards_its_acks_and_lists_resends() {
        let (mut queue, _receivers) = queue_with(Quorum::new(3, 2, 2), 0..3);
        queue.ack(0, 0);
        queue.ack(0, 1);
        let resend: Vec<_> = queue
            .reset_index(1)
            .into_iter()
            .map(|(entry, _)| entry)
            .collect();
        assert_eq!(
            resend,
            vec![0, 1],
            "index 1 holds entries 0 and 1 with E=3, Qw=2"
        );
        assert!(
            queue.confirm_completed_head(|_| {}).is_empty(),
            "the ack of the replaced bookie is gone"
        );
    }

    #[test]
    fn fail_all_answers_everyone() {
        let (mut queue, mut receivers) = queue_with(Quorum::new(2, 2, 1), 5..7);
        queue.fail_all(&LedgerError::Fenced(1));
        assert!(queue.is_empty());
        for receiver in receivers.iter_mut() {
            assert_eq!(receiver.try_recv().unwrap(), Err(LedgerError::Fenced(1)));
        }
    }
}
