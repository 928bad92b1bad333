//! The value types of the writer task's state machine: which state the write
//! path is in ([`WriterState`]), the retry schedule of ledger creation
//! ([`RetryBackoff`]) and the adds held while no ledger is writable
//! ([`HeldAdds`]).
//!
//! States:
//! - `Writing`: a ledger writer takes adds.
//! - `RolloverDue`: the current ledger is full, but fewer bookies are
//!   writable than a new ledger needs; adds keep going to the current ledger
//!   and the rollover is re-checked at `next_try`.
//! - `NoWriter`: no ledger writer (an add failed, or creation failed at
//!   open); adds are held in call order up to a deadline, and creation is
//!   retried at `next_try`, on a timer only.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::error::ManagedLedgerError;
use super::position::Position;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, ManagedLedgerError>>;

/// First retry delay of ledger creation and of a postponed rollover.
pub(crate) const RETRY_INITIAL: Duration = Duration::from_millis(500);
/// Longest retry delay (before jitter).
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WriterState {
    Writing,
    RolloverDue {
        next_try: Instant,
    },
    NoWriter {
        since: Instant,
        reason: String,
        /// Creation attempts in this episode.
        attempts: u32,
        next_try: Instant,
    },
}

impl WriterState {
    pub fn is_writable(&self) -> bool {
        !matches!(self, WriterState::NoWriter { .. })
    }
}

/// Exponential backoff with ±20 % jitter: `initial`, doubling up to `max`.
#[derive(Debug, Clone)]
pub(crate) struct RetryBackoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl RetryBackoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        RetryBackoff {
            initial,
            max,
            next: initial,
        }
    }

    /// The delay before the next try; later delays double.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay.mul_f64(rand::thread_rng().gen_range(0.8..=1.2))
    }

    /// Back to the initial delay (after a success).
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// An add waiting for a writable ledger.
pub(crate) struct HeldAdd {
    pub data: Bytes,
    pub reply: Reply<Position>,
    pub deadline: Instant,
}

/// Held adds in call order. Every add gets the same timeout, so deadlines
/// never decrease from front to back.
#[derive(Default)]
pub(crate) struct HeldAdds {
    queue: VecDeque<HeldAdd>,
}

impl HeldAdds {
    pub fn push(&mut self, add: HeldAdd) {
        self.queue.push_back(add);
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// When the oldest held add expires.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.front().map(|add| add.deadline)
    }

    /// Takes the adds whose deadline passed, oldest first.
    pub fn take_expired(&mut self, now: Instant) -> Vec<HeldAdd> {
        let expired = self
            .queue
            .iter()
            .take_while(|add| add.deadline <= now)
            .count();
        self.queue.drain(..expired).collect()
    }

    /// Takes every held add, oldest first.
    pub fn take_all(&mut self) -> Vec<HeldAdd> {
        self.queue.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_bounded_jitter_and_resets() {
        let mut backoff = RetryBackoff::new(RETRY_INITIAL, RETRY_MAX);
        let delays: Vec<Duration> = (0..10).map(|_| backoff.next_delay()).collect();
        let mut nominal = RETRY_INITIAL;
        for delay in &delays {
            assert!(*delay >= nominal.mul_f64(0.8) && *delay <= nominal.mul_f64(1.2));
            nominal = (nominal * 2).min(RETRY_MAX);
        }
        assert!(delays[9] >= RETRY_MAX.mul_f64(0.8));
        backoff.reset();
        assert!(backoff.next_delay() <= RETRY_INITIAL.mul_f64(1.2));
    }

    #[tokio::test(start_paused = true)]
    async fn held_adds_expire_oldest_first() {
        let mut held = HeldAdds::default();
        let start = Instant::now();
        let mut receivers = Vec::new();
        for i in 0..3u64 {
            let (reply, rx) = oneshot::channel();
            receivers.push(rx);
            held.push(HeldAdd {
                data: Bytes::from(vec![i as u8]),
                reply,
                deadline: start + Duration::from_secs(i + 1),
            });
        }
        assert_eq!(held.next_deadline(), Some(start + Duration::from_secs(1)));
        let expired = held.take_expired(start + Duration::from_secs(2));
        assert_eq!(
            expired.iter().map(|a| a.data[0]).collect::<Vec<_>>(),
            [0, 1]
        );
        assert_eq!(held.len(), 1);
        assert_eq!(held.take_all().len(), 1);
        assert!(held.is_empty());
    }
}
