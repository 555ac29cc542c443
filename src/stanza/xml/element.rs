//! The stanza tree.
//!
//! Everything is stored in its escaped wire form, so that a modified stanza re-serializes
//! untouched parts exactly as they arrived, and unescaping is paid only when a value is
//! actually read.

use super::escape::{escape, is_xml_char, unescape, Context};
use super::raw::RawStr;
use crate::stanza::Opaque;
use std::borrow::Cow;

/// An XML element: name, attributes in wire order, child nodes in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub(super) name: RawStr,
    pub(super) attrs: Vec<Attribute>,
    pub(super) nodes: Vec<Node>,
}

/// One attribute, value kept escaped and with the quote it was written with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub(super) name: RawStr,
    pub(super) value: RawStr,
    pub(super) quote: u8,
}

/// A child of an element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    /// Character data, including whitespace between elements.
    Text(Text),
    /// The content of `<enc>` / `<device-identity>`.
    Opaque(Opaque),
    Comment(Comment),
}

/// Character data in escaped wire form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text(pub(super) RawStr);

/// The content of a comment, between `<!--` and `-->`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment(pub(super) RawStr);

impl Text {
    /// Text from an unescaped string; it is escaped here.
    pub fn new(text: &str) -> Self {
        Text(raw_from_cow(escape(text, Context::Text)))
    }

    /// As written on the wire (entities not expanded).
    pub fn raw(&self) -> &str {
        self.0.as_str()
    }

    pub fn unescaped(&self) -> Cow<'_, str> {
        unescape(self.0.as_str())
    }

    pub fn is_whitespace(&self) -> bool {
        self.0
            .as_bytes()
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    }
}

impl Comment {
    /// A comment; `--` and a trailing `-`, which XML forbids in comments, are broken up
    /// with spaces rather than refused.
    pub fn new(content: &str) -> Self {
        let mut s = content.replace("--", "- -");
        while s.contains("--") {
            s = s.replace("--", "- -");
        }
        if s.ends_with('-') {
            s.push(' ');
        }
        // Markup is inert in a comment; only characters XML cannot carry need replacing.
        if s.chars().any(|c| !is_xml_char(c as u32)) {
            s = s
                .chars()
                .map(|c| if is_xml_char(c as u32) { c } else { '\u{FFFD}' })
                .collect();
        }
        Comment(RawStr::from_string(s))
    }

    pub fn content(&self) -> &str {
        self.0.as_str()
    }
}

impl Attribute {
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// As written on the wire, without the quotes.
    pub fn raw_value(&self) -> &str {
        self.value.as_str()
    }

    pub fn value(&self) -> Cow<'_, str> {
        unescape(self.value.as_str())
    }

    /// `b'"'` or `b'\''`.
    pub fn quote(&self) -> u8 {
        self.quote
    }

    fn new(name: &str, value: &str) -> Self {
        Attribute {
            name: RawStr::from_str(name),
            value: raw_from_cow(escape(value, Context::AttrDoubleQuoted)),
            quote: b'"',
        }
    }
}

fn raw_from_cow(c: Cow<'_, str>) -> RawStr {
    match c {
        Cow::Borrowed(s) => RawStr::from_str(s),
        Cow::Owned(s) => RawStr::from_string(s),
    }
}

/// Elements whose text is end-to-end encrypted content.
pub(super) fn is_opaque_name(name: &[u8]) -> bool {
    name == b"enc" || name == b"device-identity"
}

impl Element {
    /// `name` is taken as given (no validation): callers build stanzas from names they know.
    pub fn new(name: &str) -> Self {
        Element {
            name: RawStr::from_str(name),
            attrs: Vec::new(),
            nodes: Vec::new(),
        }
    }

    pub fn with_attr(mut self, name: &str, value: &str) -> Self {
        self.set_attr(name, value);
        self
    }

    pub fn with_child(mut self, child: Element) -> Self {
        self.nodes.push(Node::Element(child));
        self
    }

    /// Meant for `<enc>` / `<device-identity>`: elsewhere the parser would read the
    /// content back as ordinary text.
    pub fn with_opaque(mut self, payload: Opaque) -> Self {
        self.nodes.push(Node::Opaque(payload));
        self
    }

    /// Appends text, merged with a preceding text node so the tree matches what a parser
    /// reads back. Empty text adds nothing.
    pub fn with_text(mut self, text: &str) -> Self {
        if text.is_empty() {
            return self;
        }
        let t = Text::new(text);
        if let Some(Node::Text(prev)) = self.nodes.last_mut() {
            let merged = format!("{}{}", prev.raw(), t.raw());
            prev.0 = RawStr::from_string(merged);
        } else {
            self.nodes.push(Node::Text(t));
        }
        self
    }

    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// Whether the element is named `name`; compares bytes, without the UTF-8 check
    /// [`Element::name`] makes.
    pub fn is_named(&self, name: &str) -> bool {
        self.name.as_bytes() == name.as_bytes()
    }

    /// The unescaped value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<Cow<'_, str>> {
        self.attribute(name).map(Attribute::value)
    }

    /// Whether attribute `name` is present with unescaped value `value`. Compares the
    /// wire bytes unless they hold a reference, so the checks every pipeline step makes
    /// on every stanza neither validate nor unescape.
    pub fn attr_is(&self, name: &str, value: &str) -> bool {
        self.attribute(name).is_some_and(|a| {
            let raw = a.value.as_bytes();
            if raw.contains(&b'&') {
                a.value() == value
            } else {
                raw == value.as_bytes()
            }
        })
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attrs
            .iter()
            .find(|a| a.name.as_bytes() == name.as_bytes())
    }

    /// All attributes, in wire order.
    pub fn attributes(&self) -> &[Attribute] {
        &self.attrs
    }

    /// Replaces in place if present (keeping the attribute's position), else appends.
    pub fn set_attr(&mut self, name: &str, value: &str) {
        let new = Attribute::new(name, value);
        match self
            .attrs
            .iter_mut()
            .find(|a| a.name.as_bytes() == name.as_bytes())
        {
            Some(a) => *a = new,
            None => self.attrs.push(new),
        }
    }

    pub fn remove_attr(&mut self, name: &str) {
        self.attrs.retain(|a| a.name.as_bytes() != name.as_bytes());
    }

    /// Element children only.
    pub fn children(&self) -> impl Iterator<Item = &Element> {
        self.nodes.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    pub fn children_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.nodes.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn nodes_mut(&mut self) -> &mut Vec<Node> {
        &mut self.nodes
    }

    pub fn push_child(&mut self, child: Element) {
        self.nodes.push(Node::Element(child));
    }

    /// Keeps text, comments and opaque content; filters element children only.
    pub fn retain_children(&mut self, mut f: impl FnMut(&Element) -> bool) {
        self.nodes.retain(|n| match n {
            Node::Element(e) => f(e),
            _ => true,
        });
    }

    /// Depth-first (pre-order), any depth, excluding `self`.
    pub fn find(&self, name: &str) -> Option<&Element> {
        for c in self.children() {
            if c.name.as_bytes() == name.as_bytes() {
                return Some(c);
            }
            if let Some(found) = c.find(name) {
                return Some(found);
            }
        }
        None
    }

    /// Like [`Element::find`], for annotations that edit a nested element.
    pub fn find_mut(&mut self, name: &str) -> Option<&mut Element> {
        for c in self.children_mut() {
            if c.name.as_bytes() == name.as_bytes() {
                return Some(c);
            }
            if let Some(found) = c.find_mut(name) {
                return Some(found);
            }
        }
        None
    }

    /// The opaque content, if any; parsed stanzas have it only on `<enc>` and
    /// `<device-identity>`.
    pub fn opaque(&self) -> Option<&Opaque> {
        self.nodes.iter().find_map(|n| match n {
            Node::Opaque(o) => Some(o),
            _ => None,
        })
    }

    /// The element's own text (not its descendants'), unescaped; `None` if it has none.
    /// Opaque content is not text and is never returned here.
    pub fn text(&self) -> Option<Cow<'_, str>> {
        let mut texts = self.nodes.iter().filter_map(|n| match n {
            Node::Text(t) => Some(t),
            _ => None,
        });
        let first = texts.next()?;
        match texts.next() {
            None => Some(first.unescaped()),
            Some(second) => {
                let mut s = first.unescaped().into_owned();
                s.push_str(&second.unescaped());
                for t in texts {
                    s.push_str(&t.unescaped());
                }
                Some(Cow::Owned(s))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Element {
        Element::new("message")
            .with_attr("id", "1")
            .with_attr("to", "a@s.whatsapp.net")
            .with_child(
                Element::new("enc")
                    .with_attr("v", "2")
                    .with_opaque(Opaque::from_bytes("QUJD")),
            )
            .with_child(Element::new("meta").with_child(Element::new("deep").with_text("x")))
    }

    #[test]
    fn attrs_keep_position() {
        let mut e = sample();
        e.set_attr("id", "2");
        e.set_attr("type", "text");
        let names: Vec<_> = e.attributes().iter().map(Attribute::name).collect();
        assert_eq!(names, ["id", "to", "type"]);
        assert_eq!(e.attr("id").as_deref(), Some("2"));
        e.remove_attr("to");
        assert_eq!(e.attr("to"), None);
        assert_eq!(e.attributes().len(), 2);
    }

    #[test]
    fn escaped_values_read_back_unescaped() {
        let e = Element::new("a")
            .with_attr("v", "x<\"&'y")
            .with_text("1 < 2 & 3");
        assert_eq!(e.attribute("v").unwrap().raw_value(), "x&lt;&quot;&amp;'y");
        assert_eq!(e.attr("v").as_deref(), Some("x<\"&'y"));
        assert_eq!(e.text().as_deref(), Some("1 < 2 & 3"));
    }

    #[test]
    fn find_and_retain() {
        let mut e = sample();
        assert_eq!(e.find("deep").unwrap().text().as_deref(), Some("x"));
        assert!(e.find("message").is_none());
        assert!(e.find("enc").unwrap().opaque().is_some());
        e.find_mut("deep").unwrap().set_attr("k", "v");
        assert_eq!(e.find("deep").unwrap().attr("k").as_deref(), Some("v"));
        e.retain_children(|c| c.name() != "enc");
        let names: Vec<_> = e.children().map(Element::name).collect();
        assert_eq!(names, ["meta"]);
    }

    #[test]
    fn with_text_merges() {
        let e = Element::new("a")
            .with_text("x")
            .with_text("")
            .with_text("y");
        assert_eq!(e.nodes().len(), 1);
        assert_eq!(e.text().as_deref(), Some("xy"));
    }

    #[test]
    fn comment_sanitized() {
        assert_eq!(Comment::new("a--b-").content(), "a- -b- ");
        assert_eq!(Comment::new("a---b").content(), "a- - -b");
        assert_eq!(Comment::new("<x>\u{0}").content(), "<x>\u{FFFD}");
    }
}
