//! A bookie node: everything one `magnetar bookie` (or each bookie inside
//! `magnetar standalone`) runs, wired in one place, as `magnetar_broker::node`
//! does for the broker. The storage engine ([`crate::server`]) knows nothing
//! of the process around it; this module adds the process.
//!
//! - [`running`]: [`RunningBookie`] and [`StartOptions`]: start order,
//!   background tasks, shutdown order;
//! - [`registration`]: cluster membership, the bookie's ephemeral
//!   registration key kept current;
//! - [`http`]: the bookie's HTTP port (`/health`, `/metrics`);
//! - [`local`]: the in-process transport, through which a ledger client in
//!   the same process calls its bookies directly instead of over gRPC.
//!
//! Auto-recovery ([`crate::autorecovery`]) is spawned here when
//! [`StartOptions::autorecovery`] asks for it.

pub mod http;
pub mod local;
pub mod registration;
pub mod running;

pub use local::LocalConnector;
pub use running::{run_bookie, RunningBookie, StartOptions};
