//! [`ConditionLog`]: logging of a condition that lasts (a managed ledger
//! that cannot write, a postponed rollover, an under-replicated ledger)
//! without a line per event: one WARN when it starts, at most one WARN
//! reminder per [`REMINDER_INTERVAL`] while it lasts (with the events
//! counted since it started), one INFO when it ends.
//!
//! Time is `tokio::time::Instant`, so tests drive it with paused time.

use std::time::Duration;

use tokio::time::Instant;

/// Shortest gap between two lines about one ongoing condition.
pub(crate) const REMINDER_INTERVAL: Duration = Duration::from_secs(60);

/// Which line (if any) a call emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Logged {
    Nothing,
    Entered,
    Reminded,
    Exited,
}

/// One rate-limited condition of one subject.
pub(crate) struct ConditionLog {
    subject: String,
    condition: &'static str,
    /// What the counted events are, e.g. "adds failed".
    events_name: &'static str,
    active: Option<Episode>,
}

struct Episode {
    since: Instant,
    last_line: Instant,
    events: u64,
}

impl ConditionLog {
    pub fn new(subject: &str, condition: &'static str, events_name: &'static str) -> Self {
        ConditionLog {
            subject: subject.to_string(),
            condition,
            events_name,
            active: None,
        }
    }

    /// The condition holds at `now`: a WARN if it just started, or a
    /// reminder if the last line is [`REMINDER_INTERVAL`] old; else nothing.
    /// `detail` is only built when a line is written.
    pub fn holds(&mut self, now: Instant, detail: impl FnOnce() -> String) -> Logged {
        match &mut self.active {
            None => {
                self.active = Some(Episode {
                    since: now,
                    last_line: now,
                    events: 0,
                });
                tracing::warn!(
                    managed_ledger = %self.subject,
                    "managed ledger {} {}: {}",
                    self.subject,
                    self.condition,
                    detail()
                );
                Logged::Entered
            }
            Some(episode) if now.duration_since(episode.last_line) >= REMINDER_INTERVAL => {
                episode.last_line = now;
                tracing::warn!(
                    managed_ledger = %self.subject,
                    "managed ledger {} still {} after {} ({} {}): {}",
                    self.subject,
                    self.condition,
                    format_duration(now.duration_since(episode.since)),
                    episode.events,
                    self.events_name,
                    detail()
                );
                Logged::Reminded
            }
            Some(_) => Logged::Nothing,
        }
    }

    /// Counts `n` events of the ongoing condition (ignored when none is).
    pub fn count(&mut self, n: u64) {
        if let Some(episode) = &mut self.active {
            episode.events += n;
        }
    }

    /// The condition ended at `now`: one INFO line if it was active.
    pub fn cleared(&mut self, now: Instant) -> Logged {
        let Some(episode) = self.active.take() else {
            return Logged::Nothing;
        };
        tracing::info!(
            managed_ledger = %self.subject,
            "managed ledger {} no longer {} after {} ({} {})",
            self.subject,
            self.condition,
            format_duration(now.duration_since(episode.since)),
            episode.events,
            self.events_name
        );
        Logged::Exited
    }
}

/// `4.2s`, `3m12s`, `2h05m`: short enough for a log line.
pub(crate) fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_warning_then_at_most_one_reminder_per_minute() {
        let mut log = ConditionLog::new("t", "not writable", "adds failed");
        let mut lines = Vec::new();
        // The condition is re-asserted every second for ten minutes.
        for _ in 0..600 {
            log.count(3);
            lines.push(log.holds(Instant::now(), || "no bookies".into()));
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(lines[0], Logged::Entered);
        let entered = lines.iter().filter(|l| **l == Logged::Entered).count();
        let reminders = lines.iter().filter(|l| **l == Logged::Reminded).count();
        assert_eq!(entered, 1);
        assert!(reminders <= 10, "{reminders} reminders in 10 minutes");
        assert!(reminders >= 9, "reminders keep coming: {reminders}");
        assert_eq!(log.cleared(Instant::now()), Logged::Exited);
        assert_eq!(log.cleared(Instant::now()), Logged::Nothing);
        // A new episode warns again at once.
        assert_eq!(log.holds(Instant::now(), String::new), Logged::Entered);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(Duration::from_millis(4200)), "4.2s");
        assert_eq!(format_duration(Duration::from_secs(192)), "3m12s");
        assert_eq!(format_duration(Duration::from_secs(7500)), "2h05m");
    }
}
