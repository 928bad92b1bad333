//! Entry body framing shared by the ledger client and the bookie server.
//!
//! Every entry body sent to a bookie is
//! `header (32 bytes) || crc32c (4 bytes, big-endian) || payload`, where the
//! header is four big-endian `i64`: ledger id, entry id, the writer's LAC when
//! the entry was sent, and the ledger's cumulative length including this
//! entry. The CRC32C covers header and payload, so a reader detects both a
//! corrupted payload and an entry stored under the wrong id.
//!
//! The *master key* sent with adds and fencing reads is
//! `SHA-1("ledger" || password)`: bookies remember it on the first add and
//! refuse later requests carrying a different key.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

/// Bytes of the fixed header (four `i64`).
pub const HEADER_LEN: usize = 32;
/// Bytes of the CRC32C that follows the header.
pub const CHECKSUM_LEN: usize = 4;
/// Header plus checksum: the framing overhead of every entry.
pub const FRAME_OVERHEAD: usize = HEADER_LEN + CHECKSUM_LEN;
/// Length of a master key (a SHA-1 digest).
pub const MASTER_KEY_LEN: usize = 20;

/// Why an entry body could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DigestError {
    #[error("entry body of {0} bytes is shorter than the {FRAME_OVERHEAD}-byte frame")]
    TooShort(usize),
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch { stored: u32, computed: u32 },
}

/// A verified entry body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedEntry {
    pub ledger_id: i64,
    pub entry_id: i64,
    /// The writer's last add confirmed when it sent this entry.
    pub lac: i64,
    /// Cumulative ledger length including this entry.
    pub length: i64,
    pub payload: Bytes,
}

/// Frames `payload` as entry `entry_id` of `ledger_id`.
pub fn encode_entry(
    ledger_id: i64,
    entry_id: i64,
    lac: i64,
    cumulative_length: i64,
    payload: &[u8],
) -> Bytes {
    let mut body = BytesMut::with_capacity(FRAME_OVERHEAD + payload.len());
    body.put_i64(ledger_id);
    body.put_i64(entry_id);
    body.put_i64(lac);
    body.put_i64(cumulative_length);
    let mut crc = crc32c::crc32c(&body[..HEADER_LEN]);
    crc = crc32c::crc32c_append(crc, payload);
    body.put_u32(crc);
    body.put_slice(payload);
    body.freeze()
}

/// Verifies the checksum of `body` and splits it into header fields and payload.
pub fn decode_entry(body: &Bytes) -> Result<DecodedEntry, DigestError> {
    if body.len() < FRAME_OVERHEAD {
        return Err(DigestError::TooShort(body.len()));
    }
    let mut header = &body[..FRAME_OVERHEAD];
    let ledger_id = header.get_i64();
    let entry_id = header.get_i64();
    let lac = header.get_i64();
    let length = header.get_i64();
    let stored = header.get_u32();
    let computed =
        crc32c::crc32c_append(crc32c::crc32c(&body[..HEADER_LEN]), &body[FRAME_OVERHEAD..]);
    if stored != computed {
        return Err(DigestError::ChecksumMismatch { stored, computed });
    }
    Ok(DecodedEntry {
        ledger_id,
        entry_id,
        lac,
        length,
        payload: body.slice(FRAME_OVERHEAD..),
    })
}

/// `SHA-1("ledger" || password)`, the key bookies check on adds and fences.
pub fn master_key(password: &[u8]) -> Bytes {
    let mut hasher = sha1_smol::Sha1::new();
    hasher.update(b"ledger");
    hasher.update(password);
    Bytes::copy_from_slice(&hasher.digest().bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_every_field() {
        let body = encode_entry(7, 42, 41, 1000, b"hello");
        assert_eq!(body.len(), FRAME_OVERHEAD + 5);
        let decoded = decode_entry(&body).unwrap();
        assert_eq!(
            decoded,
            DecodedEntry {
                ledger_id: 7,
                entry_id: 42,
                lac: 41,
                length: 1000,
                payload: Bytes::from_static(b"hello")
            }
        );
    }

    #[test]
    fn flipped_payload_bit_is_detected() {
        let mut body = encode_entry(1, 0, -1, 3, b"abc").to_vec();
        let last = body.len() - 1;
        body[last] ^= 0x01;
        assert!(matches!(
            decode_entry(&Bytes::from(body)),
            Err(DigestError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn flipped_header_bit_is_detected() {
        let mut body = encode_entry(1, 0, -1, 3, b"abc").to_vec();
        body[15] ^= 0x01; // entry id
        assert!(matches!(
            decode_entry(&Bytes::from(body)),
            Err(DigestError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn short_body_is_refused() {
        assert_eq!(
            decode_entry(&Bytes::from_static(b"short")),
            Err(DigestError::TooShort(5))
        );
    }

    #[test]
    fn master_key_is_sha1_of_prefixed_password() {
        let key = master_key(b"");
        assert_eq!(key.len(), MASTER_KEY_LEN);
        assert_ne!(master_key(b"a"), master_key(b"b"));
        assert_eq!(master_key(b"pw"), master_key(b"pw"));
    }
}
