//! The stamp every verification message carries: the run, the producer,
//! the sequence number, padding up to the requested size, and a CRC-32 over
//! all of it. A consumer can then tell an intact message of this run from
//! a corrupt one and from one this run never sent.

/// Marks a payload as a verification message, version 1.
const MAGIC: &[u8; 4] = b"MGV1";
/// Magic, run id (u64), producer (u32), sequence (u64).
const HEADER: usize = 4 + 8 + 4 + 8;
/// The smallest payload: the header and the checksum.
pub const MIN_SIZE: usize = HEADER + 4;

/// Who sent a message, in which run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub run: u64,
    pub producer: u32,
    pub seq: u64,
}

/// What a received payload turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// A message of this run, checksum intact.
    Intact { producer: u32, seq: u64 },
    /// A verification payload whose checksum does not match.
    Corrupt,
    /// Not a verification payload, or one of another run.
    Foreign,
}

/// The payload of `stamp`, `size` bytes long (at least [`MIN_SIZE`]).
pub fn encode(stamp: Stamp, size: usize) -> Vec<u8> {
    let size = size.max(MIN_SIZE);
    let mut payload = Vec::with_capacity(size);
    payload.extend_from_slice(MAGIC);
    payload.extend_from_slice(&stamp.run.to_le_bytes());
    payload.extend_from_slice(&stamp.producer.to_le_bytes());
    payload.extend_from_slice(&stamp.seq.to_le_bytes());
    // Padding that differs per message, so a payload swapped for another
    // of the same length fails the checksum.
    let fill = stamp
        .seq
        .wrapping_mul(31)
        .wrapping_add(u64::from(stamp.producer));
    payload.extend((0..size - MIN_SIZE).map(|i| (fill.wrapping_add(i as u64) % 251) as u8));
    let checksum = crc32fast::hash(&payload);
    payload.extend_from_slice(&checksum.to_le_bytes());
    payload
}

/// Reads a payload received in run `run`.
pub fn decode(payload: &[u8], run: u64) -> Decoded {
    if payload.len() < MIN_SIZE || &payload[..4] != MAGIC {
        return Decoded::Foreign;
    }
    let (body, checksum) = payload.split_at(payload.len() - 4);
    if crc32fast::hash(body).to_le_bytes() != checksum {
        return Decoded::Corrupt;
    }
    let u64_at = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&body[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    let mut producer = [0u8; 4];
    producer.copy_from_slice(&body[12..16]);
    if u64_at(4) != run {
        return Decoded::Foreign;
    }
    Decoded::Intact {
        producer: u32::from_le_bytes(producer),
        seq: u64_at(16),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: Stamp = Stamp {
        run: 7,
        producer: 3,
        seq: 1_234_567,
    };

    #[test]
    fn round_trips_at_every_size() {
        for size in [0, MIN_SIZE, MIN_SIZE + 1, 128, 4096] {
            let payload = encode(STAMP, size);
            assert_eq!(payload.len(), size.max(MIN_SIZE));
            assert_eq!(
                decode(&payload, 7),
                Decoded::Intact {
                    producer: 3,
                    seq: 1_234_567
                }
            );
        }
    }

    #[test]
    fn any_flipped_bit_is_corrupt_or_foreign() {
        let payload = encode(STAMP, 64);
        for byte in 0..payload.len() {
            let mut flipped = payload.clone();
            flipped[byte] ^= 0x10;
            let decoded = decode(&flipped, 7);
            assert!(
                matches!(decoded, Decoded::Corrupt | Decoded::Foreign),
                "byte {byte}: {decoded:?}"
            );
        }
    }

    #[test]
    fn other_runs_and_other_payloads_are_foreign() {
        assert_eq!(decode(&encode(STAMP, 64), 8), Decoded::Foreign);
        assert_eq!(decode(b"hello", 7), Decoded::Foreign);
        assert_eq!(decode(&[0u8; 64], 7), Decoded::Foreign);
        let mut truncated = encode(STAMP, 64);
        truncated.truncate(40);
        assert_eq!(decode(&truncated, 7), Decoded::Corrupt);
    }
}
