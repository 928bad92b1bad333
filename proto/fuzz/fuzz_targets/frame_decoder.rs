//! Feeds arbitrary bytes to the Pulsar frame decoder. The decoder must only
//! ever return frames or errors: no panic, no allocation beyond one frame.
//!
//! Run from `proto/` with `cargo install cargo-fuzz`, then
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run frame_decoder -- -max_total_time=240`
//! (`RUSTC_BOOTSTRAP` lets the stable toolchain build the sanitizer flags).

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use magnetar_proto::pulsar::{Frame, PulsarCodec};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut codec = PulsarCodec::with_max_message_size(64 * 1024);
    let mut buf = BytesMut::from(data);
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
});
