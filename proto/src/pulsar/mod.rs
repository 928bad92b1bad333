//! The Pulsar binary protocol: generated messages ([`api`]), the frame codec
//! ([`PulsarCodec`]) and helpers to build commands.

pub mod codec;
pub mod commands;
pub mod error;
pub mod frame;
pub mod url;

#[cfg(test)]
mod codec_tests;

/// Messages generated from `proto/PulsarApi.proto` (package `pulsar.proto`).
#[allow(clippy::all, missing_docs)]
pub mod api {
    include!(concat!(env!("OUT_DIR"), "/pulsar.proto.rs"));
}

pub use codec::{PulsarCodec, DEFAULT_MAX_MESSAGE_SIZE, FRAME_PADDING};
pub use error::FrameError;
pub use frame::{
    decode_metadata, encode_body, messages_in_body, split_body, Frame, PayloadFrame, MAGIC_CRC32C,
};
pub use url::service_address;

/// The newest protocol version this implementation speaks.
pub const PROTOCOL_VERSION: i32 = api::ProtocolVersion::V21 as i32;
