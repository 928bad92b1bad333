//! A sub-millisecond timer for the `magnetar perf` load generators.
//!
//! Tokio's timer wheel has a 1 ms tick and rounds every deadline up to the
//! next tick, so a "1 ms" batch delay in a load generator really lasts 1–2 ms
//! and a 10,000/s pace becomes bursts of ten once a millisecond. Both would
//! be charged to the server as latency. [`PreciseTimer`] keeps one thread
//! that sleeps on the OS's high-resolution timer instead and wakes each
//! waiter at its deadline (tens of microseconds late at most).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Within this of a deadline the timer thread takes over from tokio's
/// timer, which may wake up to one 1 ms tick late.
const COARSE_MARGIN: Duration = Duration::from_millis(2);

/// A deadline and who waits for it.
struct Waiter {
    deadline: Instant,
    sequence: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.sequence) == (other.deadline, other.sequence)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.sequence).cmp(&(other.deadline, other.sequence))
    }
}

/// Handle to the timer thread; the thread ends when the handle is dropped.
pub struct PreciseTimer {
    requests: mpsc::Sender<(Instant, oneshot::Sender<()>)>,
}

impl PreciseTimer {
    pub fn start() -> std::io::Result<Self> {
        let (requests, incoming) = mpsc::channel();
        std::thread::Builder::new()
            .name("perf-timer".into())
            .spawn(move || run(incoming))?;
        Ok(PreciseTimer { requests })
    }

    /// Resolves at `deadline`. Deadlines already past resolve at once.
    ///
    /// The far part of a wait uses tokio's timer, and only the last
    /// [`COARSE_MARGIN`] goes to the timer thread. Load loops re-arm a wait
    /// on every turn and mostly drop it unfired (a receipt came first); a
    /// far deadline dropped that way costs the timer thread nothing.
    pub async fn sleep_until(&self, deadline: Instant) {
        if let Some(coarse_until) = deadline.checked_sub(COARSE_MARGIN) {
            if coarse_until > Instant::now() {
                tokio::time::sleep_until(coarse_until.into()).await;
            }
        }
        if deadline <= Instant::now() {
            return;
        }
        let (wake, woken) = oneshot::channel();
        if self.requests.send((deadline, wake)).is_err() {
            // The thread is gone (it cannot panic short of OOM): fall back
            // to tokio's coarser timer rather than never waking.
            tokio::time::sleep_until(deadline.into()).await;
            return;
        }
        let _ = woken.await;
    }
}

fn run(incoming: mpsc::Receiver<(Instant, oneshot::Sender<()>)>) {
    let mut waiting: BinaryHeap<Reverse<Waiter>> = BinaryHeap::new();
    let mut sequence = 0u64;
    loop {
        let now = Instant::now();
        while waiting
            .peek()
            .is_some_and(|Reverse(first)| first.deadline <= now)
        {
            if let Some(Reverse(due)) = waiting.pop() {
                let _ = due.wake.send(());
            }
        }
        let next = match waiting.peek() {
            Some(Reverse(first)) => incoming.recv_timeout(first.deadline - now),
            None => incoming.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok((deadline, wake)) => {
                sequence += 1;
                waiting.push(Reverse(Waiter {
                    deadline,
                    sequence,
                    wake,
                }));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn wakes_in_deadline_order_and_not_early() {
        let timer = PreciseTimer::start().unwrap();
        let start = Instant::now();
        let late = timer.sleep_until(start + Duration::from_millis(3));
        let early = timer.sleep_until(start + Duration::from_micros(300));
        tokio::pin!(late);
        tokio::select! {
            _ = &mut late => panic!("the later deadline fired first"),
            _ = early => {}
        }
        assert!(start.elapsed() >= Duration::from_micros(300));
        late.await;
        assert!(start.elapsed() >= Duration::from_millis(3));
    }
}
