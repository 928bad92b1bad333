//! The self-describing record framing shared by journal files and entry logs.
//!
//! ```text
//! len: u32 BE | crc32c: u32 BE | kind: u8 | ledger_id: u64 BE | entry_id: i64 BE | data
//! ```
//! `len` counts the bytes after the CRC (kind, ids, data); the CRC covers the
//! same bytes. A reader that meets a short read, an implausible length or a
//! CRC mismatch stops there: everything from that offset on is treated as a
//! torn or corrupt tail (see [`scan_records`]).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

/// Bytes before the data: len, crc, kind, ledger id, entry id.
pub const RECORD_HEADER_LEN: usize = 4 + 4 + BODY_FIXED_LEN;
/// Bytes of the CRC-covered part that precede the data.
const BODY_FIXED_LEN: usize = 1 + 8 + 8;

/// Why bytes are not a good record. A scan stops at the first one: from
/// there on the file is a torn or corrupt tail.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("record of {len} bytes is shorter than its header")]
    ShorterThanHeader { len: usize },
    #[error("record length {body_len} does not fit the {len} bytes read")]
    LengthMismatch { body_len: usize, len: usize },
    #[error("record body of {0} bytes is shorter than its fixed part")]
    ShortBody(usize),
    #[error("crc mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    #[error("truncated record header: {0}")]
    TruncatedHeader(io::ErrorKind),
    #[error("truncated record body: {0}")]
    TruncatedBody(io::ErrorKind),
    #[error("zero-filled record header")]
    ZeroFilled,
    #[error("implausible record length {0}")]
    ImplausibleLength(usize),
}

/// What a record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordKind {
    /// A digest-framed entry body.
    Entry = 1,
    /// The master key of a ledger, written on its first add or fence.
    MasterKey = 2,
    /// The ledger was fenced.
    Fence = 3,
    /// An explicit LAC (data: 8 bytes BE).
    Lac = 4,
}

impl RecordKind {
    fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(RecordKind::Entry),
            2 => Some(RecordKind::MasterKey),
            3 => Some(RecordKind::Fence),
            4 => Some(RecordKind::Lac),
            _ => None,
        }
    }
}

/// One framed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: RecordKind,
    pub ledger_id: u64,
    pub entry_id: i64,
    pub data: Bytes,
}

impl Record {
    pub fn entry(ledger_id: u64, entry_id: i64, body: Bytes) -> Self {
        Record {
            kind: RecordKind::Entry,
            ledger_id,
            entry_id,
            data: body,
        }
    }

    pub fn master_key(ledger_id: u64, key: Bytes) -> Self {
        Record {
            kind: RecordKind::MasterKey,
            ledger_id,
            entry_id: -1,
            data: key,
        }
    }

    pub fn fence(ledger_id: u64) -> Self {
        Record {
            kind: RecordKind::Fence,
            ledger_id,
            entry_id: -1,
            data: Bytes::new(),
        }
    }

    /// Bytes this record occupies once framed.
    pub fn framed_len(&self) -> usize {
        RECORD_HEADER_LEN + self.data.len()
    }

    /// The record's framing, to be followed by its data: `[body length]
    /// [CRC32C of the body][kind][ledger id][entry id]`, the CRC covering
    /// the fixed fields and the data. Writing the two parts one after the
    /// other spares a copy of the data into one buffer.
    pub fn header(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut header = [0u8; RECORD_HEADER_LEN];
        let body_len = BODY_FIXED_LEN + self.data.len();
        header[0..4].copy_from_slice(&(body_len as u32).to_be_bytes());
        header[8] = self.kind as u8;
        header[9..17].copy_from_slice(&self.ledger_id.to_be_bytes());
        header[17..25].copy_from_slice(&self.entry_id.to_be_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&header[8..]), &self.data);
        header[4..8].copy_from_slice(&crc.to_be_bytes());
        header
    }

    /// Appends the framed record to `buf`.
    pub fn encode_into(&self, buf: &mut BytesMut) {
        buf.reserve(self.framed_len());
        buf.put_slice(&self.header());
        buf.put_slice(&self.data);
    }

    /// Checks the CRC-covered part of a record and reads its fixed fields
    /// into a record whose data is `data`, the caller's handle on
    /// `body[BODY_FIXED_LEN..]`.
    fn decode_body(
        body: &[u8],
        stored_crc: u32,
        data: impl FnOnce() -> Bytes,
    ) -> Result<Record, RecordError> {
        if body.len() < BODY_FIXED_LEN {
            return Err(RecordError::ShortBody(body.len()));
        }
        let computed = crc32c::crc32c(body);
        if computed != stored_crc {
            return Err(RecordError::CrcMismatch {
                stored: stored_crc,
                computed,
            });
        }
        let kind = RecordKind::from_u8(body[0]).ok_or(RecordError::UnknownKind(body[0]))?;
        let ledger_id = u64::from_be_bytes(body[1..9].try_into().expect("slice of 8 bytes"));
        let entry_id = i64::from_be_bytes(body[9..17].try_into().expect("slice of 8 bytes"));
        Ok(Record {
            kind,
            ledger_id,
            entry_id,
            data: data(),
        })
    }
}

/// Decodes one record from the start of `buf` (an in-memory read of a
/// single record, e.g. an entry-log read at a known offset). The record's
/// data is a slice of `buf`, not a copy.
pub fn decode_record(buf: &Bytes) -> Result<Record, RecordError> {
    if buf.len() < RECORD_HEADER_LEN {
        return Err(RecordError::ShorterThanHeader { len: buf.len() });
    }
    let body_len = u32::from_be_bytes(buf[0..4].try_into().expect("slice of 4 bytes")) as usize;
    let stored_crc = u32::from_be_bytes(buf[4..8].try_into().expect("slice of 4 bytes"));
    if body_len < BODY_FIXED_LEN || buf.len() < 8 + body_len {
        return Err(RecordError::LengthMismatch {
            body_len,
            len: buf.len(),
        });
    }
    Record::decode_body(&buf[8..8 + body_len], stored_crc, || {
        buf.slice(8 + BODY_FIXED_LEN..8 + body_len)
    })
}

/// How a scan of a record file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOutcome {
    /// Offset just after the last good record.
    pub valid_end: u64,
    /// Bytes after `valid_end` (torn or corrupt tail).
    pub dropped_bytes: u64,
    /// Why the tail was dropped, when it was.
    pub reason: Option<RecordError>,
    /// The scan stopped at an all-zero record header: in a preallocated
    /// journal file, the unused rest of the file rather than damage.
    pub zero_filled: bool,
}

/// Reads records of `path` from `start` on, calling `visit(record, offset)`
/// for each good one, and stops at end of file or at the first truncated,
/// implausible (`len > max_body_len`) or CRC-failing record.
pub fn scan_records(
    path: &Path,
    start: u64,
    max_body_len: usize,
    mut visit: impl FnMut(Record, u64),
) -> io::Result<ScanOutcome> {
    let mut file = File::open(path)?;
    let file_len = file.metadata()?.len();
    file.seek(SeekFrom::Start(start))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut offset = start;
    let mut body = Vec::new();
    let mut zero_filled = false;
    let reason = loop {
        if offset == file_len {
            break None;
        }
        let mut head = [0u8; 8];
        if let Err(err) = reader.read_exact(&mut head) {
            break Some(RecordError::TruncatedHeader(err.kind()));
        }
        let body_len =
            u32::from_be_bytes(head[0..4].try_into().expect("slice of 4 bytes")) as usize;
        let stored_crc = u32::from_be_bytes(head[4..8].try_into().expect("slice of 4 bytes"));
        if head == [0u8; 8] {
            zero_filled = true;
            break Some(RecordError::ZeroFilled);
        }
        if !(BODY_FIXED_LEN..=max_body_len).contains(&body_len) {
            break Some(RecordError::ImplausibleLength(body_len));
        }
        body.resize(body_len, 0);
        if let Err(err) = reader.read_exact(&mut body) {
            break Some(RecordError::TruncatedBody(err.kind()));
        }
        // The buffer is reused for the next record: the record keeps a copy.
        let data = || Bytes::copy_from_slice(&body[BODY_FIXED_LEN..]);
        match Record::decode_body(&body, stored_crc, data) {
            Ok(record) => {
                visit(record, offset);
                offset += (8 + body_len) as u64;
            }
            Err(reason) => break Some(reason),
        }
    };
    Ok(ScanOutcome {
        valid_end: offset,
        dropped_bytes: file_len.saturating_sub(offset),
        reason,
        zero_filled,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn framed(records: &[Record]) -> BytesMut {
        let mut buf = BytesMut::new();
        for record in records {
            record.encode_into(&mut buf);
        }
        buf
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let record = Record::entry(9, 3, Bytes::from_static(b"payload"));
        let buf = framed(std::slice::from_ref(&record));
        assert_eq!(buf.len(), record.framed_len());
        assert_eq!(decode_record(&buf.freeze()).unwrap(), record);
    }

    #[test]
    fn scan_stops_at_flipped_byte_and_reports_the_tail() {
        let records = [
            Record::entry(1, 0, Bytes::from_static(b"a")),
            Record::fence(1),
            Record::entry(1, 1, Bytes::from_static(b"bb")),
        ];
        let mut buf = framed(&records);
        let second_at = records[0].framed_len();
        buf[second_at + 10] ^= 0xff;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path).unwrap().write_all(&buf).unwrap();
        let mut seen = Vec::new();
        let outcome = scan_records(&path, 0, 1024, |r, _| seen.push(r)).unwrap();
        assert_eq!(seen, vec![records[0].clone()]);
        assert_eq!(outcome.valid_end, second_at as u64);
        assert_eq!(outcome.dropped_bytes, (buf.len() - second_at) as u64);
        assert!(outcome.reason.is_some());
    }

    #[test]
    fn scan_stops_at_truncated_tail() {
        let records = [
            Record::entry(1, 0, Bytes::from_static(b"abc")),
            Record::entry(1, 1, Bytes::from_static(b"def")),
        ];
        let buf = framed(&records);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path)
            .unwrap()
            .write_all(&buf[..buf.len() - 2])
            .unwrap();
        let mut seen = Vec::new();
        let outcome = scan_records(&path, 0, 1024, |r, _| seen.push(r)).unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(outcome.valid_end, records[0].framed_len() as u64);
        assert!(!outcome.zero_filled);
    }

    #[test]
    fn scan_reports_a_zero_filled_rest_apart_from_damage() {
        let records = [Record::entry(1, 0, Bytes::from_static(b"abc"))];
        let mut buf = framed(&records);
        let written = buf.len();
        buf.resize(written + 4096, 0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path).unwrap().write_all(&buf).unwrap();
        let outcome = scan_records(&path, 0, 1024, |_, _| {}).unwrap();
        assert_eq!(outcome.valid_end, written as u64);
        assert!(outcome.zero_filled);
        // A record whose body was only partly written is damage, zeros or not.
        buf[written - 1] = 0;
        File::create(&path).unwrap().write_all(&buf).unwrap();
        let outcome = scan_records(&path, 0, 1024, |_, _| {}).unwrap();
        assert_eq!(outcome.valid_end, 0);
        assert!(!outcome.zero_filled);
    }
}
