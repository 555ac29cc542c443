//! The stanza and the codec interface: what the pipeline sees of a stanza, whichever
//! encoding it came in.

use super::binary;
use super::kind::Kind;
use super::view::NodeRef;
use super::xml::Element;
use super::StanzaError;
use bytes::{Bytes, BytesMut};
use std::borrow::Cow;
use std::fmt;

/// Which encoding a received body is in, so that a codec forwards received bytes only
/// when they are in its own encoding (and, for binary, dictionary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireEncoding {
    Xml,
    /// WhatsApp's token encoding with the dictionary of this version.
    Binary(u8),
}

/// One stanza, plus the bytes it arrived as, so an untouched stanza is forwarded
/// without being serialized again.
///
/// Boxed: a stanza is moved through every pipeline step, the relay's queue and each
/// step's verdict; one allocation at decode makes all those moves pointer-sized
/// (`benches/caps.rs` shows the copies of the unboxed form as most of what a
/// pass-through step cost).
#[derive(Clone)]
pub struct Stanza(pub(super) Box<Parts>);

#[derive(Clone)]
pub(super) struct Parts {
    pub(super) root: Root,
    pub(super) kind: Kind,
    /// The body as received; `None` for stanzas built in memory.
    pub(super) wire: Option<(WireEncoding, Bytes)>,
    pub(super) modified: bool,
}

/// The tree, in the form of the codec that read it (or of the code that built it).
#[derive(Clone)]
pub(super) enum Root {
    Xml {
        element: Element,
        /// Whitespace and comments around the root, written again after a modification.
        prolog: Bytes,
        epilog: Bytes,
    },
    Binary(binary::Node),
}

impl Root {
    fn kind(&self) -> Kind {
        match self {
            Root::Xml { element, .. } => Kind::from_root_name(element.name()),
            Root::Binary(node) => Kind::from_root_name(&node.tag.as_text()),
        }
    }
}

/// A node the proxy builds once (a profile's `<c>`, its disco answer), held in both
/// encodings' forms, so that adding it to a stanza costs a clone and not a conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    element: Element,
    node: binary::Node,
}

impl Built {
    pub fn new(element: Element) -> Self {
        let node = binary::Node::from_element(&element);
        Built { element, node }
    }

    /// The XML form, which is also what steps compare stanzas with.
    pub fn element(&self) -> &Element {
        &self.element
    }
}

impl From<Element> for Built {
    fn from(element: Element) -> Self {
        Built::new(element)
    }
}

/// An attribute of a stanza the proxy builds in answer to another (SPEC §2.10: a value
/// taken from the query keeps the form it arrived in).
#[derive(Clone, Copy, Debug)]
pub enum ReplyValue<'a> {
    /// The value of this attribute of the stanza answered, if it has one.
    From(&'a str),
    /// A string the proxy writes.
    Lit(&'a str),
}

impl Stanza {
    /// A stanza built in memory (a proxy reply, the reference client). It has no wire
    /// bytes, so it is always serialized, but it does not count as modified. Every codec
    /// can write it; the binary one writes its strings with the session's dictionary.
    pub fn from_element(root: Element) -> Self {
        Self::built(Root::Xml {
            element: root,
            prolog: Bytes::new(),
            epilog: Bytes::new(),
        })
    }

    /// A binary node built in memory (the reference peers, a proxy reply).
    pub fn from_node(root: binary::Node) -> Self {
        Self::built(Root::Binary(root))
    }

    fn built(root: Root) -> Self {
        let kind = root.kind();
        Stanza(Box::new(Parts {
            root,
            kind,
            wire: None,
            modified: false,
        }))
    }

    /// A stanza a codec read from `body`.
    pub(super) fn received(root: Root, encoding: WireEncoding, body: Bytes) -> Self {
        let mut s = Self::built(root);
        s.0.wire = Some((encoding, body));
        s
    }

    /// A binary stanza that `read` decodes from `body` straight into the stanza's box,
    /// so the tree is never moved after it is read (why: `binary::decode::decode_into`).
    pub(super) fn read_binary(
        encoding: WireEncoding,
        body: Bytes,
        read: impl FnOnce(&Bytes, &mut binary::Node) -> Result<(), StanzaError>,
    ) -> Result<Self, StanzaError> {
        let mut parts = Box::new(Parts {
            root: Root::Binary(binary::Node::SLOT),
            kind: Kind::Other,
            wire: None,
            modified: false,
        });
        if let Root::Binary(node) = &mut parts.root {
            read(&body, node)?;
        }
        parts.kind = parts.root.kind();
        parts.wire = Some((encoding, body));
        Ok(Stanza(parts))
    }

    pub fn kind(&self) -> Kind {
        self.0.kind
    }

    /// The root as a codec-neutral view, for code that works in both encodings.
    pub fn node(&self) -> NodeRef<'_> {
        match &self.0.root {
            Root::Xml { element, .. } => NodeRef::Xml(element),
            Root::Binary(node) => NodeRef::Binary(node),
        }
    }

    /// A root attribute as text (a JID in its text form).
    pub fn attr(&self, key: &str) -> Option<Cow<'_, str>> {
        self.node().attr(key)
    }

    /// The XML root.
    ///
    /// # Panics
    /// On a binary stanza: only code that speaks XML alone (its tests, XML-mode peers)
    /// calls it; everything else goes through [`Stanza::node`].
    pub fn root(&self) -> &Element {
        self.xml().expect("a binary stanza has no XML root")
    }

    /// The XML root, if the stanza is XML.
    pub fn xml(&self) -> Option<&Element> {
        match &self.0.root {
            Root::Xml { element, .. } => Some(element),
            Root::Binary(_) => None,
        }
    }

    /// The binary root, if the stanza is binary.
    pub fn binary(&self) -> Option<&binary::Node> {
        match &self.0.root {
            Root::Binary(node) => Some(node),
            Root::Xml { .. } => None,
        }
    }

    /// Marks the stanza modified: it will be re-serialized instead of forwarded byte for
    /// byte. Only take it when actually changing something.
    ///
    /// # Panics
    /// On a binary stanza, as [`Stanza::root`].
    pub fn root_mut(&mut self) -> &mut Element {
        self.0.modified = true;
        match &mut self.0.root {
            Root::Xml { element, .. } => element,
            Root::Binary(_) => panic!("a binary stanza has no XML root"),
        }
    }

    /// Whether the stanza was changed after it was read.
    pub fn is_modified(&self) -> bool {
        self.0.modified
    }

    /// Body length as received (after inflation); for a stanza modified or built, its
    /// XML length, or for binary an estimate (the exact bytes need the dictionary).
    pub fn wire_len(&self) -> usize {
        match self.forwardable() {
            Some((_, w)) => w.len(),
            None => match &self.0.root {
                Root::Xml {
                    element,
                    prolog,
                    epilog,
                } => prolog.len() + super::xml::element_len(element) + epilog.len(),
                Root::Binary(_) => self.0.wire.as_ref().map_or(64, |(_, w)| w.len() + 64),
            },
        }
    }

    /// The received body, if it can be forwarded as is.
    fn forwardable(&self) -> Option<&(WireEncoding, Bytes)> {
        if self.0.modified {
            None
        } else {
            self.0.wire.as_ref()
        }
    }

    /// The received body, if it is unmodified and in `encoding`.
    pub(super) fn wire_in(&self, encoding: WireEncoding) -> Option<&Bytes> {
        self.forwardable()
            .filter(|(e, _)| *e == encoding)
            .map(|(_, w)| w)
    }

    /// The XML body as it would be sent (no flags byte); for tests and XML peers.
    pub fn to_body(&self) -> Vec<u8> {
        let mut out = BytesMut::new();
        match super::xml::XmlCodec::default().encode(self, &mut out) {
            Ok(()) => out.split_off(1).to_vec(),
            Err(never) => unreachable!("XML writes any tree: {never}"),
        }
    }

    /// Removes the root's element children for which `keep` is false.
    pub fn retain_children(&mut self, mut keep: impl FnMut(NodeRef<'_>) -> bool) {
        self.0.modified = true;
        match &mut self.0.root {
            Root::Xml { element, .. } => element.retain_children(|c| keep(NodeRef::Xml(c))),
            Root::Binary(node) => node.retain_children(|c| keep(NodeRef::Binary(c))),
        }
    }

    /// Appends `child` (built by the proxy) as the root's last child, in the stanza's
    /// encoding.
    pub fn push_child(&mut self, child: &Built) {
        self.0.modified = true;
        match &mut self.0.root {
            Root::Xml { element, .. } => element.push_child(child.element.clone()),
            Root::Binary(node) => node.push_child(child.node.clone()),
        }
    }

    /// A stanza the proxy sends in answer to this one, in this one's encoding: root
    /// `tag` with `attrs` in order (a [`ReplyValue::From`] the stanza lacks is left
    /// out) and `child`, if any.
    pub fn reply(
        &self,
        tag: &str,
        attrs: &[(&str, ReplyValue<'_>)],
        child: Option<&Built>,
    ) -> Self {
        match &self.0.root {
            Root::Xml { element, .. } => {
                let mut out = Element::new(tag);
                for (key, value) in attrs {
                    match value {
                        ReplyValue::From(from) => {
                            if let Some(v) = element.attr(from) {
                                out.set_attr(key, &v);
                            }
                        }
                        ReplyValue::Lit(v) => out.set_attr(key, v),
                    }
                }
                if let Some(child) = child {
                    out.push_child(child.element.clone());
                }
                Stanza::from_element(out)
            }
            Root::Binary(node) => {
                let mut out = binary::Node::new(tag);
                for (key, value) in attrs {
                    let value = match value {
                        ReplyValue::From(from) => match node.attr(from) {
                            Some(v) => v.clone(),
                            None => continue,
                        },
                        ReplyValue::Lit(v) => binary::Value::Str(binary::Str::new(v)),
                    };
                    out = out.with_attr(key, value);
                }
                if let Some(child) = child {
                    out.push_child(child.node.clone());
                }
                Stanza::from_node(out)
            }
        }
    }
}

/// Written by hand: the received bytes include the opaque payloads, which must not
/// reach logs; the tree's own `Debug` shows only their lengths.
impl fmt::Debug for Stanza {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Stanza");
        d.field("kind", &self.0.kind)
            .field("modified", &self.0.modified)
            .field("wire_len", &self.0.wire.as_ref().map(|(_, w)| w.len()));
        match &self.0.root {
            Root::Xml { element, .. } => d.field("root", element),
            Root::Binary(node) => d.field("root", node),
        };
        d.finish()
    }
}

/// The stanza codec interface: the relay and the pipeline see only this and
/// [`Stanza`], so both encodings share them.
pub trait StanzaCodec: Send + Sync + 'static {
    /// `plaintext` = flags byte + body (a decrypted transport frame). Handles flags and
    /// bounded inflation, then parses.
    fn decode(&self, plaintext: Bytes) -> Result<Stanza, StanzaError>;

    /// Appends flags byte `0x00` + body to `out`: the original bytes if unmodified and
    /// in this codec's encoding, else the serialization. The proxy never compresses.
    /// Fails (413) only when a modified stanza no longer fits the wire format's counts.
    fn encode(&self, stanza: &Stanza, out: &mut BytesMut) -> Result<(), StanzaError>;
}
