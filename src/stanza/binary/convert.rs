//! Between the proxy's built element trees and binary nodes. The proxy builds its
//! annotations and closing stanzas once, as elements; a binary session writes them as
//! nodes whose strings are new, so they take the ladder's forms with its dictionary.

use super::node::{BytesWidth, Content, ListWidth, Node, Str, Value};
use crate::stanza::xml::{self, Element};

impl Node {
    /// The node for an element the proxy built: plain strings, never JIDs (SPEC §2.10);
    /// opaque content becomes bytes content, text becomes string content.
    pub fn from_element(e: &Element) -> Node {
        let mut node = Node::new(e.name());
        for a in e.attributes() {
            node = node.with_attr(a.name(), Value::Str(Str::new(&a.value())));
        }
        if let Some(payload) = e.opaque() {
            node.content = Content::Bytes {
                width: BytesWidth::for_len(payload.len()),
                payload: payload.clone(),
            };
        } else if e.children().next().is_some() {
            node.content = Content::Children {
                width: ListWidth::Short,
                nodes: e.children().map(Node::from_element).collect(),
            };
        } else if let Some(text) = e.text() {
            node.content = Content::Text(Value::Str(Str::new(&text)));
        }
        node
    }

    /// The same tree as an element (JIDs in their text form), for writing a built node
    /// in XML.
    pub fn to_element(&self) -> Element {
        let mut e = Element::new(&self.tag.as_text());
        for a in &self.attrs {
            e.set_attr(&a.key.as_text(), &a.value.as_text());
        }
        match &self.content {
            Content::None | Content::ListEmpty => e,
            Content::Children { nodes, .. } => {
                nodes.iter().fold(e, |e, c| e.with_child(c.to_element()))
            }
            Content::Text(v) => e.with_text(&v.as_text()),
            Content::Bytes { payload, .. } => {
                e.nodes_mut().push(xml::Node::Opaque(payload.clone()));
                e
            }
        }
    }
}
