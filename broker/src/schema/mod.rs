//! The schema registry: the schema versions of each topic, stored in the
//! metadata store (`registry.rs`), their types (`kind.rs`), and the
//! compatibility check a new version must pass (`compat.rs`, Avro schema
//! resolution through `apache-avro` for AVRO and JSON).
//!
//! Producers register their schema (or get the version of an identical
//! one), consumers are checked against it, and messages carry the version
//! they were written with in their metadata (set by the client, stored
//! verbatim), so consumers and readers learn it from each message.

mod compat;
mod kind;
mod registry;

use thiserror::Error;

pub use compat::SchemaDefinition;
pub use kind::{split_key_value, SchemaKind};
pub use registry::{schema_key, SchemaRegistry, StoredSchema, SCHEMAS_ROOT};

use crate::namespace::NamespaceError;

#[derive(Debug, Error)]
pub enum SchemaError {
    /// The definition does not parse for its type.
    #[error("invalid schema: {0}")]
    Invalid(String),
    /// The strategy refuses the new schema.
    #[error("incompatible schema: {0}")]
    Incompatible(String),
    /// Writers kept racing on the topic's schemas.
    #[error("the schemas of {0} changed concurrently; retry")]
    Conflict(String),
    #[error("corrupt schemas under {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error(transparent)]
    Namespace(NamespaceError),
    #[error("metadata: {0}")]
    Metadata(#[from] magnetar_metadata::MetadataError),
}

/// A schema version on the wire: 8 bytes, big endian (Pulsar's form).
pub fn version_bytes(version: u64) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(&version.to_be_bytes())
}

/// The version a client names; `None` when the bytes are not a version.
pub fn parse_version(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}
