//! Stanzas in WhatsApp's binary token encoding (SPEC §2.10), what the WhatsApp server,
//! WhatsApp Web and every open client speak.
//!
//! The tree ([`Node`]) keeps every value in the form it arrived in, so a stanza an
//! annotation changed is written again with only that change and the list counts
//! around it. The dictionary follows the client's intro header, one per session, on
//! both legs: a wrong table decodes to wrong strings without any error.
//!
//! Written here rather than taken from a crate: `wa-wire-codec` parses without
//! writing, and `wacore-binary` writes each value in the form it would choose, not the
//! one it read; both are test oracles instead (`tests.rs`).

mod convert;
mod decode;
mod encode;
mod node;
mod tokens;

#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod strict_tests;
#[cfg(test)]
mod tests;

pub use node::{Attr, BytesWidth, Content, Jid, Leg, ListWidth, Node, Str, Value};
pub use tokens::{dictionary, Dictionary};

use super::body::frame_body;
use super::codec::{Root, Stanza, StanzaCodec, WireEncoding};
use super::{Limits, StanzaError};
use bytes::{Bytes, BytesMut};

/// The binary codec of one dictionary and one direction of travel.
#[derive(Clone, Copy)]
pub struct BinaryCodec {
    dict: &'static Dictionary,
    leg: Leg,
    limits: Limits,
}

impl BinaryCodec {
    /// The codec for `dictionary` (2 or 3) on `leg`; `None` for an unknown dictionary.
    pub fn new(dictionary: u8, leg: Leg, limits: Limits) -> Option<Self> {
        Some(BinaryCodec {
            dict: tokens::dictionary(dictionary)?,
            leg,
            limits,
        })
    }

    /// The dictionary's version.
    pub fn dictionary(&self) -> u8 {
        self.dict.version()
    }

    /// Decodes a body (no flags byte) into a node; for tests and the reference peers.
    pub fn decode_body(&self, body: &Bytes) -> Result<Node, StanzaError> {
        decode::decode(body, self.dict, self.leg, &self.limits)
    }

    /// Encodes a node into a body (no flags byte).
    pub fn encode_node(&self, node: &Node) -> Result<Vec<u8>, StanzaError> {
        let mut out = Vec::new();
        encode::encode(node, self.dict, self.leg, &mut out)?;
        Ok(out)
    }
}

impl std::fmt::Debug for BinaryCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinaryCodec")
            .field("dictionary", &self.dict.version())
            .field("leg", &self.leg)
            .field("limits", &self.limits)
            .finish()
    }
}

impl StanzaCodec for BinaryCodec {
    fn decode(&self, plaintext: Bytes) -> Result<Stanza, StanzaError> {
        let body = frame_body(plaintext, &self.limits)?;
        Stanza::read_binary(
            WireEncoding::Binary(self.dict.version()),
            body,
            |body, node| decode::decode_into(body, self.dict, self.leg, &self.limits, node),
        )
    }

    fn encode(&self, stanza: &Stanza, out: &mut BytesMut) -> Result<(), StanzaError> {
        if let Some(wire) = stanza.wire_in(WireEncoding::Binary(self.dict.version())) {
            out.reserve(1 + wire.len());
            out.extend_from_slice(&[0]);
            out.extend_from_slice(wire);
            return Ok(());
        }
        // Written straight into `out`, after one reservation: a modified stanza is
        // about as long as the one received, plus what an annotation adds.
        let estimate = stanza.0.wire.as_ref().map_or(256, |(_, w)| w.len() + 64);
        out.reserve(1 + estimate);
        let mark = out.len();
        out.extend_from_slice(&[0]);
        let written = match &stanza.0.root {
            Root::Binary(node) => encode::encode(node, self.dict, self.leg, out),
            // A stanza the proxy or a peer built as an element tree.
            Root::Xml { element, .. } => {
                encode::encode(&Node::from_element(element), self.dict, self.leg, out)
            }
        };
        if let Err(e) = written {
            // Nothing of a stanza that cannot be written is left in `out`.
            out.truncate(mark);
            return Err(e);
        }
        Ok(())
    }
}
