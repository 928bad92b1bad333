//! Decoded Pulsar frames and the message body they carry.
//!
//! A *message body* is `[metadata size u32][MessageMetadata][payload]`: the
//! part of a payload frame covered by the checksum. The broker stores it as
//! the managed-ledger entry verbatim and sends it back verbatim in `MESSAGE`
//! frames, so batches stay packed and compressed payloads are never touched.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;

use super::api::{BaseCommand, MessageMetadata};
use super::error::FrameError;

/// Marks the start of the checksummed section of a payload frame.
pub const MAGIC_CRC32C: u16 = 0x0e01;

/// One frame on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `[total size][command size][BaseCommand]`.
    Command(BaseCommand),
    /// A command followed by a message body (`SEND`, `MESSAGE`).
    Payload(PayloadFrame),
}

impl Frame {
    pub fn command(&self) -> &BaseCommand {
        match self {
            Frame::Command(command) => command,
            Frame::Payload(frame) => &frame.command,
        }
    }

    /// The command, without any message body.
    pub fn into_command(self) -> BaseCommand {
        match self {
            Frame::Command(command) => command,
            Frame::Payload(frame) => frame.command,
        }
    }
}

impl From<BaseCommand> for Frame {
    fn from(command: BaseCommand) -> Self {
        Frame::Command(command)
    }
}

/// A command plus its message body.
///
/// The decoder does not reject checksum mismatches itself: it keeps the
/// checksum found in the frame so that the receiver can answer one bad
/// message (`SendError(ChecksumError)`) without dropping the connection.
/// The encoder always computes a fresh checksum over `body`.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadFrame {
    pub command: BaseCommand,
    /// `[metadata size][metadata][payload]`, validated to be well-sized.
    pub body: Bytes,
    /// Checksum as received; `None` for frames built locally.
    pub received_checksum: Option<u32>,
}

impl PayloadFrame {
    /// A frame to send: its checksum is computed when it is encoded.
    pub fn new(command: BaseCommand, body: Bytes) -> Self {
        Self {
            command,
            body,
            received_checksum: None,
        }
    }

    /// Checks the received checksum against the body.
    pub fn verify_checksum(&self) -> Result<(), FrameError> {
        let Some(expected) = self.received_checksum else {
            return Ok(());
        };
        let computed = crc32c::crc32c(&self.body);
        if computed == expected {
            Ok(())
        } else {
            Err(FrameError::ChecksumMismatch { expected, computed })
        }
    }

    pub fn metadata(&self) -> Result<MessageMetadata, FrameError> {
        decode_metadata(&self.body)
    }
}

/// Builds a message body from metadata and payload.
pub fn encode_body(metadata: &MessageMetadata, payload: &[u8]) -> Bytes {
    let metadata_len = metadata.encoded_len();
    let mut buf = BytesMut::with_capacity(4 + metadata_len + payload.len());
    buf.put_u32(metadata_len as u32);
    // Encoding into a BytesMut grows it as needed and cannot fail.
    metadata
        .encode(&mut buf)
        .expect("BytesMut grows on demand, so encoding has room");
    buf.put_slice(payload);
    buf.freeze()
}

/// Splits a message body into (metadata bytes, payload bytes).
pub fn split_body(body: &Bytes) -> Result<(Bytes, Bytes), FrameError> {
    let mut cursor = &body[..];
    if cursor.remaining() < 4 {
        return Err(FrameError::Truncated(
            "message body shorter than its size field",
        ));
    }
    let metadata_len = cursor.get_u32() as usize;
    if metadata_len > cursor.remaining() {
        return Err(FrameError::Truncated("metadata size exceeds message body"));
    }
    let metadata = body.slice(4..4 + metadata_len);
    let payload = body.slice(4 + metadata_len..);
    Ok((metadata, payload))
}

/// Decodes the metadata of a message body.
pub fn decode_metadata(body: &Bytes) -> Result<MessageMetadata, FrameError> {
    let (metadata, _) = split_body(body)?;
    MessageMetadata::decode(metadata).map_err(FrameError::MalformedMetadata)
}

/// Number of messages a stored entry holds (1 unless it is a batch).
pub fn messages_in_body(body: &Bytes) -> Result<u32, FrameError> {
    let metadata = decode_metadata(body)?;
    Ok(metadata.num_messages_in_batch.unwrap_or(1).max(1) as u32)
}
