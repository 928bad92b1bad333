//! Magnetar's wire formats.
//!
//! - [`bookie`]: the internal gRPC service between ledger clients and bookies.
//! - [`grpc_tls`]: TLS settings of the internal gRPC links, from PEM files.
//! - [`metadata`]: the Raft metadata nodes' gRPC service.
//! - [`pulsar`]: the Pulsar binary protocol spoken by clients and brokers.
//!
//! The wire formats are independent of each other: none imports another.

/// The bookie gRPC service (`proto/bookie.proto`).
pub mod bookie {
    tonic::include_proto!("magnetar.bookie.v1");

    /// A client closes an [`AddBatch`] once its bodies reach this many bytes,
    /// so a batch holds at most this much plus one entry; bookies size their
    /// message limit by it.
    pub const ADD_BATCH_CLOSE_BYTES: usize = 1024 * 1024;
}

/// The metadata-node gRPC service of the embedded Raft store (`proto/metadata.proto`).
pub mod metadata {
    tonic::include_proto!("magnetar.metadata.v1");
}

pub mod grpc_tls;
pub mod pulsar;
