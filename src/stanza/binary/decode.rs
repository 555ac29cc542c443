//! Reading one binary node (SPEC §2.10).
//!
//! This runs on every stanza, and what it reads comes from a peer the proxy does not
//! trust. So it is strict (anything the SPEC does not define is refused), it is bounded
//! (depth and attribute limits are checked before the work they guard, and no buffer is
//! sized from a count before the bytes behind it exist), and it copies nothing it can
//! slice: strings and payloads are `Bytes` views of the body, tokens are `&'static`.
//! Only packed strings allocate, since their text does not exist on the wire.

use bytes::Bytes;

use super::node::{
    Attr, BytesWidth, Content, Jid, Leg, ListWidth, Node, Str, StrRepr, Text, Value,
};
use super::tokens::{tag, Dictionary};
use crate::stanza::{Limits, Opaque, StanzaError};

type Result<T> = std::result::Result<T, StanzaError>;

/// Decodes a stanza body (the frame without its flags byte), which must be exactly one
/// node. `leg` matters for INTEROP_JID only, which carries a server string towards the
/// client and none towards the server.
pub fn decode(body: &Bytes, dict: &'static Dictionary, leg: Leg, limits: &Limits) -> Result<Node> {
    let mut r = Reader {
        body,
        pos: 0,
        dict,
        leg,
        limits,
    };
    r.enter(1)?;
    let node = r.node(1)?;
    if r.pos != body.len() {
        return Err(malformed("bytes after the node"));
    }
    Ok(node)
}

fn malformed(what: &str) -> StanzaError {
    StanzaError::malformed(format!("binary stanza: {what}"))
}

fn truncated() -> StanzaError {
    malformed("an item runs past the end of the body")
}

struct Reader<'a> {
    body: &'a Bytes,
    pos: usize,
    dict: &'static Dictionary,
    leg: Leg,
    limits: &'a Limits,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.body.len() - self.pos
    }

    fn u8(&mut self) -> Result<u8> {
        let b = *self.body.get(self.pos).ok_or_else(truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// Claims the next `n` bytes and returns where they start; the only way past the
    /// end of the body is through here, so every length is checked against it.
    fn take(&mut self, n: usize) -> Result<usize> {
        if n > self.remaining() {
            return Err(truncated());
        }
        let start = self.pos;
        self.pos += n;
        Ok(start)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let start = self.take(N)?;
        let mut a = [0; N];
        a.copy_from_slice(&self.body[start..start + N]);
        Ok(a)
    }

    fn u16(&mut self) -> Result<u16> {
        self.array().map(u16::from_be_bytes)
    }

    /// Checked before descending, so recursion never goes past the limit.
    fn enter(&self, depth: usize) -> Result<()> {
        if depth > self.limits.max_depth {
            return Err(StanzaError::limit(format!(
                "binary stanza nested deeper than {}",
                self.limits.max_depth
            )));
        }
        Ok(())
    }

    fn node(&mut self, depth: usize) -> Result<Node> {
        let (width, count) = match self.u8()? {
            tag::LIST_8 => (ListWidth::Short, usize::from(self.u8()?)),
            tag::LIST_16 => (ListWidth::Long, usize::from(self.u16()?)),
            tag::LIST_EMPTY => return Err(malformed("an empty list where a node is expected")),
            _ => return Err(malformed("a node that is not a list")),
        };
        if count == 0 {
            return Err(malformed("a list of 0 items where a node is expected"));
        }
        let n_attrs = (count - 1) / 2;
        if n_attrs > self.limits.max_attributes {
            return Err(StanzaError::limit(format!(
                "binary stanza node with more than {} attributes",
                self.limits.max_attributes
            )));
        }
        let tag = self.tag()?;
        // An attribute takes at least two bytes, so the body bounds the allocation.
        let mut attrs = Vec::with_capacity(n_attrs.min(self.remaining() / 2));
        for _ in 0..n_attrs {
            let key = self.key()?;
            let value = self.value()?;
            attrs.push(Attr { key, value });
        }
        let content = if count % 2 == 0 {
            self.content(depth)?
        } else {
            Content::None
        };
        Ok(Node {
            tag,
            attrs,
            content,
            width,
        })
    }

    fn tag(&mut self) -> Result<Str> {
        let start = self.pos;
        match self.u8()? {
            tag::LIST_EMPTY => Err(malformed("an empty tag")),
            b => {
                let s = self.string(start, b)?;
                if s.as_bytes().is_empty() {
                    return Err(malformed("an empty tag"));
                }
                Ok(s)
            }
        }
    }

    fn key(&mut self) -> Result<Str> {
        let start = self.pos;
        match self.u8()? {
            tag::LIST_EMPTY => Err(malformed("an attribute key that is not a string")),
            b => self.string(start, b),
        }
    }

    fn value(&mut self) -> Result<Value> {
        let start = self.pos;
        match self.u8()? {
            b @ (tag::INTEROP_JID..=tag::AD_JID | tag::JID_PAIR) => self.jid(b).map(Value::Jid),
            b => self.string(start, b).map(Value::Str),
        }
    }

    fn content(&mut self, depth: usize) -> Result<Content> {
        let start = self.pos;
        Ok(match self.u8()? {
            tag::LIST_EMPTY => Content::ListEmpty,
            tag::LIST_8 => {
                let count = usize::from(self.u8()?);
                self.children(ListWidth::Short, count, depth)?
            }
            tag::LIST_16 => {
                let count = usize::from(self.u16()?);
                self.children(ListWidth::Long, count, depth)?
            }
            b @ tag::BINARY_8..=tag::BINARY_32 => {
                let (width, payload) = self.raw(b)?;
                Content::Bytes {
                    width,
                    payload: Opaque::from_bytes(payload),
                }
            }
            b @ (tag::INTEROP_JID..=tag::AD_JID | tag::JID_PAIR) => {
                Content::Text(Value::Jid(self.jid(b)?))
            }
            b => Content::Text(Value::Str(self.string(start, b)?)),
        })
    }

    fn children(&mut self, width: ListWidth, count: usize, depth: usize) -> Result<Content> {
        if count > 0 {
            self.enter(depth + 1)?;
        }
        // A node takes at least three bytes (`F8 01` and a token).
        let mut nodes = Vec::with_capacity(count.min(self.remaining() / 3));
        for _ in 0..count {
            nodes.push(self.node(depth + 1)?);
        }
        Ok(Content::Children { width, nodes })
    }

    /// A string item whose first byte `b` (at `start`) was just read. It keeps its
    /// whole encoding, so that writing it again reproduces the same form.
    fn string(&mut self, start: usize, b: u8) -> Result<Str> {
        let text = match b {
            tag::LIST_EMPTY => Text::Empty,
            0x01..=0xEB => Text::Token(
                self.dict
                    .single(b)
                    .ok_or_else(|| malformed("a single-byte token outside its table"))?,
            ),
            tag::DICTIONARY_0..=tag::DICTIONARY_3 => {
                let i = self.u8()?;
                Text::Token(
                    self.dict
                        .double(b - tag::DICTIONARY_0, i)
                        .ok_or_else(|| malformed("a double-byte token outside its table"))?,
                )
            }
            tag::HEX_8 | tag::NIBBLE_8 => Text::Packed(self.packed(b)?),
            tag::BINARY_8..=tag::BINARY_32 => Text::Raw(self.raw(b)?.1),
            0xF0..=0xF4 => return Err(malformed("an unassigned tag byte")),
            _ => return Err(malformed("a JID or a list where a string is expected")),
        };
        Ok(Str(StrRepr::Wire {
            wire: self.body.slice(start..self.pos),
            text,
        }))
    }

    /// The length and payload of `FC` / `FD` / `FE`.
    fn raw(&mut self, b: u8) -> Result<(BytesWidth, Bytes)> {
        let (width, len) = match b {
            tag::BINARY_8 => (BytesWidth::B8, usize::from(self.u8()?)),
            tag::BINARY_20 => {
                let [hi, mid, lo] = self.array()?;
                // The top nibble is outside the 20 bits. Refusing it, rather than
                // ignoring it, is what lets bytes content be written back exactly.
                if hi > 0x0F {
                    return Err(malformed("a 20-bit length with its top bits set"));
                }
                let len = u32::from_be_bytes([0, hi, mid, lo]);
                (BytesWidth::B20, len as usize)
            }
            _ => {
                let len = u32::from_be_bytes(self.array()?);
                (
                    BytesWidth::B32,
                    usize::try_from(len).map_err(|_| truncated())?,
                )
            }
        };
        let start = self.take(len)?;
        Ok((width, self.body.slice(start..start + len)))
    }

    fn packed(&mut self, b: u8) -> Result<Box<str>> {
        let head = self.u8()?;
        let n = usize::from(head & 0x7F);
        let start = self.take(n)?;
        // The top bit says the last nibble is padding, whatever its value.
        let chars = (2 * n).saturating_sub(usize::from(head >> 7));
        let mut text = String::with_capacity(chars);
        let nibbles = self.body[start..start + n]
            .iter()
            .flat_map(|&x| [x >> 4, x & 0x0F]);
        for (i, nibble) in nibbles.enumerate() {
            let c = match (b, nibble) {
                (tag::HEX_8, _) => b"0123456789ABCDEF"[usize::from(nibble)],
                (_, 0..=9) => b'0' + nibble,
                (_, 10) => b'-',
                (_, 11) => b'.',
                (_, 15) => continue,
                _ => return Err(malformed("a NIBBLE_8 string with nibble 12-14")),
            };
            if i < chars {
                text.push(char::from(c));
            }
        }
        Ok(text.into_boxed_str())
    }

    /// The JID form `b`; its parts are strings, never JIDs or lists, so reading one
    /// cannot recurse.
    fn jid(&mut self, b: u8) -> Result<Jid> {
        Ok(match b {
            tag::JID_PAIR => {
                let start = self.pos;
                let user = match self.u8()? {
                    tag::LIST_EMPTY => None,
                    ub => Some(self.string(start, ub)?),
                };
                Jid::Pair {
                    user,
                    server: self.part()?,
                }
            }
            tag::AD_JID => {
                let [domain, device] = self.array()?;
                Jid::Ad {
                    domain,
                    device,
                    user: self.part()?,
                }
            }
            tag::FB_JID => {
                let user = self.part()?;
                let device = self.u16()?;
                Jid::Fb {
                    user,
                    device,
                    server: self.part()?,
                }
            }
            _ => {
                let user = self.part()?;
                let device = self.u16()?;
                let integrator = self.u16()?;
                let server = match self.leg {
                    Leg::ToClient => Some(self.part()?),
                    Leg::ToServer => None,
                };
                Jid::Interop {
                    user,
                    device,
                    integrator,
                    server,
                }
            }
        })
    }

    fn part(&mut self) -> Result<Str> {
        let start = self.pos;
        let b = self.u8()?;
        self.string(start, b)
    }
}
