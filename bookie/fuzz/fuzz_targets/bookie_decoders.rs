//! Feeds arbitrary bytes to the bookie's decoders of untrusted input: the
//! entry digest frame (add bodies arrive from clients), and the record
//! framing of journals and entry logs, both as one record in memory and as
//! a whole file scanned from disk (what replay and GC do). They must only
//! ever return entries, records or errors: no panic, and a scan accounts for
//! exactly the bytes of the file.
//!
//! Each input is decoded twice: as it is, and with every checksum made
//! right, so that the checks behind the checksums are reached as well.
//!
//! Run from `bookie/` with `cargo install cargo-fuzz`, then
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run bookie_decoders -- -max_total_time=240`.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use magnetar_bookie::digest::{decode_entry, FRAME_OVERHEAD, HEADER_LEN};
use magnetar_bookie::server::record::{decode_record, scan_records};

/// Largest record body the scan accepts, as a bookie with small entries would.
const MAX_BODY_LEN: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    decode_all(data);
    decode_all(&with_record_checksums_fixed(data));
    decode_all(&with_entry_checksum_fixed(data));
});

fn decode_all(data: &[u8]) {
    let _ = decode_entry(&Bytes::copy_from_slice(data));
    let _ = decode_record(&Bytes::copy_from_slice(data));
    scan_as_file(data);
}

/// Writes `data` to a scratch file and scans it like journal replay does.
fn scan_as_file(data: &[u8]) {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("magnetar-fuzz-records-{}", std::process::id()))
    });
    std::fs::write(path, data).expect("scratch file is writable");
    let mut last_offset = None;
    let outcome = scan_records(path, 0, MAX_BODY_LEN, |_, offset| {
        assert!(last_offset.map_or(true, |last| offset > last), "offsets only grow");
        assert!(offset < data.len() as u64);
        last_offset = Some(offset);
    })
    .expect("scratch file is readable");
    assert_eq!(outcome.valid_end + outcome.dropped_bytes, data.len() as u64);
    assert_eq!(outcome.reason.is_some(), outcome.valid_end < data.len() as u64);
}

/// Walks `data` as a sequence of records and rewrites each one's CRC (the
/// 4 bytes after the length) to match its body, as far as lengths fit.
fn with_record_checksums_fixed(data: &[u8]) -> Vec<u8> {
    let mut fixed = data.to_vec();
    let mut offset = 0;
    while offset + 8 <= fixed.len() {
        let len = u32::from_be_bytes(fixed[offset..offset + 4].try_into().unwrap()) as usize;
        let Some(end) = (offset + 8).checked_add(len).filter(|end| *end <= fixed.len()) else {
            break;
        };
        let crc = crc32c::crc32c(&fixed[offset + 8..end]);
        fixed[offset + 4..offset + 8].copy_from_slice(&crc.to_be_bytes());
        offset = end;
    }
    fixed
}

/// Rewrites the digest of an entry frame (after its 32-byte header) to
/// match the header and payload.
fn with_entry_checksum_fixed(data: &[u8]) -> Vec<u8> {
    let mut fixed = data.to_vec();
    if fixed.len() >= FRAME_OVERHEAD {
        let crc = crc32c::crc32c_append(
            crc32c::crc32c(&fixed[..HEADER_LEN]),
            &fixed[FRAME_OVERHEAD..],
        );
        fixed[HEADER_LEN..FRAME_OVERHEAD].copy_from_slice(&crc.to_be_bytes());
    }
    fixed
}
