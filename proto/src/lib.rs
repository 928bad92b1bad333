//! Magnetar's wire formats.
//!
//! - [`bookie`]: the internal gRPC service between ledger clients and bookies.
//! - [`pulsar`]: the Pulsar binary protocol spoken by clients and brokers.

/// The bookie gRPC service (`proto/bookie.proto`).
pub mod bookie {
    tonic::include_proto!("magnetar.bookie.v1");
}

pub mod pulsar;
