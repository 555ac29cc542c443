//! Writing one binary node (SPEC §2.10).
//!
//! Whatever was read from the wire is written in the form it came: strings and JID parts
//! as their stored encoding, JIDs in their form, bytes in their length width, lists in
//! their count width. Only list counts are recomputed, and only what the proxy created
//! goes through the string ladder. So decoding and re-encoding a body gives the same
//! bytes, and an annotated stanza differs from the received one only where it changed.

use bytes::{BufMut, BytesMut};

use super::node::{
    BytesWidth, Content, Form, Inline, Jid, Leg, ListWidth, Node, Str, StrRepr, Value,
};
use super::tokens::{tag, Dictionary, Token};
use crate::stanza::StanzaError;

/// Appends `node` to `out`. `leg` decides whether an INTEROP_JID carries its server
/// string (towards the client only). Fails, with code 413, only for a list of more
/// than 65535 items or a string or payload of 4 GiB or more, which the wire cannot
/// express; what was decoded always fits.
pub fn encode<S: Sink>(
    node: &Node,
    dict: &Dictionary,
    leg: Leg,
    out: &mut S,
) -> Result<(), StanzaError> {
    Writer { dict, leg, out }.node(node)
}

/// Where the writer appends: a `Vec` (tests, [`super::BinaryCodec::encode_node`]) or
/// the caller's `BytesMut`, written into directly.
pub trait Sink {
    fn push(&mut self, b: u8);
    fn extend_from_slice(&mut self, s: &[u8]);
}

impl Sink for Vec<u8> {
    #[inline]
    fn push(&mut self, b: u8) {
        Vec::push(self, b)
    }

    #[inline]
    fn extend_from_slice(&mut self, s: &[u8]) {
        Vec::extend_from_slice(self, s)
    }
}

impl Sink for BytesMut {
    #[inline]
    fn push(&mut self, b: u8) {
        self.put_u8(b)
    }

    #[inline]
    fn extend_from_slice(&mut self, s: &[u8]) {
        BytesMut::extend_from_slice(self, s)
    }
}

struct Writer<'a, S> {
    dict: &'a Dictionary,
    leg: Leg,
    out: &'a mut S,
}

/// The server string an INTEROP_JID must carry towards the client when the proxy made
/// the JID (or read it on the other leg, where the string is absent).
const INTEROP_SERVER: &str = "interop";

impl<S: Sink> Writer<'_, S> {
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

    /// A string: tokens, most of them, inline here; the other forms out of line.
    #[inline]
    fn str(&mut self, s: &Str) -> Result<(), StanzaError> {
        match &s.0 {
            StrRepr::Token { wire, len, .. } => {
                // Two fixed shapes, each written without a call to `memcpy`.
                match len {
                    1 => self.out.push(wire[0]),
                    _ => self.out.extend_from_slice(wire),
                }
                Ok(())
            }
            StrRepr::Inline(i) => {
                self.inline(i);
                Ok(())
            }
            _ => self.other_str(s),
        }
    }

    #[inline(never)]
    fn other_str(&mut self, s: &Str) -> Result<(), StanzaError> {
        match &s.0 {
            StrRepr::Token { .. } | StrRepr::Inline(_) => self.str(s),
            StrRepr::Wire(w) => {
                self.out.extend_from_slice(&w.wire);
                Ok(())
            }
            StrRepr::New { text, forms } => {
                let form = match self.dict.cache_slot() {
                    Some(slot) => forms[slot],
                    None => form(self.dict, text),
                };
                self.write_new(text, form)
            }
        }
    }

    /// A short wire string, in the form it was read (which its text determines).
    #[inline(never)]
    fn inline(&mut self, i: &Inline) {
        let text = i.text();
        match i.form {
            tag::BINARY_8 => {
                self.out.extend_from_slice(&[tag::BINARY_8, i.len]);
                self.out.extend_from_slice(text);
            }
            form => match i.packed_bytes() {
                Some(bytes) => {
                    let odd = u8::from(i.len % 2 == 1);
                    self.out
                        .extend_from_slice(&[form, (odd << 7) | bytes.len() as u8]);
                    self.out.extend_from_slice(bytes);
                }
                None => self.packed(form, text),
            },
        }
    }

    fn new_str(&mut self, s: &str) -> Result<(), StanzaError> {
        self.write_new(s, form(self.dict, s))
    }

    /// A created string in the form [`form`] picked for it.
    fn write_new(&mut self, s: &str, form: Form) -> Result<(), StanzaError> {
        match form {
            Form::Single(b) => self.out.push(b),
            Form::Double(d, i) => self.out.extend_from_slice(&[tag::DICTIONARY_0 + d, i]),
            Form::Nibble => self.packed(tag::NIBBLE_8, s.as_bytes()),
            Form::Hex => self.packed(tag::HEX_8, s.as_bytes()),
            Form::Raw => return self.raw(BytesWidth::for_len(s.len()), s.as_bytes()),
        }
        Ok(())
    }

    /// `chars` are known to be packable in `form`.
    fn packed(&mut self, form: u8, chars: &[u8]) {
        let code = if form == tag::HEX_8 {
            &HEX_CODES
        } else {
            &NIBBLE_CODES
        };
        let code = |c: u8| code[usize::from(c)] & 0x0F;
        let n = chars.len().div_ceil(2);
        // At most 127 characters, so at most 64 bytes: the count fits in 7 bits.
        let mut buf = [0; 2 + 64];
        buf[0] = form;
        buf[1] = (u8::from(chars.len() % 2 == 1) << 7) | n as u8;
        let mut pairs = chars.chunks_exact(2);
        for (slot, pair) in buf[2..].iter_mut().zip(&mut pairs) {
            *slot = (code(pair[0]) << 4) | code(pair[1]);
        }
        if let [last] = pairs.remainder() {
            buf[1 + n] = (code(*last) << 4) | 0x0F;
        }
        self.out.extend_from_slice(&buf[..2 + n]);
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

/// The ladder of SPEC §2.10 "Writing strings": the first form that fits `s` with
/// `dict`.
pub(super) fn form(dict: &Dictionary, s: &str) -> Form {
    match dict.token(s) {
        Some(Token::Single(b)) => Form::Single(b),
        Some(Token::Double(d, i)) => Form::Double(d, i),
        None if packable(s, &NIBBLE_CODES) => Form::Nibble,
        None if packable(s, &HEX_CODES) => Form::Hex,
        None => Form::Raw,
    }
}

/// NIBBLE_8 and HEX_8 hold 1 to 127 characters.
fn packable(s: &str, codes: &[u8; 256]) -> bool {
    (1..=127).contains(&s.len()) && s.bytes().all(|c| codes[usize::from(c)] != 0xFF)
}

/// Each character's nibble in a form; `FF` for a character the form lacks (written as
/// nibble `F`, but only [`packable`] strings are packed).
static NIBBLE_CODES: [u8; 256] = codes(false);
static HEX_CODES: [u8; 256] = codes(true);

const fn codes(hex: bool) -> [u8; 256] {
    let mut t = [0xFF; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'0'..=b'9' => b - b'0',
            b'-' if !hex => 10,
            b'.' if !hex => 11,
            b'A'..=b'F' if hex => b - b'A' + 10,
            _ => 0xFF,
        };
        c += 1;
    }
    t
}
