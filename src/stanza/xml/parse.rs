//! The strict XML parser for stanza bodies.
//!
//! `quick-xml` tokenizes over the borrowed body; on top of it this module enforces what
//! it leaves lenient (names, attribute syntax, references, characters, one root) and the
//! SPEC's extra restrictions (no prolog constructs, no CDATA, limits). Every slice
//! quick-xml hands back points into the body, so tree pieces are cut from the frame
//! buffer itself rather than copied.

use super::element::{is_opaque_name, Attribute, Comment, Element, Node, Text};
use super::escape::resolve_ref;
use super::raw::RawStr;
use crate::stanza::Opaque;
use crate::stanza::{Limits, StanzaError};
use bytes::Bytes;
use quick_xml::events::Event;
use quick_xml::Reader;

/// A parsed body: the root, and what surrounds it (whitespace, comments), kept so a
/// re-serialized stanza loses nothing.
#[derive(Debug)]
pub(super) struct Parsed {
    pub(super) root: Element,
    pub(super) prolog: Bytes,
    pub(super) epilog: Bytes,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn malformed(msg: impl Into<String>) -> StanzaError {
    StanzaError::malformed(msg)
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

pub(super) fn parse(body: &Bytes, limits: &Limits) -> Result<Parsed, StanzaError> {
    check_chars(body)?;

    // quick-xml skips a leading BOM without counting it in its position; offsets here
    // are taken relative to the whole body, so account for it once. The body goes to
    // quick-xml whole: skipping the BOM here as well would let it skip a second U+FEFF,
    // which is text before the root, and every later offset would be off by three.
    let bom = if body.starts_with(BOM) { BOM.len() } else { 0 };
    let mut reader = Reader::from_reader(&body[..]);
    {
        let c = reader.config_mut();
        c.check_comments = true;
        c.check_end_names = true;
        c.allow_dangling_amp = false;
        c.allow_unmatched_ends = false;
        c.expand_empty_elements = false;
        c.trim_text(false);
    }

    let base = body.as_ptr() as usize;
    // Every slice quick-xml returns borrows from `body`, so its address gives its offset.
    let off = |s: &[u8]| s.as_ptr() as usize - base;

    // Open elements, with whether their text is opaque.
    let mut stack: Vec<(Element, bool)> = Vec::with_capacity(8);
    let mut root: Option<Element> = None;
    let mut root_start = 0usize;
    let mut root_end = 0usize;
    // A run of character data: quick-xml splits it at every reference.
    let mut run: Option<(usize, usize)> = None;

    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(format!("XML: {e}")))?;
        match &event {
            Event::Text(t) => {
                let s = off(t);
                run = Some((run.map_or(s, |r| r.0), s + t.len()));
                continue;
            }
            Event::GeneralRef(r) => {
                if resolve_ref(r).is_none() {
                    return Err(malformed(format!(
                        "unknown entity or invalid character reference &{};",
                        String::from_utf8_lossy(r)
                    )));
                }
                // The reference's name sits between `&` and `;`.
                let s = off(r) - 1;
                run = Some((run.map_or(s, |r| r.0), s + r.len() + 2));
                continue;
            }
            _ => {}
        }
        if let Some((s, e)) = run.take() {
            flush_text(body, s, e, &mut stack)?;
        }
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if stack.is_empty() && root.is_some() {
                    return Err(malformed("more than one root element"));
                }
                if stack.len() >= limits.max_depth {
                    return Err(StanzaError::limit(format!(
                        "element nesting deeper than {}",
                        limits.max_depth
                    )));
                }
                let content: &[u8] = e;
                let el = start_element(body, content, e.name().as_ref().len(), limits)?;
                if stack.is_empty() {
                    root_start = off(content) - 1;
                }
                if matches!(event, Event::Empty(_)) {
                    if let Some((parent, _)) = stack.last_mut() {
                        parent.nodes.push(Node::Element(el));
                    } else {
                        root = Some(el);
                        root_end = bom + reader.buffer_position() as usize;
                    }
                } else {
                    let opaque = is_opaque_name(el.name.as_bytes());
                    stack.push((el, opaque));
                }
            }
            Event::End(_) => {
                // quick-xml has checked that the name matches the open element.
                let (mut el, opaque) = stack
                    .pop()
                    .ok_or_else(|| malformed("end tag without start tag"))?;
                if opaque && el.nodes.is_empty() {
                    // `<enc></enc>`: an empty payload, as the writer produces for one.
                    el.nodes
                        .push(Node::Opaque(Opaque::from_bytes(Bytes::new())));
                }
                if let Some((parent, _)) = stack.last_mut() {
                    parent.nodes.push(Node::Element(el));
                } else {
                    root = Some(el);
                    root_end = bom + reader.buffer_position() as usize;
                }
            }
            Event::Comment(c) => {
                // quick-xml rejects `--` inside; XML also forbids a comment ending in `-`.
                if c.ends_with(b"-") {
                    return Err(malformed("comment ending in '-'"));
                }
                // Comments outside the root are kept in the prolog or epilog.
                if let Some((parent, _)) = stack.last_mut() {
                    parent
                        .nodes
                        .push(Node::Comment(Comment(RawStr::from_frame(body, &c))));
                }
            }
            Event::CData(_) => return Err(malformed("CDATA section")),
            Event::Decl(_) => return Err(malformed("XML declaration")),
            Event::PI(_) => return Err(malformed("processing instruction")),
            Event::DocType(_) => return Err(malformed("DOCTYPE")),
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(malformed(format!(
                        "unclosed element <{}>",
                        stack.last().map_or("", |(e, _)| e.name())
                    )));
                }
                let root = root.ok_or_else(|| malformed("no root element"))?;
                return Ok(Parsed {
                    root,
                    prolog: body.slice(..root_start),
                    epilog: body.slice(root_end..),
                });
            }
            Event::Text(_) | Event::GeneralRef(_) => unreachable!("handled above"),
        }
    }
}

fn flush_text(
    body: &Bytes,
    s: usize,
    e: usize,
    stack: &mut [(Element, bool)],
) -> Result<(), StanzaError> {
    let raw = &body[s..e];
    match stack.last_mut() {
        None => {
            if !raw.iter().copied().all(is_ws) {
                return Err(malformed("text outside the root element"));
            }
        }
        Some((parent, opaque)) => {
            // `>` is rare in text (never in base64), so look for it before for `]]>`.
            if raw.contains(&b'>') && raw.windows(3).any(|w| w == b"]]>") {
                return Err(malformed("']]>' in text"));
            }
            let node = if *opaque {
                Node::Opaque(Opaque::from_bytes(body.slice(s..e)))
            } else {
                Node::Text(Text(RawStr::from_frame(body, raw)))
            };
            parent.nodes.push(node);
        }
    }
    Ok(())
}

/// Builds an element from a start tag's content (between `<` and `>` or `/>`).
/// quick-xml's attribute iterator is lenient (no whitespace required between
/// attributes) and allocates for its duplicate check, so attributes are parsed here.
fn start_element(
    body: &Bytes,
    content: &[u8],
    name_len: usize,
    limits: &Limits,
) -> Result<Element, StanzaError> {
    let name = &content[..name_len];
    check_name(name, "element")?;
    let rest = &content[name_len..];
    let n = rest.len();
    // Every attribute has an `=`, so their count bounds the attributes: one allocation
    // instead of a reallocation at the fifth.
    let equals = rest.iter().fold(0usize, |n, &b| n + usize::from(b == b'='));
    let mut attrs: Vec<Attribute> = Vec::with_capacity(equals.min(limits.max_attributes));
    let mut i = 0;
    loop {
        let ws_start = i;
        while i < n && is_ws(rest[i]) {
            i += 1;
        }
        if i == n {
            break;
        }
        if i == ws_start {
            return Err(malformed("attributes not separated by whitespace"));
        }
        let name_start = i;
        while i < n && is_name_byte(rest[i]) {
            i += 1;
        }
        let name_bytes_end = i;
        // Whatever follows up to whitespace or `=` still belongs to the would-be name,
        // which `check_name` then refuses whole.
        while i < n && !is_ws(rest[i]) && rest[i] != b'=' {
            i += 1;
        }
        let attr_name = &rest[name_start..i];
        let starts_name = attr_name
            .first()
            .is_some_and(|&b| NAME_BYTES[b as usize] & 1 != 0);
        if i != name_bytes_end || !starts_name {
            check_name(attr_name, "attribute")?;
        }
        while i < n && is_ws(rest[i]) {
            i += 1;
        }
        if i == n || rest[i] != b'=' {
            return Err(malformed("attribute without value"));
        }
        i += 1;
        while i < n && is_ws(rest[i]) {
            i += 1;
        }
        let quote = match rest.get(i) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err(malformed("unquoted attribute value")),
        };
        i += 1;
        let value_start = i;
        let len = rest[value_start..]
            .iter()
            .position(|&b| b == quote)
            .ok_or_else(|| malformed("unterminated attribute value"))?;
        let value = &rest[value_start..value_start + len];
        i = value_start + len + 1;
        check_attr_value(value)?;
        if attrs.len() >= limits.max_attributes {
            return Err(StanzaError::limit(format!(
                "more than {} attributes on one element",
                limits.max_attributes
            )));
        }
        if attrs.iter().any(|a| a.name.as_bytes() == attr_name) {
            return Err(malformed(format!(
                "duplicate attribute {}",
                String::from_utf8_lossy(attr_name)
            )));
        }
        attrs.push(Attribute {
            name: RawStr::from_frame(body, attr_name),
            value: RawStr::from_frame(body, value),
            quote,
        });
    }
    Ok(Element {
        name: RawStr::from_frame(body, name),
        attrs,
        nodes: Vec::new(),
    })
}

/// Which bytes may start (bit 1) or continue (bit 2) an XML `Name`: the production,
/// exact for ASCII; any non-ASCII byte is accepted, which is looser than XML but cannot
/// make the output ill-formed for this parser. A table lookup per byte instead of a chain
/// of range tests: names are most of what a stanza's tags hold.
static NAME_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let start = c.is_ascii_alphabetic() || c == b'_' || c == b':' || c >= 0x80;
        let more = start || c.is_ascii_digit() || c == b'-' || c == b'.';
        t[b] = (start as u8) | ((more as u8) << 1);
        b += 1;
    }
    t
};

#[inline]
fn is_name_byte(b: u8) -> bool {
    NAME_BYTES[b as usize] & 2 != 0
}

fn check_name(name: &[u8], what: &str) -> Result<(), StanzaError> {
    let ok = match name.split_first() {
        None => false,
        Some((&first, rest)) => {
            NAME_BYTES[first as usize] & 1 != 0 && rest.iter().all(|&b| is_name_byte(b))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(malformed(format!(
            "invalid {what} name {:?}",
            String::from_utf8_lossy(name)
        )))
    }
}

fn check_attr_value(value: &[u8]) -> Result<(), StanzaError> {
    let mut i = 0;
    while let Some(p) = value[i..].iter().position(|&b| b == b'<' || b == b'&') {
        let at = i + p;
        if value[at] == b'<' {
            return Err(malformed("'<' in attribute value"));
        }
        let end = value[at + 1..]
            .iter()
            .position(|&b| b == b';')
            .ok_or_else(|| malformed("unterminated reference in attribute value"))?;
        let name = &value[at + 1..at + 1 + end];
        if resolve_ref(name).is_none() {
            return Err(malformed(format!(
                "unknown entity or invalid character reference &{}; in attribute value",
                String::from_utf8_lossy(name)
            )));
        }
        i = at + 1 + end + 1;
    }
    Ok(())
}

/// The body must be UTF-8 without the characters XML never allows: C0 controls other
/// than tab, LF, CR, and U+FFFE / U+FFFF (surrogates cannot occur in valid UTF-8).
/// One branch-free pass, which vectorizes, settles the common all-ASCII body; only a body
/// with non-ASCII bytes pays for UTF-8 validation and the non-character search.
fn check_chars(body: &[u8]) -> Result<(), StanzaError> {
    // Printable ASCII (0x20..=0x7F) everywhere, as in nearly every stanza: one subtract
    // and compare per byte, and nothing else to check.
    if body
        .iter()
        .fold(false, |odd, &b| odd | (b.wrapping_sub(0x20) >= 0x60))
    {
        check_odd_chars(body)
    } else {
        Ok(())
    }
}

fn check_odd_chars(body: &[u8]) -> Result<(), StanzaError> {
    let mut ctl = false;
    let mut high = false;
    for &b in body {
        ctl |= (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r');
        high |= b >= 0x80;
    }
    if high {
        std::str::from_utf8(body).map_err(|e| malformed(format!("body is not UTF-8: {e}")))?;
    }
    if ctl {
        return Err(malformed("control character in body"));
    }
    // U+FFFE and U+FFFF are EF BF BE / EF BF BF.
    if high
        && body
            .windows(3)
            .any(|w| w[0] == 0xEF && w[1] == 0xBF && w[2] >= 0xBE)
    {
        return Err(malformed("non-character U+FFFE/U+FFFF in body"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Parsed, StanzaError> {
        parse(&Bytes::copy_from_slice(s.as_bytes()), &Limits::default())
    }

    fn code(s: &str) -> u16 {
        match p(s) {
            Ok(_) => 200,
            Err(e) => e.code(),
        }
    }

    fn nested(depth: usize) -> String {
        let mut s = String::new();
        for i in 0..depth {
            s.push_str(&format!("<e{i}>"));
        }
        for i in (0..depth).rev() {
            s.push_str(&format!("</e{i}>"));
        }
        s
    }

    fn with_attrs(n: usize) -> String {
        let mut s = String::from("<message");
        for i in 0..n {
            s.push_str(&format!(" a{i}='{i}'"));
        }
        s.push_str("/>");
        s
    }

    #[test]
    fn builds_tree() {
        let r = p("<message id='1' to=\"a&amp;b\"><enc v='2'>QUJD</enc><!--c--> <body>x &lt; y</body></message>")
            .unwrap()
            .root;
        assert_eq!(r.name(), "message");
        assert_eq!(r.attr("to").as_deref(), Some("a&b"));
        assert_eq!(r.attribute("id").unwrap().quote(), b'\'');
        let enc = r.find("enc").unwrap();
        assert_eq!(enc.opaque(), Some(&Opaque::from_bytes("QUJD")));
        assert!(matches!(r.nodes()[1], Node::Comment(ref c) if c.content() == "c"));
        assert!(matches!(r.nodes()[2], Node::Text(ref t) if t.raw() == " "));
        assert_eq!(r.find("body").unwrap().text().as_deref(), Some("x < y"));
        let body = r.find("body").unwrap();
        assert_eq!(body.nodes().len(), 1, "one text node across references");
    }

    #[test]
    fn prolog_and_epilog_kept() {
        let parsed = p(" \n<!-- hi -->\t<ack/>\n<!--bye-->  ").unwrap();
        assert_eq!(&parsed.prolog[..], b" \n<!-- hi -->\t");
        assert_eq!(&parsed.epilog[..], b"\n<!--bye-->  ");
        let parsed = p("<a></a>").unwrap();
        assert!(parsed.prolog.is_empty() && parsed.epilog.is_empty());
    }

    #[test]
    fn opaque_for_device_identity_and_empty_enc() {
        let r = p("<iq><device-identity>AAAA&#61;</device-identity><enc></enc><enc/></iq>")
            .unwrap()
            .root;
        let kids: Vec<_> = r.children().collect();
        assert_eq!(kids[0].opaque(), Some(&Opaque::from_bytes("AAAA&#61;")));
        assert_eq!(kids[1].opaque(), Some(&Opaque::from_bytes("")));
        assert_eq!(kids[2].opaque(), None);
    }

    #[test]
    fn bom_is_tolerated() {
        let parsed = p("\u{FEFF}<ack/> ").unwrap();
        assert_eq!(&parsed.prolog[..], "\u{FEFF}".as_bytes());
        assert_eq!(&parsed.epilog[..], b" ");
    }

    /// Found by the stanza fuzz target: a second U+FEFF was skipped as if it were a BOM,
    /// the epilog then began inside a character, and a re-serialized stanza was not UTF-8.
    #[test]
    fn second_bom_is_text_outside_the_root() {
        assert_eq!(code("\u{FEFF}\u{FEFF}<ack/>"), 400);
        assert_eq!(code("\u{FEFF}\u{FEFF} <e\u{FEFF}\u{FEFF}/>"), 400);
        // Elsewhere U+FEFF is an ordinary character.
        let parsed = p("\u{FEFF} <e\u{FEFF}/>\u{FEFF}");
        assert!(
            matches!(parsed, Err(ref e) if e.code() == 400),
            "{parsed:?}"
        );
        let parsed = p("\u{FEFF}<e\u{FEFF}>\u{FEFF}</e\u{FEFF}>").unwrap();
        assert_eq!(parsed.epilog.len(), 0);
        assert_eq!(parsed.root.name(), "e\u{FEFF}");
    }

    #[test]
    fn xml_declaration_400() {
        assert_eq!(code("<?xml version='1.0'?><ack/>"), 400);
        assert_eq!(
            code("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ack/>"),
            400
        );
    }

    #[test]
    fn doctype_400() {
        assert_eq!(code("<!DOCTYPE message><message/>"), 400);
    }

    #[test]
    fn entity_declaration_400() {
        assert_eq!(code("<!DOCTYPE m [<!ENTITY x \"boom\">]><m>&x;</m>"), 400);
        assert_eq!(code("<!ENTITY x \"boom\"><m/>"), 400);
        assert_eq!(code("<m><!ENTITY x \"boom\"></m>"), 400);
    }

    #[test]
    fn external_entity_400() {
        assert_eq!(
            code("<!DOCTYPE m [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><m>&xxe;</m>"),
            400
        );
        assert_eq!(
            code("<!DOCTYPE m SYSTEM \"http://example.com/m.dtd\"><m/>"),
            400
        );
    }

    #[test]
    fn processing_instruction_400() {
        assert_eq!(code("<?php echo 1; ?><m/>"), 400);
        assert_eq!(code("<m><?pi data?></m>"), 400);
        assert_eq!(code("<m/><?xml-stylesheet href='a'?>"), 400);
    }

    #[test]
    fn cdata_400() {
        assert_eq!(code("<m><![CDATA[x]]></m>"), 400);
        assert_eq!(code("<m>a]]>b</m>"), 400);
    }

    #[test]
    fn unknown_entity_400() {
        assert_eq!(code("<m>&foo;</m>"), 400);
        assert_eq!(code("<m a='&foo;'/>"), 400);
        assert_eq!(code("<m>&nbsp;</m>"), 400);
        assert_eq!(code("<m>a & b</m>"), 400);
        assert_eq!(code("<m a='a & b'/>"), 400);
        assert_eq!(code("<m>&amp</m>"), 400);
        assert_eq!(code("<m>&lt;&gt;&amp;&quot;&apos;&#65;&#x42;</m>"), 200);
        assert_eq!(code("<m a='&lt;&gt;&amp;&quot;&apos;&#65;&#x42;'/>"), 200);
    }

    #[test]
    fn invalid_char_ref_400() {
        for r in [
            "&#0;",
            "&#xD800;",
            "&#xDFFF;",
            "&#x110000;",
            "&#xFFFE;",
            "&#1;",
            "&#;",
            "&#x;",
            "&#X41;",
            "&#4294967296;",
        ] {
            assert_eq!(code(&format!("<m>{r}</m>")), 400, "{r}");
            assert_eq!(code(&format!("<m a='{r}'/>")), 400, "{r} in attribute");
        }
    }

    #[test]
    fn invalid_utf8_400() {
        let body = Bytes::from_static(b"<m>\xff\xfe</m>");
        assert_eq!(parse(&body, &Limits::default()).unwrap_err().code(), 400);
        let body = Bytes::from_static(b"<m a='\xc3'/>");
        assert_eq!(parse(&body, &Limits::default()).unwrap_err().code(), 400);
    }

    #[test]
    fn control_characters_400() {
        assert_eq!(code("<m>\u{0}</m>"), 400);
        assert_eq!(code("<m a='\u{1b}'/>"), 400);
        assert_eq!(code("<m>\u{FFFF}</m>"), 400);
        assert_eq!(code("<m>\t\r\n\u{FFFD}\u{10FFFF}</m>"), 200);
    }

    #[test]
    fn two_roots_400() {
        assert_eq!(code("<a/><b/>"), 400);
        assert_eq!(code("<a></a>\n<a></a>"), 400);
    }

    #[test]
    fn no_root_400() {
        assert_eq!(code(""), 400);
        assert_eq!(code("  \n"), 400);
        assert_eq!(code("<!-- only a comment -->"), 400);
    }

    #[test]
    fn text_outside_root_400() {
        assert_eq!(code("x<a/>"), 400);
        assert_eq!(code("<a/>x"), 400);
        assert_eq!(code("<a/>&amp;"), 400);
        assert_eq!(code("<a/>&#32;"), 400);
        assert_eq!(code("\u{a0}<a/>"), 400);
        assert_eq!(code(" \t\r\n<a/> \t\r\n"), 200);
    }

    #[test]
    fn unclosed_tag_400() {
        assert_eq!(code("<a>"), 400);
        assert_eq!(code("<a><b></b>"), 400);
        assert_eq!(code("<a"), 400);
        assert_eq!(code("<a b='1'"), 400);
        assert_eq!(code("<a><!-- x"), 400);
    }

    #[test]
    fn mismatched_end_tag_400() {
        assert_eq!(code("<a></b>"), 400);
        assert_eq!(code("<a><b></a></b>"), 400);
        assert_eq!(code("<a></a b='1'>"), 400);
        assert_eq!(code("</a>"), 400);
        assert_eq!(code("<a/></a>"), 400);
        assert_eq!(code("<a></a  \n>"), 200);
    }

    #[test]
    fn duplicate_attribute_400() {
        assert_eq!(code("<a b='1' b='2'/>"), 400);
        assert_eq!(code("<a b='1' c='2' b=\"1\"></a>"), 400);
        assert_eq!(code("<a b='1' B='2'/>"), 200);
    }

    #[test]
    fn attribute_syntax_400() {
        for s in [
            "<a b/>",
            "<a b=1/>",
            "<a b='1'c='2'/>",
            "<a b='1/>",
            "<a b='<'/>",
            "<a 1b='1'/>",
            "<a =\"1\"/>",
            "<a b=='1'/>",
            "<a b=\"1'/>",
        ] {
            assert_eq!(code(s), 400, "{s}");
        }
        assert_eq!(code("<a  b = '1'\n\tc=\"x'y\" d='x\"y' />"), 200);
        assert_eq!(code("<a b='>'/>"), 200);
    }

    #[test]
    fn bad_names_400() {
        for s in [
            "<1a/>", "< a/>", "<>x</>", "<a/ >", "<-a/>", "<a\"b/>", "<a/b/>",
        ] {
            assert_eq!(code(s), 400, "{s}");
        }
        assert_eq!(code("<stream:error/>"), 200);
        assert_eq!(code("<_a.b-c9 x:y='1'/>"), 200);
        assert_eq!(code("<ä/>"), 200);
    }

    #[test]
    fn comments() {
        assert_eq!(code("<a><!-- a - b --></a>"), 200);
        assert_eq!(code("<a><!-- a -- b --></a>"), 400);
        assert_eq!(code("<a><!-- a ---></a>"), 400);
        assert_eq!(code("<a><!----></a>"), 200);
    }

    #[test]
    fn depth_32_ok_33_413() {
        assert_eq!(code(&nested(32)), 200);
        assert_eq!(code(&nested(33)), 413);
        // Self-closing at the limit counts too.
        let mut s = nested(32);
        s.insert_str(s.find("</e31>").unwrap(), "<deeper/>");
        assert_eq!(code(&s), 413);
        // Deeply nested garbage is refused on depth before anything else.
        assert_eq!(code(&"<a>".repeat(100_000)), 413);
    }

    #[test]
    fn attributes_64_ok_65_413() {
        assert_eq!(code(&with_attrs(64)), 200);
        assert_eq!(code(&with_attrs(65)), 413);
    }

    #[test]
    fn limits_are_configurable() {
        let l = Limits {
            max_depth: 2,
            max_attributes: 1,
            ..Limits::default()
        };
        let b = |s: &'static str| parse(&Bytes::from_static(s.as_bytes()), &l).map(|_| ());
        assert!(b("<a><b c='1'/></a>").is_ok());
        assert_eq!(b("<a><b><c/></b></a>").unwrap_err().code(), 413);
        assert_eq!(b("<a c='1' d='2'/>").unwrap_err().code(), 413);
    }
}
