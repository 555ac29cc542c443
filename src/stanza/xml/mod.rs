//! Stanzas as UTF-8 XML text (SPEC §2.8).
//!
//! - Parsing borrows from the frame (`quick-xml` over the body slice); names and values
//!   are short inline copies or `Bytes` slices of the frame, never fresh `String`s.
//! - Everything is kept in its escaped, on-the-wire form, so re-serializing a modified
//!   stanza changes only what the annotation named.

mod element;
mod escape;
mod parse;
mod raw;
mod write;

pub use element::{Attribute, Comment, Element, Node, Text};
pub(super) use write::element_len;

use super::body::frame_body;
use super::codec::{Root, Stanza, StanzaCodec, WireEncoding};
use super::{Limits, StanzaError};
use bytes::{Bytes, BytesMut};

/// Stanzas as UTF-8 XML text (SPEC §2.8).
#[derive(Clone, Copy, Debug, Default)]
pub struct XmlCodec {
    pub limits: Limits,
}

impl XmlCodec {
    pub fn new(limits: Limits) -> Self {
        XmlCodec { limits }
    }
}

impl StanzaCodec for XmlCodec {
    fn decode(&self, plaintext: Bytes) -> Result<Stanza, StanzaError> {
        let body = frame_body(plaintext, &self.limits)?;
        let parsed = parse::parse(&body, &self.limits)?;
        let root = Root::Xml {
            element: parsed.root,
            prolog: parsed.prolog,
            epilog: parsed.epilog,
        };
        Ok(Stanza::received(root, WireEncoding::Xml, body))
    }

    fn encode(&self, stanza: &Stanza, out: &mut BytesMut) -> Result<(), StanzaError> {
        out.reserve(1 + stanza.wire_len());
        out.extend_from_slice(&[0]);
        if let Some(wire) = stanza.wire_in(WireEncoding::Xml) {
            out.extend_from_slice(wire);
            return Ok(());
        }
        match &stanza.0.root {
            Root::Xml {
                element,
                prolog,
                epilog,
            } => {
                out.extend_from_slice(prolog);
                write::write_element(element, out);
                out.extend_from_slice(epilog);
            }
            // Only a stanza built for the other encoding gets here (the proxy never
            // translates a received one): written as the same tree in XML.
            Root::Binary(node) => write::write_element(&node.to_element(), out),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
