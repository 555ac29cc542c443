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
    Attr, BytesWidth, Content, Inline, Jid, Leg, ListWidth, Node, Str, StrRepr, Value, WireStr,
    INLINE,
};
use super::tokens::{tag, Dictionary};
use crate::stanza::{Limits, Opaque, StanzaError};

type Result<T> = std::result::Result<T, StanzaError>;

/// Decodes a stanza body (the frame without its flags byte), which must be exactly one
/// node. `leg` matters for INTEROP_JID only, which carries a server string towards the
/// client and none towards the server.
pub fn decode(body: &Bytes, dict: &'static Dictionary, leg: Leg, limits: &Limits) -> Result<Node> {
    let mut node = Node::SLOT;
    decode_into(body, dict, leg, limits, &mut node)?;
    Ok(node)
}

/// [`decode`] into `node`, which the caller has already placed where the tree is kept.
///
/// Every reader below writes what it reads into its final place rather than returning
/// it: a string or a node built in one frame and moved into a vector is written byte by
/// byte and then read back as wide words, which the processor cannot forward from its
/// store buffer. Those stalls were a third of the time of decoding a message.
pub(super) fn decode_into(
    body: &Bytes,
    dict: &'static Dictionary,
    leg: Leg,
    limits: &Limits,
    node: &mut Node,
) -> Result<()> {
    let mut r = Reader {
        body,
        pos: 0,
        dict,
        leg,
        limits,
    };
    r.enter(1)?;
    r.node(1, node)?;
    if r.pos != body.len() {
        return Err(malformed("bytes after the node"));
    }
    Ok(())
}

fn malformed(what: &str) -> StanzaError {
    StanzaError::malformed(format!("binary stanza: {what}"))
}

fn truncated() -> StanzaError {
    malformed("an item runs past the end of the body")
}

/// Appends `slot` and returns it, for the reader to fill in place.
fn push<T>(v: &mut Vec<T>, slot: T) -> &mut T {
    let i = v.len();
    v.push(slot);
    &mut v[i]
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

    /// Reads a node into `node`, which holds [`Node::SLOT`].
    fn node(&mut self, depth: usize, node: &mut Node) -> Result<()> {
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
        node.width = width;
        self.tag(&mut node.tag)?;
        // An attribute takes at least two bytes, so the body bounds the allocation.
        node.attrs.reserve_exact(n_attrs.min(self.remaining() / 2));
        for _ in 0..n_attrs {
            let attr = push(&mut node.attrs, Attr::SLOT);
            self.key(&mut attr.key)?;
            self.value(&mut attr.value)?;
        }
        if count % 2 == 0 {
            self.content(depth, &mut node.content)?;
        }
        Ok(())
    }

    fn tag(&mut self, out: &mut Str) -> Result<()> {
        let start = self.pos;
        match self.u8()? {
            tag::LIST_EMPTY => Err(malformed("an empty tag")),
            b => {
                self.string(start, b, out)?;
                if out.as_bytes().is_empty() {
                    return Err(malformed("an empty tag"));
                }
                Ok(())
            }
        }
    }

    fn key(&mut self, out: &mut Str) -> Result<()> {
        let start = self.pos;
        match self.u8()? {
            tag::LIST_EMPTY => Err(malformed("an attribute key that is not a string")),
            b => self.string(start, b, out),
        }
    }

    fn value(&mut self, out: &mut Value) -> Result<()> {
        let start = self.pos;
        match self.u8()? {
            b @ (tag::INTEROP_JID..=tag::AD_JID | tag::JID_PAIR) => self.jid(b, out),
            b => self.string(start, b, value_str(out)),
        }
    }

    fn content(&mut self, depth: usize, out: &mut Content) -> Result<()> {
        let start = self.pos;
        match self.u8()? {
            tag::LIST_EMPTY => *out = Content::ListEmpty,
            tag::LIST_8 => {
                let count = usize::from(self.u8()?);
                self.children(ListWidth::Short, count, depth, out)?
            }
            tag::LIST_16 => {
                let count = usize::from(self.u16()?);
                self.children(ListWidth::Long, count, depth, out)?
            }
            b @ tag::BINARY_8..=tag::BINARY_32 => {
                let (width, payload) = self.raw(b)?;
                *out = Content::Bytes {
                    width,
                    payload: Opaque::from_bytes(payload),
                }
            }
            b => {
                *out = Content::Text(Value::Str(Str::SLOT));
                let Content::Text(value) = out else {
                    unreachable!("just written")
                };
                match b {
                    tag::INTEROP_JID..=tag::AD_JID | tag::JID_PAIR => self.jid(b, value)?,
                    _ => self.string(start, b, value_str(value))?,
                }
            }
        }
        Ok(())
    }

    fn children(
        &mut self,
        width: ListWidth,
        count: usize,
        depth: usize,
        out: &mut Content,
    ) -> Result<()> {
        if count > 0 {
            self.enter(depth + 1)?;
        }
        // A node takes at least three bytes (`F8 01` and a token).
        *out = Content::Children {
            width,
            nodes: Vec::with_capacity(count.min(self.remaining() / 3)),
        };
        let Content::Children { nodes, .. } = out else {
            unreachable!("just written")
        };
        for _ in 0..count {
            self.node(depth + 1, push(nodes, Node::SLOT))?;
        }
        Ok(())
    }

    /// A string item whose first byte `b` (at `start`) was just read, into `out`. It
    /// keeps its whole encoding, so that writing it again reproduces the same form.
    #[inline]
    fn string(&mut self, start: usize, b: u8, out: &mut Str) -> Result<()> {
        // Single-byte tokens, most strings, here; the rest out of line.
        if let Some(text) = self.dict.single(b) {
            *out = Str(StrRepr::Token {
                text,
                wire: [b, 0],
                len: 1,
            });
            return Ok(());
        }
        self.other_string(start, b, out)
    }

    #[inline(never)]
    fn other_string(&mut self, start: usize, b: u8, out: &mut Str) -> Result<()> {
        *out = Str(match b {
            tag::LIST_EMPTY => StrRepr::Token {
                text: "",
                wire: [tag::LIST_EMPTY, 0],
                len: 1,
            },
            0x01..=0xEB => StrRepr::Token {
                text: self
                    .dict
                    .single(b)
                    .ok_or_else(|| malformed("a single-byte token outside its table"))?,
                wire: [b, 0],
                len: 1,
            },
            tag::DICTIONARY_0..=tag::DICTIONARY_3 => {
                let i = self.u8()?;
                StrRepr::Token {
                    text: self
                        .dict
                        .double(b - tag::DICTIONARY_0, i)
                        .ok_or_else(|| malformed("a double-byte token outside its table"))?,
                    wire: [b, i],
                    len: 2,
                }
            }
            tag::HEX_8 | tag::NIBBLE_8 => return self.packed(start, b, out),
            tag::BINARY_8..=tag::BINARY_32 => {
                let (_, at, len) = self.raw_at(b)?;
                if b == tag::BINARY_8 && len <= INLINE {
                    let text = &self.body[at..at + len];
                    inline_slot(out, b, len)[..len].copy_from_slice(text);
                    return Ok(());
                }
                self.wire_str(start, None)
            }
            0xF0..=0xF4 => return Err(malformed("an unassigned tag byte")),
            _ => return Err(malformed("a JID or a list where a string is expected")),
        });
        Ok(())
    }

    /// The string from `start` to here, kept as its encoding.
    fn wire_str(&self, start: usize, packed: Option<Box<str>>) -> StrRepr {
        StrRepr::Wire(Box::new(WireStr {
            wire: self.body.slice(start..self.pos),
            packed,
        }))
    }

    /// The length and payload of `FC` / `FD` / `FE`.
    fn raw(&mut self, b: u8) -> Result<(BytesWidth, Bytes)> {
        let (width, start, len) = self.raw_at(b)?;
        Ok((width, self.body.slice(start..start + len)))
    }

    /// The length of `FC` / `FD` / `FE`, and where the payload starts.
    fn raw_at(&mut self, b: u8) -> Result<(BytesWidth, usize, usize)> {
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
        Ok((width, start, len))
    }

    /// A packed string (`b` at `start`). The common case, short and written the way the
    /// ladder writes it, is unpacked into an [`Inline`]; anything else keeps its bytes.
    fn packed(&mut self, start: usize, b: u8, out: &mut Str) -> Result<()> {
        let head = self.u8()?;
        let n = usize::from(head & 0x7F);
        let at = self.take(n)?;
        let body = self.body;
        let bytes = &body[at..at + n];
        // The top bit says the last nibble is padding, whatever its value.
        let chars = (2 * n).saturating_sub(usize::from(head >> 7));
        if n > 0 && chars <= INLINE {
            let buf = inline_slot(out, b, chars);
            if unpack_inline(b, bytes, chars, buf) {
                return Ok(());
            }
        }
        let text = unpack(b, bytes, chars)?;
        *out = Str(self.wire_str(start, Some(text)));
        Ok(())
    }

    /// The JID form `b`, into `out`; its parts are strings, never JIDs or lists, so
    /// reading one cannot recurse.
    fn jid(&mut self, b: u8, out: &mut Value) -> Result<()> {
        match b {
            tag::JID_PAIR => {
                *out = Value::Jid(Jid::Pair {
                    user: None,
                    server: Str::SLOT,
                });
                let Value::Jid(Jid::Pair { user, server }) = out else {
                    unreachable!("just written")
                };
                let start = self.pos;
                match self.u8()? {
                    tag::LIST_EMPTY => {}
                    ub => self.string(start, ub, user.insert(Str::SLOT))?,
                }
                self.part(server)
            }
            tag::AD_JID => {
                let [domain, device] = self.array()?;
                *out = Value::Jid(Jid::Ad {
                    domain,
                    device,
                    user: Str::SLOT,
                });
                let Value::Jid(Jid::Ad { user, .. }) = out else {
                    unreachable!("just written")
                };
                self.part(user)
            }
            tag::FB_JID => {
                *out = Value::Jid(Jid::Fb {
                    user: Str::SLOT,
                    device: 0,
                    server: Str::SLOT,
                });
                let Value::Jid(Jid::Fb {
                    user,
                    device,
                    server,
                }) = out
                else {
                    unreachable!("just written")
                };
                self.part(user)?;
                *device = self.u16()?;
                self.part(server)
            }
            _ => {
                *out = Value::Jid(Jid::Interop {
                    user: Str::SLOT,
                    device: 0,
                    integrator: 0,
                    server: None,
                });
                let Value::Jid(Jid::Interop {
                    user,
                    device,
                    integrator,
                    server,
                }) = out
                else {
                    unreachable!("just written")
                };
                self.part(user)?;
                *device = self.u16()?;
                *integrator = self.u16()?;
                match self.leg {
                    Leg::ToClient => self.part(server.insert(Str::SLOT)),
                    Leg::ToServer => Ok(()),
                }
            }
        }
    }

    fn part(&mut self, out: &mut Str) -> Result<()> {
        let start = self.pos;
        let b = self.u8()?;
        self.string(start, b, out)
    }
}

/// `out` made a string slot, for a string read into it.
fn value_str(out: &mut Value) -> &mut Str {
    if !matches!(out, Value::Str(_)) {
        *out = Value::Str(Str::SLOT);
    }
    match out {
        Value::Str(s) => s,
        Value::Jid(_) => unreachable!("just written"),
    }
}

/// `out` made an [`Inline`] of form `b` and `len` characters, all zero, and its buffer,
/// for the text to be written straight into it.
fn inline_slot(out: &mut Str, b: u8, len: usize) -> &mut [u8; INLINE] {
    *out = Str(StrRepr::Inline(Inline {
        form: b,
        len: len as u8,
        buf: [0; INLINE],
    }));
    match &mut out.0 {
        StrRepr::Inline(i) => &mut i.buf,
        _ => unreachable!("just written"),
    }
}

/// The character of nibble `x` in form `b`; `None` for NIBBLE_8's `F` (skipped) and
/// 12-14 (refused).
fn packed_char(b: u8, x: u8) -> Option<u8> {
    match (b, x) {
        (tag::HEX_8, _) => Some(b"0123456789ABCDEF"[usize::from(x)]),
        (_, 0..=9) => Some(b'0' + x),
        (_, 10) => Some(b'-'),
        (_, 11) => Some(b'.'),
        _ => None,
    }
}

/// The two characters of each packed byte, `0` for a nibble that is not a character
/// (NIBBLE_8's 12-15): one table per form, indexed by the byte.
static HEX_PAIRS: [[u8; 2]; 256] = pairs(tag::HEX_8);
static NIBBLE_PAIRS: [[u8; 2]; 256] = pairs(tag::NIBBLE_8);

const fn pairs(form: u8) -> [[u8; 2]; 256] {
    const fn char_of(form: u8, x: u8) -> u8 {
        match (form, x) {
            (tag::HEX_8, 0..=9) | (_, 0..=9) => b'0' + x,
            (tag::HEX_8, _) => b'A' + x - 10,
            (_, 10) => b'-',
            (_, 11) => b'.',
            _ => 0,
        }
    }
    let mut t = [[0; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [
            char_of(form, (i >> 4) as u8),
            char_of(form, (i & 0x0F) as u8),
        ];
        i += 1;
    }
    t
}

/// `bytes` (at least one) unpacked into `buf` (zeroed) as `chars` (at most [`INLINE`])
/// characters, if the writer's ladder would pack that text into exactly these bytes:
/// every nibble a character and the padding nibble, if any, `F`. `false` sends the
/// string the long way, which also finds the errors.
fn unpack_inline(b: u8, bytes: &[u8], chars: usize, buf: &mut [u8; INLINE]) -> bool {
    let table = if b == tag::HEX_8 {
        &HEX_PAIRS
    } else {
        &NIBBLE_PAIRS
    };
    let full = chars / 2;
    for (i, &x) in bytes[..full].iter().enumerate() {
        let pair = table[usize::from(x)];
        if pair[0] == 0 || pair[1] == 0 {
            return false;
        }
        buf[2 * i] = pair[0];
        buf[2 * i + 1] = pair[1];
        // After the text, where there is room, the packed bytes themselves: the writer
        // copies them back when they all fit. (Byte by byte: a copy of a variable
        // length would be a call to `memcpy`.)
        if let Some(slot) = buf.get_mut(chars + i) {
            *slot = x;
        }
    }
    if chars % 2 == 1 {
        let x = bytes[full];
        let c = table[usize::from(x)][0];
        if c == 0 || x & 0x0F != 0x0F {
            return false;
        }
        buf[chars - 1] = c;
        if let Some(slot) = buf.get_mut(chars + full) {
            *slot = x;
        }
    }
    true
}

/// `bytes` unpacked in full: `chars` characters, NIBBLE_8's `F` nibbles skipped.
fn unpack(b: u8, bytes: &[u8], chars: usize) -> Result<Box<str>> {
    let mut text = String::with_capacity(chars);
    let nibbles = bytes.iter().flat_map(|&x| [x >> 4, x & 0x0F]);
    for (i, nibble) in nibbles.enumerate() {
        let c = match packed_char(b, nibble) {
            Some(c) => c,
            None if nibble == 15 => continue,
            None => return Err(malformed("a NIBBLE_8 string with nibble 12-14")),
        };
        if i < chars {
            text.push(char::from(c));
        }
    }
    Ok(text.into_boxed_str())
}
