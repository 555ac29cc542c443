//! Stanzas: the element trees carried one per decrypted transport frame, as XML text
//! (SPEC §2.8) or in WhatsApp's binary token encoding (SPEC §2.10).
//!
//! The proxy sits on the hot path of every message, so the design favours not touching
//! bytes it does not have to:
//!
//! - A stanza that no annotation touched is forwarded with the very bytes it arrived
//!   with, tagged with their encoding; only a change makes the proxy re-serialize.
//! - Each codec keeps every value in the form it came, so re-serializing a modified
//!   stanza changes only what the annotation named.
//! - End-to-end encrypted payloads live in [`Opaque`], which has no way to read them:
//!   the proxy must never look inside, and the type system says so.
//!
//! Layout: [`codec`] holds [`Stanza`] and the [`StanzaCodec`] trait; [`view`] the
//! read-only [`NodeRef`] the pipeline steps use; `body` the flags byte and bounded
//! inflation both codecs share; [`xml`] and [`binary`] the two encodings.

pub mod binary;
mod body;
mod codec;
mod codecs;
mod kind;
mod opaque;
mod view;
pub mod xml;

pub use body::compress_frame;
pub use codec::{Built, ReplyValue, Stanza, StanzaCodec, WireEncoding};
pub use codecs::{dictionary_for, Encoding, SessionCodecs};
pub use kind::Kind;
pub use opaque::Opaque;
pub use view::{Children, NodeRef};
pub use xml::{Attribute, Comment, Element, Node, Text, XmlCodec};

/// The bounds a peer's stanza must stay within (SPEC §2.8).
///
/// They exist so that a hostile peer cannot make the proxy allocate or recurse without
/// bound; exceeding one ends the session with code 413.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest stanza body, in bytes, both before and after inflation.
    pub max_stanza_bytes: usize,
    /// Deepest element nesting; the root is depth 1.
    pub max_depth: usize,
    /// Most attributes on one element.
    pub max_attributes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stanza_bytes: 256 * 1024,
            max_depth: 32,
            max_attributes: 64,
        }
    }
}

/// Why a stanza was refused; either way the session ends with [`StanzaError::code`].
#[derive(Debug, thiserror::Error)]
pub enum StanzaError {
    /// Not a stanza the SPEC accepts (bad flags, bad zlib, bad XML): code 400.
    #[error("malformed stanza: {0}")]
    Malformed(String),
    /// Over one of the [`Limits`]: code 413.
    #[error("stanza over limit: {0}")]
    Limit(String),
}

impl StanzaError {
    /// The stream error code the session ends with.
    pub fn code(&self) -> u16 {
        match self {
            StanzaError::Malformed(_) => 400,
            StanzaError::Limit(_) => 413,
        }
    }

    pub(crate) fn malformed(msg: impl Into<String>) -> Self {
        StanzaError::Malformed(msg.into())
    }

    pub(crate) fn limit(msg: impl Into<String>) -> Self {
        StanzaError::Limit(msg.into())
    }
}
