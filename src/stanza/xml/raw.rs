//! The string storage behind names, values and text.
//!
//! Most names and attribute values in a stanza are short (`message`, `to`, a message id),
//! so copying them inline is cheaper than a `Bytes` slice, whose clone and drop are atomic
//! reference-count updates on the frame buffer. Longer runs (text, long JIDs) share the
//! frame buffer instead of being copied.

use bytes::Bytes;
use std::fmt;

/// Longest string kept inline; chosen so a `RawStr` is no bigger than a `Bytes`.
const INLINE: usize = 23;

/// UTF-8 by construction: filled only from `&str` or from slices of a body that was
/// validated as UTF-8 as a whole.
#[derive(Clone)]
pub(crate) enum RawStr {
    Inline { len: u8, buf: [u8; INLINE] },
    Shared(Bytes),
}

impl RawStr {
    /// `sub` must lie inside `frame` (it is a slice the parser borrowed from it).
    pub(crate) fn from_frame(frame: &Bytes, sub: &[u8]) -> Self {
        if sub.len() <= INLINE {
            // A fixed-size copy compiles to a few moves instead of a `memcpy` call; the
            // bytes past `len` are never read.
            let start = (sub.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
            if let Some(window) = start
                .checked_add(INLINE)
                .and_then(|end| frame.get(start..end))
            {
                let mut buf = [0u8; INLINE];
                buf.copy_from_slice(window);
                return RawStr::Inline {
                    len: sub.len() as u8,
                    buf,
                };
            }
            Self::inline(sub)
        } else {
            RawStr::Shared(frame.slice_ref(sub))
        }
    }

    pub(crate) fn from_str(s: &str) -> Self {
        if s.len() <= INLINE {
            Self::inline(s.as_bytes())
        } else {
            RawStr::Shared(Bytes::copy_from_slice(s.as_bytes()))
        }
    }

    pub(crate) fn from_string(s: String) -> Self {
        if s.len() <= INLINE {
            Self::inline(s.as_bytes())
        } else {
            RawStr::Shared(Bytes::from(s))
        }
    }

    fn inline(b: &[u8]) -> Self {
        let mut buf = [0u8; INLINE];
        buf[..b.len()].copy_from_slice(b);
        RawStr::Inline {
            len: b.len() as u8,
            buf,
        }
    }

    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            RawStr::Inline { len, buf } => &buf[..*len as usize],
            RawStr::Shared(b) => b,
        }
    }

    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        // The UTF-8 invariant holds by construction; re-checking keeps the crate free of
        // `unsafe` and costs little on these short strings.
        match std::str::from_utf8(self.as_bytes()) {
            Ok(s) => s,
            Err(_) => {
                debug_assert!(false, "RawStr holds invalid UTF-8");
                ""
            }
        }
    }
}

impl PartialEq for RawStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for RawStr {}

impl fmt::Debug for RawStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_bigger_than_bytes() {
        assert!(std::mem::size_of::<RawStr>() <= std::mem::size_of::<Bytes>() + 8);
    }

    #[test]
    fn inline_and_shared_compare_by_content() {
        let long = "x".repeat(40);
        let frame = Bytes::from(format!("ab{long}"));
        let a = RawStr::from_frame(&frame, &frame[2..]);
        assert!(matches!(a, RawStr::Shared(_)));
        assert_eq!(a, RawStr::from_str(&long));
        let b = RawStr::from_frame(&frame, &frame[..2]);
        assert!(matches!(b, RawStr::Inline { .. }));
        assert_eq!(b.as_str(), "ab");
    }
}
