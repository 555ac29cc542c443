//! Serialization of a (modified or built) stanza tree.
//!
//! Every stored piece is already in escaped wire form, so writing is plain copying; the
//! same walk also computes the length, which lets the caller reserve once.

use super::element::{Element, Node};
use bytes::BytesMut;

pub(super) trait Sink {
    fn put(&mut self, b: &[u8]);
}

impl Sink for BytesMut {
    #[inline]
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

/// Counts instead of writing.
pub(super) struct Counter(pub usize);

impl Sink for Counter {
    #[inline]
    fn put(&mut self, b: &[u8]) {
        self.0 += b.len();
    }
}

pub(super) fn write_element<S: Sink>(e: &Element, out: &mut S) {
    let name = e.name.as_bytes();
    out.put(b"<");
    out.put(name);
    for a in &e.attrs {
        out.put(b" ");
        out.put(a.name.as_bytes());
        out.put(if a.quote == b'\'' { b"='" } else { b"=\"" });
        out.put(a.value.as_bytes());
        out.put(if a.quote == b'\'' { b"'" } else { b"\"" });
    }
    if e.nodes.is_empty() {
        out.put(b"/>");
        return;
    }
    out.put(b">");
    for n in &e.nodes {
        match n {
            Node::Element(c) => write_element(c, out),
            Node::Text(t) => out.put(t.0.as_bytes()),
            Node::Opaque(o) => out.put(o.wire_bytes()),
            Node::Comment(c) => {
                out.put(b"<!--");
                out.put(c.0.as_bytes());
                out.put(b"-->");
            }
        }
    }
    out.put(b"</");
    out.put(name);
    out.put(b">");
}

pub(in crate::stanza) fn element_len(e: &Element) -> usize {
    let mut c = Counter(0);
    write_element(e, &mut c);
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stanza::Opaque;

    #[test]
    fn writes_and_counts() {
        let e = Element::new("message")
            .with_attr("id", "a\"b")
            .with_child(Element::new("enc").with_opaque(Opaque::from_bytes("QUJD")))
            .with_child(Element::new("empty-enc-like"))
            .with_child(Element::new("enc").with_opaque(Opaque::from_bytes("")))
            .with_text("t<");
        let mut v = Vec::new();
        write_element(&e, &mut v);
        let s = String::from_utf8(v).unwrap();
        assert_eq!(
            s,
            r#"<message id="a&quot;b"><enc>QUJD</enc><empty-enc-like/><enc></enc>t&lt;</message>"#
        );
        assert_eq!(element_len(&e), s.len());
    }
}
