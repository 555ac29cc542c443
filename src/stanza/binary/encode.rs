//! Writing one binary node (SPEC §2.10).
//!
//! Whatever was read from the wire is written in the form it came: strings and JID parts
//! as their stored encoding, JIDs in their form, bytes in their length width, lists in
//! their count width. Only list counts are recomputed, and only what the proxy created
//! goes through the string ladder. So decoding and re-encoding a body gives the same
//! bytes, and an annotated stanza differs from the received one only where it changed.

use super::node::{BytesWidth, Content, Jid, Leg, ListWidth, Node, Str, StrRepr, Value};
use super::tokens::{tag, Dictionary, Token};
use crate::stanza::StanzaError;

/// Appends `node` to `out`. `leg` decides whether an INTEROP_JID carries its server
/// string (towards the client only). Fails, with code 413, only for a list of more
/// than 65535 items or a string or payload of 4 GiB or more, which the wire cannot
/// express; what was decoded always fits.
pub fn encode(
    node: &Node,
    dict: &Dictionary,
    leg: Leg,
    out: &mut Vec<u8>,
) -> Result<(), StanzaError> {
    Writer { dict, leg, out }.node(node)
}

struct Writer<'a> {
    dict: &'a Dictionary,
    leg: Leg,
    out: &'a mut Vec<u8>,
}

/// The server string an INTEROP_JID must carry towards the client when the proxy made
/// the JID (or read it on the other leg, where the string is absent).
const INTEROP_SERVER: &str = "interop";

impl Writer<'_> {
    fn node(&mut self, node: &Node) -> Result<(), StanzaError> {
        let has_content = !matches!(node.content, Content::None);
        self.list(
            node.width,
            1 + 2 * node.attrs.len() + usize::from(has_content),
        )?;
        self.str(&node.tag)?;
        for attr in &node.attrs {
            self.str(&attr.key)?;
            self.value(&attr.value)?;
        }
        match &node.content {
            Content::None => {}
            Content::ListEmpty => self.out.push(tag::LIST_EMPTY),
            Content::Children { width, nodes } => {
                self.list(*width, nodes.len())?;
                for child in nodes {
                    self.node(child)?;
                }
            }
            Content::Text(value) => self.value(value)?,
            Content::Bytes { width, payload } => self.raw(*width, payload.wire_bytes())?,
        }
        Ok(())
    }

    /// A list header: the stored width, unless a short list has outgrown its u8.
    fn list(&mut self, width: ListWidth, count: usize) -> Result<(), StanzaError> {
        match (width, u8::try_from(count)) {
            (ListWidth::Short, Ok(n)) => self.out.extend_from_slice(&[tag::LIST_8, n]),
            _ => {
                let n = u16::try_from(count).map_err(|_| {
                    StanzaError::limit("binary stanza list of more than 65535 items")
                })?;
                self.out.push(tag::LIST_16);
                self.out.extend_from_slice(&n.to_be_bytes());
            }
        }
        Ok(())
    }

    /// Raw bytes with a length prefix of `width`, widened if the payload has outgrown it.
    fn raw(&mut self, width: BytesWidth, bytes: &[u8]) -> Result<(), StanzaError> {
        let len = bytes.len();
        let fits = match width {
            BytesWidth::B8 => len < 1 << 8,
            BytesWidth::B20 => len < 1 << 20,
            BytesWidth::B32 => true,
        };
        let width = if fits {
            width
        } else {
            BytesWidth::for_len(len)
        };
        let len = u32::try_from(len)
            .map_err(|_| StanzaError::limit("binary stanza string or payload of 4 GiB"))?;
        let [b3, b2, b1, b0] = len.to_be_bytes();
        match width {
            BytesWidth::B8 => self.out.extend_from_slice(&[tag::BINARY_8, b0]),
            BytesWidth::B20 => self.out.extend_from_slice(&[tag::BINARY_20, b2, b1, b0]),
            BytesWidth::B32 => self
                .out
                .extend_from_slice(&[tag::BINARY_32, b3, b2, b1, b0]),
        }
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn value(&mut self, value: &Value) -> Result<(), StanzaError> {
        match value {
            Value::Str(s) => self.str(s),
            Value::Jid(jid) => self.jid(jid),
        }
    }

    fn str(&mut self, s: &Str) -> Result<(), StanzaError> {
        match &s.0 {
            StrRepr::Wire { wire, .. } => {
                self.out.extend_from_slice(wire);
                Ok(())
            }
            StrRepr::New(s) => self.new_str(s),
        }
    }

    /// The ladder of SPEC §2.10 "Writing strings": the first form that fits.
    fn new_str(&mut self, s: &str) -> Result<(), StanzaError> {
        match self.dict.token(s) {
            Some(Token::Single(b)) => self.out.push(b),
            Some(Token::Double(d, i)) => self.out.extend_from_slice(&[tag::DICTIONARY_0 + d, i]),
            None if packable(s, nibble) => self.packed(tag::NIBBLE_8, s, nibble),
            None if packable(s, hex) => self.packed(tag::HEX_8, s, hex),
            None => return self.raw(BytesWidth::for_len(s.len()), s.as_bytes()),
        }
        Ok(())
    }

    /// `s` is known to be packable by `code`.
    fn packed(&mut self, form: u8, s: &str, code: fn(u8) -> Option<u8>) {
        let chars = s.as_bytes();
        let odd = u8::from(chars.len() % 2 == 1);
        // At most 127 characters, so at most 64 bytes: the count fits in 7 bits.
        self.out
            .extend_from_slice(&[form, (odd << 7) | chars.len().div_ceil(2) as u8]);
        let nibble = |c: u8| code(c).unwrap_or(0x0F);
        for pair in chars.chunks(2) {
            let low = pair.get(1).map_or(0x0F, |&c| nibble(c));
            self.out.push(nibble(pair[0]) << 4 | low);
        }
    }

    fn jid(&mut self, jid: &Jid) -> Result<(), StanzaError> {
        match jid {
            Jid::Pair { user, server } => {
                self.out.push(tag::JID_PAIR);
                match user {
                    None => self.out.push(tag::LIST_EMPTY),
                    Some(user) => self.str(user)?,
                }
                self.str(server)
            }
            Jid::Ad {
                domain,
                device,
                user,
            } => {
                self.out.extend_from_slice(&[tag::AD_JID, *domain, *device]);
                self.str(user)
            }
            Jid::Fb {
                user,
                device,
                server,
            } => {
                self.out.push(tag::FB_JID);
                self.str(user)?;
                self.out.extend_from_slice(&device.to_be_bytes());
                self.str(server)
            }
            Jid::Interop {
                user,
                device,
                integrator,
                server,
            } => {
                self.out.push(tag::INTEROP_JID);
                self.str(user)?;
                self.out.extend_from_slice(&device.to_be_bytes());
                self.out.extend_from_slice(&integrator.to_be_bytes());
                match (self.leg, server) {
                    (Leg::ToServer, _) => Ok(()),
                    (Leg::ToClient, Some(server)) => self.str(server),
                    (Leg::ToClient, None) => self.new_str(INTEROP_SERVER),
                }
            }
        }
    }
}

/// NIBBLE_8 and HEX_8 hold 1 to 127 characters.
fn packable(s: &str, code: fn(u8) -> Option<u8>) -> bool {
    (1..=127).contains(&s.len()) && s.bytes().all(|c| code(c).is_some())
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'-' => Some(10),
        b'.' => Some(11),
        _ => None,
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
