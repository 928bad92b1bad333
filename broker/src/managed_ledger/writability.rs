//! Whether a managed ledger can write, as the outside sees it (topic
//! stats, metrics, `/health`): [`Writability`]. The writer task is the only
//! writer of it (through [`super::monitor`]); everyone else reads a copy.

/// The write path's state, coarsely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WritabilityState {
    /// Adds go to a fully replicated ledger.
    #[default]
    Writable,
    /// Adds are confirmed, but new entries skip some bookies of the ensemble
    /// (each is stored on fewer than the write quorum, at least the ack quorum).
    Degraded,
    /// No ledger can be written: adds are held, then fail with
    /// [`super::ManagedLedgerError::NotWritable`].
    NotWritable,
}

/// A snapshot of a managed ledger's write path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Writability {
    pub state: WritabilityState,
    /// Why the state is not `Writable`; `None` while it is.
    pub reason: Option<String>,
    /// Since when (milliseconds since the Unix epoch) the state holds; `None` while writable.
    pub since_ms: Option<u64>,
    /// Bookies the current ledger writes without (degraded).
    pub missing_bookies: Vec<String>,
    /// Adds waiting for a writable ledger.
    pub held_adds: usize,
    /// Adds failed since the managed ledger was opened here.
    pub failed_adds: u64,
}

impl Writability {
    /// Whether adds are being confirmed now (possibly degraded).
    pub fn is_writable(&self) -> bool {
        self.state != WritabilityState::NotWritable
    }

    pub fn is_degraded(&self) -> bool {
        self.state == WritabilityState::Degraded
    }
}
