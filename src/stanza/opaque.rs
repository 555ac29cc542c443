//! The end-to-end encrypted payload, as a type that cannot be read.

use bytes::Bytes;
use std::fmt;

/// The text of an `<enc>` or `<device-identity>` element, exactly as it appears on the
/// wire (base64 of Signal ciphertext, so in practice never escaped).
///
/// The proxy relays this content but must never inspect or log it, so the type offers
/// no accessor, no `Deref`, no `Display`, and a `Debug` that shows only the length;
/// only the stanza writer (in this module tree) can reach the bytes.
///
/// Bytes given to [`Opaque::from_bytes`] are written as they are, so they must be valid
/// XML character data; base64 always is.
#[derive(Clone, PartialEq, Eq)]
pub struct Opaque(Bytes);

impl Opaque {
    /// Wraps a payload, e.g. the base64 text a reference client puts in `<enc>`.
    pub fn from_bytes(b: impl Into<Bytes>) -> Self {
        Opaque(b.into())
    }

    /// Length on the wire, in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Only for the writer: `pub(super)` keeps the bytes out of reach of the pipeline.
    pub(super) fn wire_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Opaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Opaque({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_content() {
        let o = Opaque::from_bytes(&b"c2VjcmV0IHNpZ25hbCBjaXBoZXJ0ZXh0"[..]);
        let shown = format!("{o:?} {o:#?}");
        assert!(!shown.contains("c2Vj"), "{shown}");
        assert!(shown.contains("32 bytes"), "{shown}");
        assert_eq!(o.len(), 32);
        assert!(!o.is_empty());
        assert_eq!(
            o,
            Opaque::from_bytes(b"c2VjcmV0IHNpZ25hbCBjaXBoZXJ0ZXh0".to_vec())
        );
    }
}
