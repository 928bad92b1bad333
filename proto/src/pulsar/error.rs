//! Why a frame could not be decoded (or encoded).
//!
//! Every variant except [`FrameError::ChecksumMismatch`] means the byte stream
//! can no longer be trusted and the connection must be closed. A checksum
//! mismatch is reported per message ([`super::PayloadFrame::verify_checksum`])
//! so a broker can refuse one `SEND` and keep the connection.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FrameError {
    /// The frame declares more bytes than the configured limit.
    #[error("frame of {size} bytes exceeds the {limit}-byte limit")]
    FrameTooLarge { size: usize, limit: usize },
    /// Sizes inside the frame do not add up, or the stream ended mid-frame.
    #[error("truncated frame: {0}")]
    Truncated(&'static str),
    /// A payload frame without the `0x0e01` checksum marker.
    #[error("bad magic number {0:#06x} (expected 0x0e01)")]
    BadMagic(u16),
    /// The crc32c over metadata size, metadata and payload does not match.
    #[error("checksum mismatch: frame says {expected:#010x}, computed {computed:#010x}")]
    ChecksumMismatch { expected: u32, computed: u32 },
    /// The `BaseCommand` protobuf does not decode.
    #[error("malformed command: {0}")]
    MalformedCommand(prost::DecodeError),
    /// The `MessageMetadata` protobuf does not decode.
    #[error("malformed message metadata: {0}")]
    MalformedMetadata(prost::DecodeError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl FrameError {
    /// Whether the connection can keep going after this error.
    pub fn is_recoverable(&self) -> bool {
        matches!(self, FrameError::ChecksumMismatch { .. })
    }
}
