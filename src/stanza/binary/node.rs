//! The binary node tree (SPEC §2.10), keeping every decoded value in the form it came.
//!
//! A modified stanza must differ from the received bytes only in what an annotation
//! changed and in the list counts around it. So every string, JID part and bytes
//! payload read from the wire keeps its encoded bytes, and the writer copies them back;
//! only what the proxy creates ([`Str::new`]) goes through the string ladder, with the
//! session's dictionary, when it is written.

use bytes::Bytes;
use std::borrow::Cow;
use std::fmt;

use super::tokens::dictionary;
use crate::stanza::Opaque;

/// A string item: a token, a packed string, raw UTF-8, or one the proxy made.
#[derive(Clone, PartialEq, Eq)]
pub struct Str(pub(super) StrRepr);

/// Strings read from the wire keep their encoding, in the cheapest form that can give
/// it back byte for byte. Most strings are tokens or short, so they hold no slice of the
/// frame (a slice costs two atomic reference-count operations) and no heap text.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum StrRepr {
    /// A token (`01`-`EB`, or `EC`-`EF` and an index), or `00` read where a string may
    /// stand (the empty string): the text borrows the static table, `wire[..len]` is
    /// the encoding.
    Token {
        text: &'static str,
        wire: [u8; 2],
        len: u8,
    },
    /// A short string whose encoding its text determines: a `FC` raw string, or a
    /// packed one in the form the writer's ladder would give it (padding nibble `F`).
    Inline(Inline),
    /// Any other string read from the wire: `wire` is its whole encoding.
    Wire(Box<WireStr>),
    /// Made by the proxy; its form is the ladder's (SPEC §2.10, writing strings), with
    /// the session's dictionary. `forms` holds it for the two real dictionaries,
    /// worked out once when the string is made: the proxy makes its annotations once
    /// and writes copies of them on every stanza.
    New { text: Box<str>, forms: [Form; 2] },
}

/// Which rung of the ladder a created string takes with one dictionary.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Form {
    Single(u8),
    /// Table (`0..4`) and index.
    Double(u8, u8),
    Nibble,
    Hex,
    Raw,
}

/// The longest text an [`Inline`] holds (it keeps [`Str`] at 24 bytes).
pub(super) const INLINE: usize = 21;

/// The text of a short wire string and its form (`FB`, `FC` or `FF`), from which the
/// encoding is rebuilt exactly. A packed string's bytes follow its text, as many as
/// fit; when all do (up to 14 characters) the writer copies them rather than packing
/// again. The rest of `buf` is zero: all of it follows from the text, so equality is
/// derived.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Inline {
    pub(super) form: u8,
    pub(super) len: u8,
    pub(super) buf: [u8; INLINE],
}

impl Inline {
    pub(super) fn text(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// A packed string's bytes (after its tag and head bytes), if they are kept.
    pub(super) fn packed_bytes(&self) -> Option<&[u8]> {
        let len = usize::from(self.len);
        self.buf.get(len..len + len.div_ceil(2))
    }
}

/// A wire string kept as its encoding: a raw string that is long or has a wide length
/// prefix, or a packed one with a padding nibble other than `F` or a `F` nibble inside
/// a NIBBLE_8 string (which the decoder skips).
#[derive(Clone, PartialEq, Eq)]
pub(super) struct WireStr {
    /// The item's whole encoding, tag byte included.
    pub(super) wire: Bytes,
    /// A packed string's text, unpacked at decode; `None` for a raw string, whose text
    /// is `wire` past its length prefix (not checked as UTF-8 until someone reads it).
    pub(super) packed: Option<Box<str>>,
}

impl WireStr {
    fn text(&self) -> &[u8] {
        match &self.packed {
            Some(s) => s.as_bytes(),
            None => {
                let skip = match self.wire[0] {
                    0xFC => 2,
                    0xFD => 4,
                    _ => 5,
                };
                &self.wire[skip..]
            }
        }
    }
}

impl Str {
    /// What the decoder puts where a string goes before reading the string into it.
    pub(super) const SLOT: Str = Str(StrRepr::Token {
        text: "",
        wire: [0, 0],
        len: 1,
    });

    /// A string the proxy creates.
    pub fn new(s: &str) -> Self {
        Str(StrRepr::New {
            text: s.into(),
            forms: [2, 3].map(|v| match dictionary(v) {
                Some(d) => super::encode::form(d, s),
                None => unreachable!("dictionaries 2 and 3 exist"),
            }),
        })
    }

    /// The string's bytes (raw strings need not be UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            StrRepr::Token { text, .. } => text.as_bytes(),
            StrRepr::Inline(i) => i.text(),
            StrRepr::Wire(w) => w.text(),
            StrRepr::New { text, .. } => text.as_bytes(),
        }
    }

    /// The string as text; bytes that are not UTF-8 are replaced.
    pub fn as_text(&self) -> Cow<'_, str> {
        match &self.0 {
            StrRepr::Token { text, .. } => Cow::Borrowed(text),
            StrRepr::New { text, .. } => Cow::Borrowed(text),
            _ => match std::str::from_utf8(self.as_bytes()) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => String::from_utf8_lossy(self.as_bytes()),
            },
        }
    }

    pub fn is(&self, s: &str) -> bool {
        self.as_bytes() == s.as_bytes()
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.as_text(), f)
    }
}

/// The JID forms of SPEC §2.10; each part keeps its own string form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Jid {
    /// `FA`: `user@server`; `user` is `None` when the wire had `00`.
    Pair { user: Option<Str>, server: Str },
    /// `F7`: `user:device@server`, the server named by a domain byte.
    Ad { domain: u8, device: u8, user: Str },
    /// `F6`: `user:device@server`.
    Fb { user: Str, device: u16, server: Str },
    /// `F5`: `integrator-user:device@interop`. The server string is on the wire only
    /// towards the client; `server` holds it when it was read, and the writer puts it
    /// (or `interop`) on the to-client leg only.
    Interop {
        user: Str,
        device: u16,
        integrator: u16,
        server: Option<Str>,
    },
}

impl Jid {
    /// The JID in its text form, as SPEC §2.10's table writes it (for tests and
    /// comparisons; never logged).
    pub fn to_text(&self) -> String {
        match self {
            Jid::Pair { user, server } => format!(
                "{}@{}",
                user.as_ref().map(Str::as_text).unwrap_or_default(),
                server.as_text()
            ),
            Jid::Ad {
                domain,
                device,
                user,
            } => {
                let server = match domain {
                    0 => "s.whatsapp.net",
                    1 => "lid",
                    128 => "hosted",
                    129 => "hosted.lid",
                    _ => "unknown",
                };
                if *device == 0 {
                    format!("{}@{server}", user.as_text())
                } else {
                    format!("{}:{device}@{server}", user.as_text())
                }
            }
            Jid::Fb {
                user,
                device,
                server,
            } => format!("{}:{device}@{}", user.as_text(), server.as_text()),
            Jid::Interop {
                user,
                device,
                integrator,
                ..
            } => format!("{integrator}-{}:{device}@interop", user.as_text()),
        }
    }
}

/// An attribute value or string content: a string or a JID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Str(Str),
    Jid(Jid),
}

impl Value {
    /// Whether the value is the plain string `s` (a JID never is).
    pub fn is(&self, s: &str) -> bool {
        matches!(self, Value::Str(v) if v.is(s))
    }

    /// The value as text; a JID in its text form.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            Value::Str(s) => s.as_text(),
            Value::Jid(j) => Cow::Owned(j.to_text()),
        }
    }
}

/// One attribute, in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub key: Str,
    pub value: Value,
}

impl Attr {
    /// What the decoder appends before reading an attribute into it.
    pub(super) const SLOT: Attr = Attr {
        key: Str::SLOT,
        value: Value::Str(Str::SLOT),
    };
}

/// The width a list's count was written with: `F8` (u8) or `F9` (u16). Kept so that a
/// re-written list keeps its form; a `Short` list that grows past 255 becomes `Long`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ListWidth {
    #[default]
    Short,
    Long,
}

/// The length prefix of raw bytes: `FC` (u8), `FD` (20 bits) or `FE` (u32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BytesWidth {
    B8,
    B20,
    B32,
}

impl BytesWidth {
    /// The narrowest width that holds `len` bytes.
    pub fn for_len(len: usize) -> Self {
        if len < 256 {
            BytesWidth::B8
        } else if len < 1 << 20 {
            BytesWidth::B20
        } else {
            BytesWidth::B32
        }
    }
}

/// A node's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// No content item (the node's list has an odd count).
    None,
    /// `00` in the content position.
    ListEmpty,
    /// A list of child nodes.
    Children { width: ListWidth, nodes: Vec<Node> },
    /// String content (a token, packed or JID form; raw bytes are [`Content::Bytes`]).
    Text(Value),
    /// Raw bytes. Never decoded: for `<enc>` they are Signal ciphertext.
    Bytes { width: BytesWidth, payload: Opaque },
}

/// One node: tag, attributes in wire order, content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub tag: Str,
    pub attrs: Vec<Attr>,
    pub content: Content,
    /// The width of this node's own list header.
    pub width: ListWidth,
}

impl Node {
    /// What the decoder puts where a node goes before reading the node into it.
    pub(in crate::stanza) const SLOT: Node = Node {
        tag: Str::SLOT,
        attrs: Vec::new(),
        content: Content::None,
        width: ListWidth::Short,
    };

    /// A node the proxy creates, with no attributes and no content.
    pub fn new(tag: &str) -> Self {
        Node {
            tag: Str::new(tag),
            attrs: Vec::new(),
            content: Content::None,
            width: ListWidth::Short,
        }
    }

    pub fn with_attr(mut self, key: &str, value: Value) -> Self {
        self.attrs.push(Attr {
            key: Str::new(key),
            value,
        });
        self
    }

    pub fn with_str_attr(self, key: &str, value: &str) -> Self {
        self.with_attr(key, Value::Str(Str::new(value)))
    }

    pub fn with_child(mut self, child: Node) -> Self {
        self.push_child(child);
        self
    }

    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attrs.iter().find(|a| a.key.is(key)).map(|a| &a.value)
    }

    /// Whether attribute `key` is the plain string `value`.
    pub fn attr_is(&self, key: &str, value: &str) -> bool {
        self.attr(key).is_some_and(|v| v.is(value))
    }

    pub fn children(&self) -> &[Node] {
        match &self.content {
            Content::Children { nodes, .. } => nodes,
            _ => &[],
        }
    }

    /// Appends a child; content that was not a list becomes one (the proxy only appends
    /// to nodes that hold children or nothing).
    pub fn push_child(&mut self, child: Node) {
        match &mut self.content {
            Content::Children { nodes, .. } => nodes.push(child),
            _ => {
                self.content = Content::Children {
                    width: ListWidth::Short,
                    nodes: vec![child],
                }
            }
        }
    }

    pub fn retain_children(&mut self, mut keep: impl FnMut(&Node) -> bool) {
        if let Content::Children { nodes, .. } = &mut self.content {
            nodes.retain(|n| keep(n));
        }
    }

    /// The first node named `tag` below this one, depth first, in wire order.
    pub fn find(&self, tag: &str) -> Option<&Node> {
        self.children()
            .iter()
            .find_map(|c| if c.tag.is(tag) { Some(c) } else { c.find(tag) })
    }
}

/// Which way a stanza flows. It matters for one form only: an INTEROP_JID carries its
/// server string towards the client and not towards the server (SPEC §2.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leg {
    ToServer,
    ToClient,
}
