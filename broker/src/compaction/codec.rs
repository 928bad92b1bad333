//! Payload decompression, so that compaction can look into compressed
//! batches: Pulsar's LZ4 (a raw block), ZLIB, ZSTD and SNAPPY (raw), each
//! through its well-kept crate. The metadata's `uncompressed_size` says how
//! large the result must be; a size above [`MAX_UNCOMPRESSED`] or a result
//! of another size is refused, so a forged entry cannot make the broker
//! allocate without bound.

use std::io::Read;

use bytes::Bytes;
use magnetar_proto::pulsar::api::CompressionType;

/// The largest payload decompressed: far above the largest message.
pub const MAX_UNCOMPRESSED: usize = 64 * 1024 * 1024;

/// Why a payload could not be decompressed.
pub type CodecError = &'static str;

/// The payload as the producer wrote it before compressing.
pub fn decompress(
    compression: i32,
    uncompressed_size: Option<u32>,
    payload: &[u8],
) -> Result<Bytes, CodecError> {
    let size =
        uncompressed_size.ok_or("a compressed payload without its uncompressed size")? as usize;
    if size > MAX_UNCOMPRESSED {
        return Err("an uncompressed size over the limit");
    }
    let kind = CompressionType::try_from(compression).map_err(|_| "an unknown compression")?;
    let out = match kind {
        CompressionType::None => payload.to_vec(),
        CompressionType::Lz4 => {
            let size = i32::try_from(size).map_err(|_| "an uncompressed size over the limit")?;
            lz4::block::decompress(payload, Some(size)).map_err(|_| "LZ4 data does not decode")?
        }
        CompressionType::Zlib => {
            let mut out = Vec::with_capacity(size);
            flate2::read::ZlibDecoder::new(payload)
                .take(size as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|_| "zlib data does not decode")?;
            out
        }
        CompressionType::Zstd => {
            zstd::bulk::decompress(payload, size).map_err(|_| "zstd data does not decode")?
        }
        CompressionType::Snappy => snap::raw::Decoder::new()
            .decompress_vec(payload)
            .map_err(|_| "snappy data does not decode")?,
    };
    if out.len() != size {
        return Err("the payload does not have its uncompressed size");
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn sample() -> Vec<u8> {
        (0..5000u32).flat_map(|i| (i % 251).to_le_bytes()).collect()
    }

    #[test]
    fn every_compression_round_trips() {
        let plain = sample();
        let size = Some(plain.len() as u32);
        let lz4 = lz4::block::compress(&plain, None, false).unwrap();
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(&plain).unwrap();
        let zlib = zlib.finish().unwrap();
        let zstd = zstd::bulk::compress(&plain, 3).unwrap();
        let snappy = snap::raw::Encoder::new().compress_vec(&plain).unwrap();
        for (kind, data) in [
            (CompressionType::Lz4, lz4),
            (CompressionType::Zlib, zlib),
            (CompressionType::Zstd, zstd),
            (CompressionType::Snappy, snappy),
            (CompressionType::None, plain.clone()),
        ] {
            let out = decompress(kind as i32, size, &data).unwrap();
            assert_eq!(out.as_ref(), plain.as_slice(), "{kind:?}");
        }
    }

    #[test]
    fn bad_input_is_refused() {
        let plain = sample();
        let zstd = zstd::bulk::compress(&plain, 3).unwrap();
        let zstd_kind = CompressionType::Zstd as i32;
        assert!(decompress(zstd_kind, None, &zstd).is_err(), "no size");
        assert!(
            decompress(zstd_kind, Some(10), &zstd).is_err(),
            "wrong size"
        );
        assert!(
            decompress(zstd_kind, Some(u32::MAX), &zstd).is_err(),
            "over the limit"
        );
        assert!(decompress(99, Some(4), b"abcd").is_err(), "unknown kind");
        let snappy_kind = CompressionType::Snappy as i32;
        assert!(
            decompress(snappy_kind, Some(4), b"\xff\xff\xff").is_err(),
            "garbage"
        );
    }
}
