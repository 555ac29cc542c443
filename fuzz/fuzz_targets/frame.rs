//! The 24-bit frame decoder: any byte stream, any limit, cut anywhere.
#![no_main]

use bytes::BytesMut;
use interop_proxy::frame::{decode_frame, FrameError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    // The first three bytes pick the limit, so small and large limits are both explored.
    let max = (usize::from(data[0]) << 16) | (usize::from(data[1]) << 8) | usize::from(data[2]);
    let stream = &data[3..];
    // Feed the stream in two pieces, as a socket might deliver it.
    let cut = if stream.is_empty() { 0 } else { usize::from(data[0]) % (stream.len() + 1) };
    let mut buf = BytesMut::from(&stream[..cut]);
    let mut rest = &stream[cut..];
    let mut consumed = 0usize;
    loop {
        let before = buf.len();
        match decode_frame(&mut buf, max) {
            Ok(Ok(frame)) => {
                assert!(frame.len() <= max);
                assert_eq!(before - buf.len(), 3 + frame.len());
                consumed += 3 + frame.len();
            }
            Ok(Err(needed)) => {
                assert!(needed > 0);
                assert_eq!(buf.len(), before, "need-more must not consume");
                if rest.is_empty() {
                    break;
                }
                let take = needed.min(rest.len());
                buf.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
            }
            Err(FrameError::TooLarge { len, max: m }) => {
                assert!(len > m);
                break;
            }
            Err(e) => panic!("decode_frame never does I/O: {e}"),
        }
    }
    assert!(consumed <= stream.len());
});
