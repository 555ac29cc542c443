//! The stanza frame: a flags byte, then the body, possibly zlib-compressed.

use super::{Limits, StanzaError};
use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};
use std::io::Write;

/// Body is zlib (RFC 1950) compressed.
const FLAG_COMPRESSED: u8 = 0x02;

/// Splits a decrypted frame into its body, inflating it if flagged, with the size
/// limit enforced before anything is parsed.
pub(super) fn frame_body(plaintext: Bytes, limits: &Limits) -> Result<Bytes, StanzaError> {
    let Some(&flags) = plaintext.first() else {
        return Err(StanzaError::malformed("empty frame: no flags byte"));
    };
    let body = plaintext.slice(1..);
    let max = limits.max_stanza_bytes;
    match flags {
        0 => {
            if body.len() > max {
                return Err(StanzaError::limit(format!(
                    "stanza body of {} bytes, limit {max}",
                    body.len()
                )));
            }
            Ok(body)
        }
        FLAG_COMPRESSED => {
            if body.len() > max {
                return Err(StanzaError::limit(format!(
                    "compressed stanza body of {} bytes, limit {max}",
                    body.len()
                )));
            }
            inflate_bounded(&body, max).map(Bytes::from)
        }
        other => Err(StanzaError::malformed(format!(
            "unknown stanza flags {other:#04x}"
        ))),
    }
}

/// Inflates at most `max + 1` bytes: one byte past the limit proves the body too long,
/// so a compression bomb costs no more than a legitimate maximal stanza. The buffer
/// grows with the output rather than being sized to the limit up front, since nearly
/// all stanzas are small.
fn inflate_bounded(input: &[u8], max: usize) -> Result<Vec<u8>, StanzaError> {
    let bound = max.saturating_add(1);
    let mut z = Decompress::new(true);
    let initial = input.len().saturating_mul(4).max(256).min(bound);
    let mut out = Vec::with_capacity(initial);
    loop {
        let in_before = z.total_in();
        let out_before = out.len();
        let consumed = in_before as usize;
        let status = z
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::None)
            .map_err(|e| StanzaError::malformed(format!("corrupt zlib body: {e}")))?;
        if out.len() > max {
            return Err(StanzaError::limit(format!(
                "inflated stanza body over {max} bytes"
            )));
        }
        match status {
            Status::StreamEnd => {
                if z.total_in() as usize != input.len() {
                    return Err(StanzaError::malformed("data after the zlib stream"));
                }
                return Ok(out);
            }
            Status::Ok | Status::BufError => {
                if out.len() == out.capacity() {
                    let grow = out.capacity().min(bound - out.len());
                    out.reserve_exact(grow);
                } else if z.total_in() as usize == input.len()
                    || (z.total_in() == in_before && out.len() == out_before)
                {
                    return Err(StanzaError::malformed("truncated zlib body"));
                }
            }
        }
    }
}

/// Deflates `body` into a frame with flags `0x02`, as a peer that compresses would send.
pub fn compress_frame(body: &[u8]) -> Vec<u8> {
    let mut enc =
        flate2::write::ZlibEncoder::new(vec![FLAG_COMPRESSED], flate2::Compression::default());
    enc.write_all(body)
        .and_then(|()| enc.finish())
        .expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    fn frame(flags: u8, body: &[u8]) -> Bytes {
        let mut v = vec![flags];
        v.extend_from_slice(body);
        Bytes::from(v)
    }

    #[test]
    fn plain_body_is_a_slice() {
        let f = frame(0, b"<ack/>");
        let b = frame_body(f, &limits()).unwrap();
        assert_eq!(&b[..], b"<ack/>");
    }

    #[test]
    fn empty_frame_is_400() {
        assert_eq!(frame_body(Bytes::new(), &limits()).unwrap_err().code(), 400);
    }

    #[test]
    fn unknown_flag_bits_are_400() {
        for flags in [0x01u8, 0x03, 0x04, 0x80, 0xff] {
            let e = frame_body(frame(flags, b"<ack/>"), &limits()).unwrap_err();
            assert_eq!(e.code(), 400, "flags {flags:#x}");
        }
    }

    #[test]
    fn body_over_max_is_413() {
        let l = Limits {
            max_stanza_bytes: 10,
            ..limits()
        };
        assert!(frame_body(frame(0, &[b' '; 10]), &l).is_ok());
        assert_eq!(
            frame_body(frame(0, &[b' '; 11]), &l).unwrap_err().code(),
            413
        );
    }

    #[test]
    fn zlib_ok() {
        let body = b"<message id='1'><enc>QUJD</enc></message>".repeat(3);
        let f = compress_frame(&body);
        assert_eq!(f[0], 0x02);
        assert_eq!(
            &frame_body(Bytes::from(f), &limits()).unwrap()[..],
            &body[..]
        );
    }

    #[test]
    fn zlib_exactly_at_limit_ok_one_over_413() {
        let l = Limits {
            max_stanza_bytes: 100_000,
            ..limits()
        };
        let ok = vec![b'a'; 100_000];
        let got = frame_body(Bytes::from(compress_frame(&ok)), &l).unwrap();
        assert_eq!(got.len(), 100_000);
        let over = vec![b'a'; 100_001];
        let e = frame_body(Bytes::from(compress_frame(&over)), &l).unwrap_err();
        assert_eq!(e.code(), 413);
    }

    #[test]
    fn zlib_bomb_is_413_and_bounded() {
        let zeros = vec![0u8; 10 * 1024 * 1024];
        let f = compress_frame(&zeros);
        assert!(f.len() < 64 * 1024, "bomb should be small: {}", f.len());
        let started = std::time::Instant::now();
        let e = frame_body(Bytes::from(f.clone()), &limits()).unwrap_err();
        assert_eq!(e.code(), 413);
        // Inflating 10 MB takes far longer in debug builds than stopping at 256 KiB.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // The output buffer never outgrows the bound: inflate the body directly.
        let l = limits();
        let err = inflate_bounded(&f[1..], l.max_stanza_bytes).unwrap_err();
        assert_eq!(err.code(), 413);
    }

    #[test]
    fn inflate_capacity_stays_within_bound() {
        let max = 50_000;
        let body = vec![b'x'; max];
        let f = compress_frame(&body);
        let out = inflate_bounded(&f[1..], max).unwrap();
        assert_eq!(out.len(), max);
        assert!(out.capacity() <= max + 1, "capacity {}", out.capacity());
    }

    #[test]
    fn corrupt_zlib_is_400() {
        let mut f = compress_frame(b"<message><body>hello hello hello</body></message>");
        // Bad header.
        let mut bad = f.clone();
        bad[1] ^= 0xff;
        assert_eq!(
            frame_body(Bytes::from(bad), &limits()).unwrap_err().code(),
            400
        );
        // Truncated stream.
        let trunc = f[..f.len() - 6].to_vec();
        assert_eq!(
            frame_body(Bytes::from(trunc), &limits())
                .unwrap_err()
                .code(),
            400
        );
        // Trailing garbage.
        f.extend_from_slice(b"junk");
        assert_eq!(
            frame_body(Bytes::from(f), &limits()).unwrap_err().code(),
            400
        );
        // Not zlib at all.
        assert_eq!(
            frame_body(frame(2, b"<ack/>"), &limits())
                .unwrap_err()
                .code(),
            400
        );
        assert_eq!(
            frame_body(frame(2, b""), &limits()).unwrap_err().code(),
            400
        );
    }
}
