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

use crate::stanza::Opaque;

/// A string item: a token, a packed string, raw UTF-8, or one the proxy made.
#[derive(Clone, PartialEq, Eq)]
pub struct Str(pub(super) StrRepr);

#[derive(Clone, PartialEq, Eq)]
pub(super) enum StrRepr {
    /// Read from the wire. `wire` is the item's whole encoding (tag byte included) and
    /// is written back as it is; `text` is what it means.
    Wire { wire: Bytes, text: Text },
    /// Made by the proxy; its form is chosen when written (SPEC §2.10, writing strings).
    New(Box<str>),
}

/// What a wire string means. Tokens borrow the static table; packed strings are
/// unpacked once at decode; raw strings are a slice of the frame, not checked as UTF-8
/// until someone reads them as text.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Text {
    Token(&'static str),
    Packed(Box<str>),
    Raw(Bytes),
    /// `00` (LIST_EMPTY) read where a string may stand: the empty string.
    Empty,
}

impl Str {
    /// A string the proxy creates.
    pub fn new(s: &str) -> Self {
        Str(StrRepr::New(s.into()))
    }

    /// The string's bytes (raw strings need not be UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            StrRepr::New(s) => s.as_bytes(),
            StrRepr::Wire { text, .. } => match text {
                Text::Token(s) => s.as_bytes(),
                Text::Packed(s) => s.as_bytes(),
                Text::Raw(b) => b,
                Text::Empty => b"",
            },
        }
    }

    /// The string as text; bytes that are not UTF-8 are replaced.
    pub fn as_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.as_bytes())
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
