//! A read-only view of a node in either encoding, so the pipeline steps and the tests
//! are written once for both.

use super::binary;
use super::xml::{self, Element};
use super::Opaque;
use std::borrow::Cow;

/// One node of a stanza, XML or binary.
#[derive(Clone, Copy, Debug)]
pub enum NodeRef<'a> {
    Xml(&'a Element),
    Binary(&'a binary::Node),
}

impl<'a> NodeRef<'a> {
    /// The tag: the XML element name, the binary node's tag.
    pub fn name(&self) -> Cow<'a, str> {
        match self {
            NodeRef::Xml(e) => Cow::Borrowed(e.name()),
            NodeRef::Binary(n) => n.tag.as_text(),
        }
    }

    /// Compares bytes: no UTF-8 check, no allocation.
    pub fn is_named(&self, tag: &str) -> bool {
        match self {
            NodeRef::Xml(e) => e.is_named(tag),
            NodeRef::Binary(n) => n.tag.is(tag),
        }
    }

    /// An attribute's value as text; a binary JID in its text form.
    pub fn attr(&self, key: &str) -> Option<Cow<'a, str>> {
        match self {
            NodeRef::Xml(e) => e.attr(key),
            NodeRef::Binary(n) => n.attr(key).map(binary::Value::as_text),
        }
    }

    /// Whether attribute `key` is the string `value`, without unescaping or allocating
    /// in the common case (every pipeline step asks this of every stanza it concerns).
    pub fn attr_is(&self, key: &str, value: &str) -> bool {
        match self {
            NodeRef::Xml(e) => e.attr_is(key, value),
            NodeRef::Binary(n) => n.attr_is(key, value),
        }
    }

    /// Attributes in wire order, as text.
    pub fn attrs(&self) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
        match self {
            NodeRef::Xml(e) => e
                .attributes()
                .iter()
                .map(|a| (Cow::Borrowed(a.name()), a.value()))
                .collect(),
            NodeRef::Binary(n) => n
                .attrs
                .iter()
                .map(|a| (a.key.as_text(), a.value.as_text()))
                .collect(),
        }
    }

    /// Child nodes (XML: elements only), in wire order.
    pub fn children(&self) -> Children<'a> {
        match self {
            NodeRef::Xml(e) => Children::Xml(e.nodes().iter()),
            NodeRef::Binary(n) => Children::Binary(n.children().iter()),
        }
    }

    /// The first node named `tag` below this one, depth first.
    pub fn find(&self, tag: &str) -> Option<NodeRef<'a>> {
        match self {
            NodeRef::Xml(e) => e.find(tag).map(NodeRef::Xml),
            NodeRef::Binary(n) => n.find(tag).map(NodeRef::Binary),
        }
    }

    /// The opaque payload (XML: `<enc>` text; binary: bytes content).
    pub fn opaque(&self) -> Option<&'a Opaque> {
        match self {
            NodeRef::Xml(e) => e.opaque(),
            NodeRef::Binary(n) => match &n.content {
                binary::Content::Bytes { payload, .. } => Some(payload),
                _ => None,
            },
        }
    }

    /// The node's own text content.
    pub fn text(&self) -> Option<Cow<'a, str>> {
        match self {
            NodeRef::Xml(e) => e.text(),
            NodeRef::Binary(n) => match &n.content {
                binary::Content::Text(v) => Some(v.as_text()),
                _ => None,
            },
        }
    }

    /// Whether this node has the tag, the attributes (in order, as text) and the
    /// children of `e`, which the proxy built: how a step tells that a stanza already
    /// carries exactly its annotation.
    pub fn same_as(&self, e: &Element) -> bool {
        if !self.is_named(e.name()) {
            return false;
        }
        let theirs = e.attributes();
        let ours = self.attrs();
        if ours.len() != theirs.len()
            || !ours
                .iter()
                .zip(theirs)
                .all(|((k, v), a)| k == a.name() && *v == a.value())
        {
            return false;
        }
        let mut mine = self.children();
        e.children()
            .all(|c| mine.next().is_some_and(|m| m.same_as(c)))
            && mine.next().is_none()
    }
}

/// Iterator over [`NodeRef::children`].
pub enum Children<'a> {
    Xml(std::slice::Iter<'a, xml::Node>),
    Binary(std::slice::Iter<'a, binary::Node>),
}

impl<'a> Iterator for Children<'a> {
    type Item = NodeRef<'a>;

    fn next(&mut self) -> Option<NodeRef<'a>> {
        match self {
            Children::Xml(it) => it.find_map(|n| match n {
                xml::Node::Element(e) => Some(NodeRef::Xml(e)),
                _ => None,
            }),
            Children::Binary(it) => it.next().map(NodeRef::Binary),
        }
    }
}
