//! The pure compaction step: which messages of a run of entries survive.
//!
//! An entry is one message, or a batch of them (`num_messages_in_batch`
//! set). Each message has a key (`partition_key`) or none; one with a key
//! and an empty payload (or `null_value`) is a tombstone. Phase one
//! ([`Latest::observe`], over every entry in position order) records, per
//! key, the position and batch index of its latest message, and forgets
//! the key at a tombstone. Phase two ([`retain`]) keeps, of each entry,
//! the messages that are still the latest for their key: a whole entry
//! verbatim, a batch with fewer messages rebuilt as a batch of the
//! survivors (same outer metadata, fewer messages), nothing when none
//! survives. Messages without a key, tombstones and markers never survive.
//!
//! A compressed batch is decompressed (`codec.rs`) and looked into like
//! any other; one rebuilt with fewer messages is written uncompressed. One
//! that does not decompress is kept whole and neither sets nor clears a
//! key (logged). Chunked messages are not compacted
//! (each chunk would count as a message of its own): their entries are
//! dropped, as keyless ones.

use std::collections::HashMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use magnetar_proto::pulsar::api::{CompressionType, MessageMetadata, SingleMessageMetadata};
use magnetar_proto::pulsar::{decode_metadata, encode_body, split_body};
use prost::Message as _;

use super::codec::decompress;
use super::error::CompactionError;
use crate::managed_ledger::Position;

/// One message of an entry, as compaction sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Message {
    key: Option<String>,
    tombstone: bool,
    /// A batched message's bytes in the batch payload (size, metadata,
    /// payload); empty for a message that is the whole entry.
    raw: Bytes,
}

/// An entry, parsed.
enum Parsed {
    /// Its messages, in batch-index order.
    Messages {
        metadata: Box<MessageMetadata>,
        batched: bool,
        messages: Vec<Message>,
    },
    /// Kept whole, never looked into (a compressed batch that does not
    /// decompress).
    Opaque,
    /// Never kept (markers, chunks).
    Dropped,
}

fn parse(position: Position, body: &Bytes) -> Result<Parsed, CompactionError> {
    let malformed = |source| CompactionError::Malformed { position, source };
    let mut metadata = decode_metadata(body).map_err(malformed)?;
    let (_, mut payload) = split_body(body).map_err(malformed)?;
    if metadata.marker_type.is_some() || metadata.num_chunks_from_msg.is_some_and(|n| n > 1) {
        return Ok(Parsed::Dropped);
    }
    let compressed = metadata
        .compression
        .is_some_and(|c| c != CompressionType::None as i32);
    let Some(count) = metadata.num_messages_in_batch else {
        let empty = if compressed {
            metadata.uncompressed_size == Some(0)
        } else {
            payload.is_empty()
        };
        let message = Message {
            key: metadata.partition_key.clone(),
            tombstone: empty || metadata.null_value == Some(true),
            raw: Bytes::new(),
        };
        return Ok(Parsed::Messages {
            metadata: Box::new(metadata),
            batched: false,
            messages: vec![message],
        });
    };
    if compressed {
        let kind = metadata.compression.unwrap_or_default();
        match decompress(kind, metadata.uncompressed_size, &payload) {
            Ok(plain) => {
                payload = plain;
                // A batch rebuilt from it is written uncompressed.
                metadata.compression = None;
                metadata.uncompressed_size = None;
            }
            Err(reason) => {
                tracing::warn!(%position, reason, "compressed batch kept whole: it does not decompress");
                return Ok(Parsed::Opaque);
            }
        }
    }
    let bad = |reason| CompactionError::MalformedBatch { position, reason };
    let mut messages = Vec::with_capacity(count.max(0) as usize);
    let mut rest = payload.clone();
    for _ in 0..count.max(0) {
        let start = payload.len() - rest.len();
        if rest.remaining() < 4 {
            return Err(bad("a message header is cut short"));
        }
        let size = rest.get_u32() as usize;
        if rest.remaining() < size {
            return Err(bad("a message metadata is cut short"));
        }
        let single = SingleMessageMetadata::decode(rest.slice(..size))
            .map_err(|_| bad("a message metadata does not decode"))?;
        rest.advance(size);
        let payload_size =
            usize::try_from(single.payload_size).map_err(|_| bad("negative size"))?;
        if rest.remaining() < payload_size {
            return Err(bad("a message payload is cut short"));
        }
        rest.advance(payload_size);
        let end = payload.len() - rest.len();
        messages.push(Message {
            key: single.partition_key.clone(),
            tombstone: payload_size == 0 || single.null_value == Some(true),
            raw: payload.slice(start..end),
        });
    }
    Ok(Parsed::Messages {
        metadata: Box::new(metadata),
        batched: true,
        messages,
    })
}

/// Phase one: per key, where its latest message is.
#[derive(Debug, Default)]
pub struct Latest {
    by_key: HashMap<String, (Position, usize)>,
}

impl Latest {
    /// Takes in the next entry, in position order.
    pub fn observe(&mut self, position: Position, body: &Bytes) -> Result<(), CompactionError> {
        let Parsed::Messages { messages, .. } = parse(position, body)? else {
            return Ok(());
        };
        for (index, message) in messages.into_iter().enumerate() {
            let Some(key) = message.key else {
                continue;
            };
            if message.tombstone {
                self.by_key.remove(&key);
            } else {
                self.by_key.insert(key, (position, index));
            }
        }
        Ok(())
    }

    /// Keys that have a value.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    fn is_latest(&self, key: &str, position: Position, index: usize) -> bool {
        self.by_key.get(key) == Some(&(position, index))
    }
}

/// Phase two: what of the entry at `position` the compacted view keeps
/// (`None`: nothing).
pub fn retain(
    latest: &Latest,
    position: Position,
    body: &Bytes,
) -> Result<Option<Bytes>, CompactionError> {
    let (mut metadata, batched, messages) = match parse(position, body)? {
        Parsed::Opaque => return Ok(Some(body.clone())),
        Parsed::Dropped => return Ok(None),
        Parsed::Messages {
            metadata,
            batched,
            messages,
        } => (metadata, batched, messages),
    };
    let total = messages.len();
    let kept: Vec<Message> = messages
        .into_iter()
        .enumerate()
        .filter(|(index, m)| {
            !m.tombstone
                && m.key
                    .as_deref()
                    .is_some_and(|key| latest.is_latest(key, position, *index))
        })
        .map(|(_, m)| m)
        .collect();
    if kept.is_empty() {
        return Ok(None);
    }
    if !batched || kept.len() == total {
        return Ok(Some(body.clone()));
    }
    let mut payload = BytesMut::with_capacity(kept.iter().map(|m| m.raw.len()).sum());
    for message in &kept {
        payload.put_slice(&message.raw);
    }
    metadata.num_messages_in_batch = Some(kept.len() as i32);
    if metadata.uncompressed_size.is_some() {
        metadata.uncompressed_size = Some(payload.len() as u32);
    }
    Ok(Some(encode_body(&metadata, &payload)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn metadata() -> MessageMetadata {
        MessageMetadata {
            producer_name: "p".to_string(),
            sequence_id: 0,
            publish_time: 1,
            ..Default::default()
        }
    }

    /// A single message; `None` payload is a tombstone.
    pub(crate) fn single(key: Option<&str>, payload: &[u8]) -> Bytes {
        let mut metadata = metadata();
        metadata.partition_key = key.map(str::to_string);
        encode_body(&metadata, payload)
    }

    /// A batch of `(key, payload)` messages.
    pub(crate) fn batch(messages: &[(Option<&str>, &[u8])]) -> Bytes {
        let mut payload = BytesMut::new();
        for (key, value) in messages {
            let single = SingleMessageMetadata {
                partition_key: key.map(str::to_string),
                payload_size: value.len() as i32,
                ..Default::default()
            };
            payload.put_u32(single.encoded_len() as u32);
            payload.put_slice(&single.encode_to_vec());
            payload.put_slice(value);
        }
        let mut metadata = metadata();
        metadata.num_messages_in_batch = Some(messages.len() as i32);
        encode_body(&metadata, &payload)
    }

    /// The `(key, payload)` messages of an entry.
    pub(crate) fn messages_of(body: &Bytes) -> Vec<(Option<String>, Bytes)> {
        let metadata = decode_metadata(body).unwrap();
        let (_, payload) = split_body(body).unwrap();
        let Some(count) = metadata.num_messages_in_batch else {
            return vec![(metadata.partition_key, payload)];
        };
        let mut rest = payload;
        (0..count)
            .map(|_| {
                let size = rest.get_u32() as usize;
                let single = SingleMessageMetadata::decode(rest.slice(..size)).unwrap();
                rest.advance(size);
                let value = rest.slice(..single.payload_size as usize);
                rest.advance(single.payload_size as usize);
                (single.partition_key, value)
            })
            .collect()
    }

    /// What a compaction keeps: each kept entry's position and messages.
    type Kept = Vec<(Position, Vec<(Option<String>, Bytes)>)>;

    fn compact(entries: &[Bytes]) -> Kept {
        let mut latest = Latest::default();
        for (i, body) in entries.iter().enumerate() {
            latest.observe(Position::new(1, i as i64), body).unwrap();
        }
        entries
            .iter()
            .enumerate()
            .filter_map(|(i, body)| {
                let position = Position::new(1, i as i64);
                retain(&latest, position, body)
                    .unwrap()
                    .map(|kept| (position, messages_of(&kept)))
            })
            .collect()
    }

    fn kv(key: &str, value: &str) -> (Option<String>, Bytes) {
        (
            Some(key.to_string()),
            Bytes::copy_from_slice(value.as_bytes()),
        )
    }

    #[test]
    fn the_latest_value_per_key_survives() {
        let out = compact(&[
            single(Some("a"), b"1"),
            single(Some("b"), b"1"),
            single(Some("a"), b"2"),
        ]);
        assert_eq!(
            out,
            vec![
                (Position::new(1, 1), vec![kv("b", "1")]),
                (Position::new(1, 2), vec![kv("a", "2")]),
            ]
        );
    }

    #[test]
    fn a_tombstone_deletes_its_key_and_is_not_kept() {
        let out = compact(&[
            single(Some("a"), b"1"),
            single(Some("b"), b"1"),
            single(Some("a"), b""),
        ]);
        assert_eq!(out, vec![(Position::new(1, 1), vec![kv("b", "1")])]);
        // A value after the tombstone brings the key back.
        let out = compact(&[single(Some("a"), b""), single(Some("a"), b"3")]);
        assert_eq!(out, vec![(Position::new(1, 1), vec![kv("a", "3")])]);
    }

    #[test]
    fn keyless_messages_are_dropped() {
        let out = compact(&[
            single(None, b"x"),
            batch(&[(None, b"y"), (Some("k"), b"v")]),
        ]);
        assert_eq!(out, vec![(Position::new(1, 1), vec![kv("k", "v")])]);
    }

    #[test]
    fn batches_are_looked_into_and_rebuilt_with_the_survivors() {
        let entries = [
            batch(&[(Some("a"), b"1"), (Some("b"), b"1"), (Some("a"), b"2")]),
            batch(&[(Some("c"), b"1"), (Some("b"), b"")]),
            single(Some("c"), b"2"),
        ];
        let out = compact(&entries);
        assert_eq!(
            out,
            vec![
                (Position::new(1, 0), vec![kv("a", "2")]),
                (Position::new(1, 2), vec![kv("c", "2")]),
            ]
        );
        let mut latest = Latest::default();
        for (i, body) in entries.iter().enumerate() {
            latest.observe(Position::new(1, i as i64), body).unwrap();
        }
        assert_eq!(latest.len(), 2);
        // Rebuilt: one message left, still a batch.
        let kept = retain(&latest, Position::new(1, 0), &entries[0])
            .unwrap()
            .unwrap();
        assert_eq!(
            decode_metadata(&kept).unwrap().num_messages_in_batch,
            Some(1)
        );
        // A batch whose every message survives is kept verbatim.
        let whole = batch(&[(Some("x"), b"1"), (Some("y"), b"1")]);
        let mut latest = Latest::default();
        latest.observe(Position::new(2, 0), &whole).unwrap();
        assert_eq!(
            retain(&latest, Position::new(2, 0), &whole).unwrap(),
            Some(whole)
        );
    }

    /// `batch`, its payload compressed with zstd.
    fn zstd_batch(messages: &[(Option<&str>, &[u8])]) -> Bytes {
        let plain = batch(messages);
        let mut metadata = decode_metadata(&plain).unwrap();
        let (_, payload) = split_body(&plain).unwrap();
        metadata.compression = Some(CompressionType::Zstd as i32);
        metadata.uncompressed_size = Some(payload.len() as u32);
        encode_body(&metadata, &zstd::bulk::compress(&payload, 3).unwrap())
    }

    #[test]
    fn compressed_batches_are_looked_into_and_rebuilt_uncompressed() {
        let first = zstd_batch(&[(Some("a"), b"1"), (Some("b"), b"1"), (Some("c"), b"1")]);
        let second = zstd_batch(&[(Some("a"), b"2"), (Some("c"), b"")]);
        let mut latest = Latest::default();
        latest.observe(Position::new(1, 0), &first).unwrap();
        latest.observe(Position::new(1, 1), &second).unwrap();
        assert_eq!(latest.len(), 2, "a and b have values, c was deleted");
        let kept = retain(&latest, Position::new(1, 0), &first)
            .unwrap()
            .unwrap();
        let metadata = decode_metadata(&kept).unwrap();
        assert_eq!(metadata.compression, None);
        assert_eq!(metadata.uncompressed_size, None);
        assert_eq!(
            messages_of(&kept),
            vec![(Some("b".to_string()), Bytes::from_static(b"1"))]
        );
        let kept = retain(&latest, Position::new(1, 1), &second)
            .unwrap()
            .unwrap();
        assert_eq!(
            messages_of(&kept),
            vec![(Some("a".to_string()), Bytes::from_static(b"2"))]
        );
    }

    #[test]
    fn undecodable_compressed_batches_are_kept_whole_and_markers_dropped() {
        let mut metadata = metadata();
        metadata.num_messages_in_batch = Some(2);
        metadata.compression = Some(CompressionType::Lz4 as i32);
        let compressed = encode_body(&metadata, b"opaque");
        let mut marker = self::metadata();
        marker.marker_type = Some(1);
        marker.partition_key = Some("k".to_string());
        let marker = encode_body(&marker, b"m");
        let mut latest = Latest::default();
        latest.observe(Position::new(1, 0), &compressed).unwrap();
        latest.observe(Position::new(1, 1), &marker).unwrap();
        assert!(latest.is_empty());
        assert_eq!(
            retain(&latest, Position::new(1, 0), &compressed).unwrap(),
            Some(compressed)
        );
        assert_eq!(retain(&latest, Position::new(1, 1), &marker).unwrap(), None);
    }

    #[test]
    fn a_malformed_batch_is_an_error() {
        let mut metadata = metadata();
        metadata.num_messages_in_batch = Some(3);
        let body = encode_body(&metadata, &[0, 0, 0, 9, 1]);
        assert!(matches!(
            Latest::default().observe(Position::new(1, 0), &body),
            Err(CompactionError::MalformedBatch { .. })
        ));
    }
}
