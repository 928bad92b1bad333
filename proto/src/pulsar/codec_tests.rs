//! Codec tests: round trips and every kind of bad input.

use bytes::{BufMut, Bytes, BytesMut};
use rand::{Rng, SeedableRng};
use tokio_util::codec::{Decoder, Encoder};

use super::api::*;
use super::*;

fn send_command(sequence_id: u64) -> BaseCommand {
    CommandSend {
        producer_id: 7,
        sequence_id,
        num_messages: Some(1),
        ..Default::default()
    }
    .into()
}

fn sample_body(payload: &[u8]) -> Bytes {
    let metadata = MessageMetadata {
        producer_name: "standalone-0".into(),
        sequence_id: 3,
        publish_time: 1_700_000_000_000,
        num_messages_in_batch: Some(4),
        ..Default::default()
    };
    encode_body(&metadata, payload)
}

fn encode(frame: Frame) -> BytesMut {
    let mut buf = BytesMut::new();
    PulsarCodec::default().encode(frame, &mut buf).unwrap();
    buf
}

fn decode_all(codec: &mut PulsarCodec, buf: &mut BytesMut) -> Result<Vec<Frame>, FrameError> {
    let mut frames = Vec::new();
    while let Some(frame) = codec.decode(buf)? {
        frames.push(frame);
    }
    Ok(frames)
}

/// A payload frame written by hand so that each field can be corrupted.
fn raw_payload_frame(magic: u16, checksum: Option<u32>, body: &[u8]) -> BytesMut {
    let command = send_command(1);
    let command_bytes = prost::Message::encode_to_vec(&command);
    let crc = checksum.unwrap_or_else(|| crc32c::crc32c(body));
    let mut buf = BytesMut::new();
    buf.put_u32((4 + command_bytes.len() + 6 + body.len()) as u32);
    buf.put_u32(command_bytes.len() as u32);
    buf.put_slice(&command_bytes);
    buf.put_u16(magic);
    buf.put_u32(crc);
    buf.put_slice(body);
    buf
}

#[test]
fn command_frame_round_trips() {
    let ping: BaseCommand = CommandPing {}.into();
    let mut buf = encode(Frame::Command(ping.clone()));
    let frames = decode_all(&mut PulsarCodec::default(), &mut buf).unwrap();
    assert_eq!(frames, vec![Frame::Command(ping)]);
    assert!(buf.is_empty());
}

#[test]
fn payload_frame_round_trips_with_valid_checksum() {
    let body = sample_body(b"hello");
    let mut buf = encode(Frame::Payload(PayloadFrame::new(
        send_command(9),
        body.clone(),
    )));
    let frames = decode_all(&mut PulsarCodec::default(), &mut buf).unwrap();
    let [Frame::Payload(frame)] = frames.as_slice() else {
        panic!("expected one payload frame, got {frames:?}");
    };
    assert_eq!(frame.command, send_command(9));
    assert_eq!(frame.body, body);
    frame.verify_checksum().unwrap();
    let metadata = frame.metadata().unwrap();
    assert_eq!(metadata.sequence_id, 3);
    assert_eq!(messages_in_body(&frame.body).unwrap(), 4);
    let (_, payload) = split_body(&frame.body).unwrap();
    assert_eq!(&payload[..], b"hello");
}

#[test]
fn frames_split_at_every_byte_boundary_decode_identically() {
    let mut whole = encode(Frame::Command(CommandPong {}.into()));
    whole.extend_from_slice(&encode(Frame::Payload(PayloadFrame::new(
        send_command(2),
        sample_body(b"abc"),
    ))));
    let mut codec = PulsarCodec::default();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for byte in whole.iter() {
        buf.put_u8(*byte);
        frames.extend(decode_all(&mut codec, &mut buf).unwrap());
    }
    assert_eq!(frames.len(), 2);
    assert!(matches!(frames[0], Frame::Command(_)));
    assert!(matches!(frames[1], Frame::Payload(_)));
}

#[test]
fn oversize_frame_is_refused_before_buffering() {
    let mut codec = PulsarCodec::with_max_message_size(1024);
    let mut buf = BytesMut::new();
    buf.put_u32((1024 + FRAME_PADDING + 1) as u32);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(
        matches!(err, FrameError::FrameTooLarge { limit, .. } if limit == 1024 + FRAME_PADDING)
    );
    assert!(!err.is_recoverable());
}

#[test]
fn frame_exactly_at_the_limit_is_accepted_one_byte_more_is_not() {
    // Larger than the frame padding, so the limit is a real message size.
    let frame = Frame::Payload(PayloadFrame::new(
        send_command(1),
        sample_body(&[7u8; 16 * 1024]),
    ));
    let encoded = encode(frame.clone());
    let total = encoded.len() - 4;
    let mut at_limit = PulsarCodec::with_max_message_size(total - FRAME_PADDING);
    assert_eq!(at_limit.max_frame_size(), total);
    assert!(at_limit.decode(&mut encoded.clone()).unwrap().is_some());
    at_limit
        .encode(frame.clone(), &mut BytesMut::new())
        .unwrap();
    let mut below = PulsarCodec::with_max_message_size(total - FRAME_PADDING - 1);
    assert!(matches!(
        below.decode(&mut encoded.clone()),
        Err(FrameError::FrameTooLarge { .. })
    ));
    assert!(matches!(
        below.encode(frame, &mut BytesMut::new()),
        Err(FrameError::FrameTooLarge { .. })
    ));
}

#[test]
fn wrong_magic_is_fatal() {
    let body = sample_body(b"x");
    let mut buf = raw_payload_frame(0xbeef, None, &body);
    let err = PulsarCodec::default().decode(&mut buf).unwrap_err();
    assert!(matches!(err, FrameError::BadMagic(0xbeef)));
}

#[test]
fn bad_checksum_is_reported_per_message() {
    let body = sample_body(b"payload");
    let good = crc32c::crc32c(&body);
    let mut buf = raw_payload_frame(MAGIC_CRC32C, Some(good ^ 1), &body);
    let frame = PulsarCodec::default().decode(&mut buf).unwrap().unwrap();
    let Frame::Payload(frame) = frame else {
        panic!("expected a payload frame")
    };
    let err = frame.verify_checksum().unwrap_err();
    assert!(
        matches!(err, FrameError::ChecksumMismatch { expected, computed } if expected == good ^ 1 && computed == good)
    );
    assert!(err.is_recoverable());
}

#[test]
fn command_size_beyond_frame_is_truncated() {
    let mut buf = BytesMut::new();
    buf.put_u32(8);
    buf.put_u32(100);
    buf.put_u32(0);
    let err = PulsarCodec::default().decode(&mut buf).unwrap_err();
    assert!(matches!(err, FrameError::Truncated(_)));
}

#[test]
fn metadata_size_beyond_frame_is_truncated() {
    let mut body = BytesMut::new();
    body.put_u32(1_000);
    body.put_slice(b"short");
    let mut buf = raw_payload_frame(MAGIC_CRC32C, None, &body);
    let err = PulsarCodec::default().decode(&mut buf).unwrap_err();
    assert!(matches!(err, FrameError::Truncated(_)));
}

#[test]
fn undecodable_command_is_malformed() {
    let mut buf = BytesMut::new();
    let garbage = [0xffu8; 6];
    buf.put_u32(4 + garbage.len() as u32);
    buf.put_u32(garbage.len() as u32);
    buf.put_slice(&garbage);
    let err = PulsarCodec::default().decode(&mut buf).unwrap_err();
    assert!(matches!(err, FrameError::MalformedCommand(_)));
}

#[test]
fn stream_ending_mid_frame_is_truncated() {
    let whole = encode(Frame::Command(CommandPing {}.into()));
    let mut partial = BytesMut::from(&whole[..whole.len() - 1]);
    let mut codec = PulsarCodec::default();
    assert!(codec.decode(&mut partial).unwrap().is_none());
    let err = codec.decode_eof(&mut partial).unwrap_err();
    assert!(matches!(err, FrameError::Truncated(_)));
    assert!(codec.decode_eof(&mut BytesMut::new()).unwrap().is_none());
}

#[test]
fn zero_length_frame_is_truncated() {
    let mut buf = BytesMut::new();
    buf.put_u32(0);
    let err = PulsarCodec::default().decode(&mut buf).unwrap_err();
    assert!(matches!(err, FrameError::Truncated(_)));
}

/// Random bytes, and valid frames with random bytes flipped, must only ever
/// produce frames or errors, never a panic or an unbounded allocation.
#[test]
fn garbage_input_never_panics() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let valid = encode(Frame::Payload(PayloadFrame::new(
        send_command(5),
        sample_body(b"data"),
    )));
    for round in 0..5_000 {
        let mut buf = if round % 2 == 0 {
            let len = rng.gen_range(0..64);
            BytesMut::from(
                (0..len)
                    .map(|_| rng.gen::<u8>())
                    .collect::<Vec<_>>()
                    .as_slice(),
            )
        } else {
            let mut mutated = valid.clone();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..mutated.len());
                mutated[at] = rng.gen();
            }
            mutated
        };
        let mut codec = PulsarCodec::with_max_message_size(4096);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(Frame::Payload(frame))) => {
                    let _ = frame.verify_checksum();
                    let _ = frame.metadata();
                }
                Ok(Some(Frame::Command(_))) => {}
                Ok(None) => {
                    let _ = codec.decode_eof(&mut buf);
                    break;
                }
                Err(_) => break,
            }
        }
        assert!(buf.capacity() <= 4 + 4096 + FRAME_PADDING + 64);
    }
}

#[test]
fn into_base_command_sets_matching_type_and_field() {
    let command: BaseCommand = CommandFlow {
        consumer_id: 3,
        message_permits: 10,
    }
    .into();
    assert_eq!(
        commands::command_type(&command),
        Some(base_command::Type::Flow)
    );
    assert_eq!(command.flow.unwrap().message_permits, 10);
    let error = commands::error(4, ServerError::ConsumerBusy, "busy");
    assert_eq!(
        commands::command_type(&error),
        Some(base_command::Type::Error)
    );
    assert_eq!(error.error.unwrap().error, ServerError::ConsumerBusy as i32);
}
