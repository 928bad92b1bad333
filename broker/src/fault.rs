//! Deliberate faults, for proving that `magnetar verify` and the fault
//! harness catch a broker that breaks its promises. Compiled in only with
//! the `fault-injection` feature (the test suite's builds); without it
//! every check here is a constant `false`.
//!
//! - `MAGNETAR_FAULT_ACK_WITHOUT_STORE_EVERY=N`: every Nth publish on this
//!   broker is answered with a receipt but never stored, the one thing a
//!   broker must never do.

/// The environment variable that turns on [`ack_without_storing`].
pub const ACK_WITHOUT_STORE_EVERY: &str = "MAGNETAR_FAULT_ACK_WITHOUT_STORE_EVERY";

/// Whether this publish is to be acknowledged without being stored.
#[cfg(feature = "fault-injection")]
pub fn ack_without_storing() -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    static EVERY: OnceLock<u64> = OnceLock::new();
    static PUBLISHES: AtomicU64 = AtomicU64::new(0);
    let every = *EVERY.get_or_init(|| {
        let every = std::env::var(ACK_WITHOUT_STORE_EVERY)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(0);
        if every > 0 {
            tracing::error!(
                every,
                "fault injection: every {every}th publish is acknowledged and NOT stored"
            );
        }
        every
    });
    every > 0 && (PUBLISHES.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(every)
}

/// Whether this publish is to be acknowledged without being stored.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn ack_without_storing() -> bool {
    false
}
