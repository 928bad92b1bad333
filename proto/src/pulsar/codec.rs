//! `tokio-util` codec for Pulsar frames.
//!
//! Wire layout (all integers big-endian):
//!
//! ```text
//! simple:  [total u32][command size u32][BaseCommand]
//! payload: [total u32][command size u32][BaseCommand]
//!          [magic 0x0e01 u16][crc32c u32][metadata size u32][MessageMetadata][payload]
//! ```
//!
//! `total` counts every byte after itself. The crc32c covers everything after
//! the checksum field. Frames whose `total` exceeds the limit are refused
//! before any of their bytes are buffered, so a peer cannot make us allocate
//! more than one frame's worth. The decoder never panics on input: every size
//! is checked before it is used.

use bytes::{Buf, BufMut, BytesMut};
use prost::Message;
use tokio_util::codec::{Decoder, Encoder};

use super::api::BaseCommand;
use super::error::FrameError;
use super::frame::{Frame, PayloadFrame, MAGIC_CRC32C};

/// Largest message (metadata + payload) accepted by default: 5 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 5 * 1024 * 1024;

/// Room for the command and framing around a maximum-size message.
pub const FRAME_PADDING: usize = 10 * 1024;

/// Bytes of `[magic][crc32c]` in a payload frame.
const CHECKSUM_HEADER_LEN: usize = 2 + 4;

/// Encodes and decodes [`Frame`]s. Used by both ends of a connection.
#[derive(Debug, Clone)]
pub struct PulsarCodec {
    max_frame_size: usize,
}

impl Default for PulsarCodec {
    fn default() -> Self {
        Self::with_max_message_size(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl PulsarCodec {
    /// A codec whose frame limit is `max_message_size + FRAME_PADDING`.
    pub fn with_max_message_size(max_message_size: usize) -> Self {
        Self {
            max_frame_size: max_message_size.saturating_add(FRAME_PADDING),
        }
    }

    /// Limit on `total` (the bytes after the leading size field).
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    fn decode_frame(&self, mut frame: bytes::Bytes) -> Result<Frame, FrameError> {
        if frame.remaining() < 4 {
            return Err(FrameError::Truncated(
                "frame shorter than its command size field",
            ));
        }
        let command_len = frame.get_u32() as usize;
        if command_len > frame.remaining() {
            return Err(FrameError::Truncated("command size exceeds frame"));
        }
        let command = BaseCommand::decode(frame.split_to(command_len))
            .map_err(FrameError::MalformedCommand)?;
        if !frame.has_remaining() {
            return Ok(Frame::Command(command));
        }
        if frame.remaining() < CHECKSUM_HEADER_LEN + 4 {
            return Err(FrameError::Truncated(
                "payload section shorter than its header",
            ));
        }
        let magic = frame.get_u16();
        if magic != MAGIC_CRC32C {
            return Err(FrameError::BadMagic(magic));
        }
        let checksum = frame.get_u32();
        let metadata_len = (&frame[..4]).get_u32() as usize;
        if metadata_len > frame.remaining() - 4 {
            return Err(FrameError::Truncated("metadata size exceeds frame"));
        }
        Ok(Frame::Payload(PayloadFrame {
            command,
            body: frame,
            received_checksum: Some(checksum),
        }))
    }
}

impl Decoder for PulsarCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let total = (&src[..4]).get_u32() as usize;
        if total > self.max_frame_size {
            return Err(FrameError::FrameTooLarge {
                size: total,
                limit: self.max_frame_size,
            });
        }
        if src.len() < 4 + total {
            src.reserve(4 + total - src.len());
            return Ok(None);
        }
        src.advance(4);
        let frame = src.split_to(total).freeze();
        self.decode_frame(frame).map(Some)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated("connection closed mid-frame")),
        }
    }
}

impl Encoder<Frame> for PulsarCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let (command, body) = match &frame {
            Frame::Command(command) => (command, None),
            Frame::Payload(payload) => (&payload.command, Some(&payload.body)),
        };
        let command_len = command.encoded_len();
        let payload_len = body.map_or(0, |body| CHECKSUM_HEADER_LEN + body.len());
        let total = 4 + command_len + payload_len;
        if total > self.max_frame_size {
            return Err(FrameError::FrameTooLarge {
                size: total,
                limit: self.max_frame_size,
            });
        }
        dst.reserve(4 + total);
        dst.put_u32(total as u32);
        dst.put_u32(command_len as u32);
        command
            .encode(dst)
            .expect("space for the command was reserved above");
        if let Some(body) = body {
            dst.put_u16(MAGIC_CRC32C);
            dst.put_u32(crc32c::crc32c(body));
            dst.put_slice(body);
        }
        Ok(())
    }
}
