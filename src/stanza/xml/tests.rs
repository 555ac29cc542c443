use super::*;
use crate::stanza::{compress_frame, Kind, Opaque, Stanza, StanzaError};
use bytes::BytesMut;
use proptest::prelude::*;

const ENC: &str =
    "MwohIQ4IAhIhBcC8qW1r0CqrXB3GcSg0ObKOZ3ZBzGjETxlG4Vb1bHgJGiEF7nI8bKqqDCeSUa3Q2l0x\
        YHT0Z5pNz7MlmzHSYjHWL3QiYjMKIQVf6OW2X8uxR0a4p5Ti3Z3tJkcjQ1Vh0M8vY2rA7bx3VRAAGAAiMDF5\
        kBv+0lZ1PSVA0P8aTpCx4dDpAIh3NIYPdlP1vDRNb8V/BKh1TTSXXnE0C5cP6w3d3Yj5WFpV7wZx3QpD7Ss=";

fn codec() -> XmlCodec {
    XmlCodec::default()
}

fn frame(body: &str) -> Bytes {
    let mut v = vec![0u8];
    v.extend_from_slice(body.as_bytes());
    Bytes::from(v)
}

fn decode(body: &str) -> Result<Stanza, StanzaError> {
    codec().decode(frame(body))
}

fn encode(s: &Stanza) -> Vec<u8> {
    let mut out = BytesMut::new();
    codec().encode(s, &mut out).unwrap();
    out.to_vec()
}

fn message() -> String {
    format!(
            "<message to='4915112345678@s.whatsapp.net' type=\"text\" id='3EB0C767D26F2A5C5E8A' t=\"1700000000\">\n  \
             <enc v=\"2\" type='msg'>{ENC}</enc>\n  <!-- kept -->\n  <meta  a = 'x &amp; &quot;y&quot;' b=\"&#60;\"/>\n</message>\n"
        )
}

#[test]
fn unmodified_round_trips_byte_for_byte() {
    let cases = [
        message(),
        "<ack/>".to_string(),
        "  <presence type='available' />\r\n".to_string(),
        "<iq a=\"'\" b='\"'><x></x><y/>t&#x41;&lt;</iq>".to_string(),
        "<!--pre--><stream:error code='500'><conflict/></stream:error><!--post-->".to_string(),
        "\u{FEFF}<receipt id='1'>   </receipt>".to_string(),
    ];
    for c in cases {
        let s = decode(&c).unwrap();
        assert!(!s.is_modified());
        assert_eq!(s.wire_len(), c.len());
        let out = encode(&s);
        assert_eq!(out[0], 0);
        assert_eq!(&out[1..], c.as_bytes(), "{c}");
    }
}

#[test]
fn compressed_stanza_is_sent_uncompressed() {
    let body = message();
    let s = codec()
        .decode(Bytes::from(compress_frame(body.as_bytes())))
        .unwrap();
    assert_eq!(s.kind(), Kind::Message);
    let out = encode(&s);
    assert_eq!(out[0], 0);
    assert_eq!(&out[1..], body.as_bytes());
}

#[test]
fn modified_keeps_order_and_opaque() {
    let body = message();
    let mut s = decode(&body).unwrap();
    let enc_before = s.root().find("enc").unwrap().opaque().unwrap().clone();
    {
        let r = s.root_mut();
        r.set_attr("type", "media");
        r.set_attr("x-proxy", "a<b");
        r.push_child(Element::new("annotation").with_attr("by", "proxy"));
        r.retain_children(|c| c.name() != "meta");
    }
    assert!(s.is_modified());
    let out = encode(&s);
    let text = std::str::from_utf8(&out[1..]).unwrap();
    assert_eq!(s.wire_len(), out.len() - 1);
    assert!(text.contains(ENC), "enc payload byte-identical");
    assert!(text.contains("<!-- kept -->"));
    assert!(text.starts_with(
            "<message to='4915112345678@s.whatsapp.net' type=\"media\" id='3EB0C767D26F2A5C5E8A' t=\"1700000000\" x-proxy=\"a&lt;b\">"
        ), "{text}");
    assert!(
        text.ends_with("<annotation by=\"proxy\"/></message>\n"),
        "{text}"
    );

    let again = codec().decode(Bytes::copy_from_slice(&out)).unwrap();
    let attrs: Vec<_> = again.root().attributes().iter().map(|a| a.name()).collect();
    assert_eq!(attrs, ["to", "type", "id", "t", "x-proxy"]);
    assert_eq!(again.root().attr("x-proxy").as_deref(), Some("a<b"));
    let kids: Vec<_> = again.root().children().map(Element::name).collect();
    assert_eq!(kids, ["enc", "annotation"]);
    assert_eq!(
        again.root().find("enc").unwrap().opaque(),
        Some(&enc_before)
    );
    // Removing <meta> left two adjacent text nodes, which read back as one.
    let mut again = again;
    again.root_mut();
    assert_eq!(encode(&again), out);
}

#[test]
fn modified_keeps_attribute_wire_form() {
    let mut s = decode("<a x='&#60;&quot;' y=\"'\"><b/></a>").unwrap();
    s.root_mut().set_attr("z", "1");
    let out = encode(&s);
    assert_eq!(&out[1..], b"<a x='&#60;&quot;' y=\"'\" z=\"1\"><b/></a>");
}

#[test]
fn built_stanza() {
    let s = Stanza::from_element(
        Element::new("iq")
            .with_attr("type", "result")
            .with_child(Element::new("enc").with_opaque(Opaque::from_bytes(ENC))),
    );
    assert!(!s.is_modified());
    assert_eq!(s.kind(), Kind::Iq);
    let out = encode(&s);
    assert_eq!(s.wire_len(), out.len() - 1);
    assert_eq!(
        &out[1..],
        format!("<iq type=\"result\"><enc>{ENC}</enc></iq>").as_bytes()
    );
    assert_eq!(s.to_body(), &out[1..]);
}

#[test]
fn debug_does_not_show_payloads() {
    let s = decode(&message()).unwrap();
    let shown = format!("{s:?}");
    assert!(!shown.contains(&ENC[..40]), "{shown}");
    assert!(shown.contains("Opaque(248 bytes)"), "{shown}");
}

#[test]
fn codec_is_shareable() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Stanza>();
    assert_send_sync::<XmlCodec>();
    let codec: std::sync::Arc<dyn StanzaCodec> = std::sync::Arc::new(XmlCodec::default());
    assert_eq!(codec.decode(frame("<ack/>")).unwrap().kind(), Kind::Ack);
}

#[test]
fn kinds() {
    let cases = [
        ("message", Kind::Message),
        ("receipt", Kind::Receipt),
        ("ack", Kind::Ack),
        ("presence", Kind::Presence),
        ("iq", Kind::Iq),
        ("notification", Kind::Notification),
        ("call", Kind::Call),
        ("chatstate", Kind::Chatstate),
        ("success", Kind::Success),
        ("failure", Kind::Failure),
        ("stream:error", Kind::StreamError),
        ("xmlstreamend", Kind::XmlStreamEnd),
        ("ib", Kind::Other),
        ("error", Kind::Other),
    ];
    for (name, kind) in cases {
        let s = decode(&format!("<{name} id='1'/>")).unwrap();
        assert_eq!(s.kind(), kind, "{name}");
        assert_eq!(Stanza::from_element(Element::new(name)).kind(), kind);
    }
}

#[test]
fn decode_errors_carry_codes() {
    assert_eq!(decode("<a><b></a>").unwrap_err().code(), 400);
    let big = format!("<a>{}</a>", " ".repeat(256 * 1024));
    assert_eq!(decode(&big).unwrap_err().code(), 413);
    let mut f = frame("<a/>").to_vec();
    f[0] = 0x01;
    assert_eq!(codec().decode(Bytes::from(f)).unwrap_err().code(), 400);
}

// ---- property tests ----

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9_.-]{0,10}",
        1 => "[a-z]{1,6}:[a-z]{1,8}",
        1 => "[\u{e0}-\u{ff}][a-z\u{e0}-\u{ff}]{0,4}",
    ]
    .prop_filter("reserved for opaque", |n| {
        n != "enc" && n != "device-identity"
    })
}

/// Any XML character, weighted towards the ones that need escaping.
fn xml_string(max: usize) -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        3 => proptest::char::range('a', 'z'),
        2 => prop::sample::select(vec!['<', '>', '&', '"', '\'', '\t', '\n', '\r', ' ', ';', '#', ']']),
        1 => any::<char>().prop_filter("xml char", |c| escape::is_xml_char(*c as u32)),
    ];
    prop::collection::vec(ch, 0..max).prop_map(|v| v.into_iter().collect())
}

fn base64() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+/]{0,80}(==|=)?"
}

fn attrs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map(name(), xml_string(20), 0..6).prop_map(|m| m.into_iter().collect())
}

fn enc() -> impl Strategy<Value = Element> {
    (
        prop::sample::select(vec!["enc", "device-identity"]),
        attrs(),
        base64(),
    )
        .prop_map(|(n, a, p)| {
            a.iter()
                .fold(Element::new(n), |e, (k, v)| e.with_attr(k, v))
                .with_opaque(Opaque::from_bytes(p))
        })
}

#[derive(Clone, Debug)]
enum Piece {
    Child(Element),
    Text(String),
}

fn tree() -> impl Strategy<Value = Element> {
    let leaf = prop_oneof![
        (name(), attrs()).prop_map(|(n, a)| a
            .iter()
            .fold(Element::new(&n), |e, (k, v)| e.with_attr(k, v))),
        enc(),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        (
            name(),
            attrs(),
            prop::collection::vec(
                prop_oneof![
                    3 => inner.prop_map(Piece::Child),
                    1 => xml_string(12).prop_map(Piece::Text),
                ],
                0..6,
            ),
        )
            .prop_map(|(n, a, pieces)| {
                let e = a
                    .iter()
                    .fold(Element::new(&n), |e, (k, v)| e.with_attr(k, v));
                pieces.into_iter().fold(e, |e, p| match p {
                    Piece::Child(c) => e.with_child(c),
                    Piece::Text(t) => e.with_text(&t),
                })
            })
    })
}

fn opaques(e: &Element, out: &mut Vec<Opaque>) {
    for n in e.nodes() {
        match n {
            Node::Opaque(o) => out.push(o.clone()),
            Node::Element(c) => opaques(c, out),
            _ => {}
        }
    }
}

proptest! {
    #[test]
    fn built_trees_round_trip(root in tree()) {
        let s = Stanza::from_element(root.clone());
        let mut out = BytesMut::new();
        codec().encode(&s, &mut out).unwrap();
        prop_assert_eq!(out.len() - 1, s.wire_len());
        let back = codec().decode(out.freeze()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.root(), &root);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        opaques(&root, &mut a);
        opaques(back.root(), &mut b);
        prop_assert_eq!(a, b);
        for (attr, orig) in back.root().attributes().iter().zip(root.attributes()) {
            prop_assert_eq!(attr.value(), orig.value());
        }
    }

    #[test]
    fn decoded_then_modified_reparses(root in tree(), extra in xml_string(10)) {
        let body = Stanza::from_element(root).to_body();
        let mut f = vec![0u8];
        f.extend_from_slice(&body);
        let mut s = codec().decode(Bytes::from(f)).unwrap();
        s.root_mut().set_attr("x-annot", &extra);
        // An empty payload next to a child element has no distinct wire form;
        // annotations never add children to <enc>, so neither does this test.
        if s.root().opaque().is_none() {
            s.root_mut().push_child(Element::new("added").with_text(&extra));
        }
        let mut out = BytesMut::new();
        codec().encode(&s, &mut out).unwrap();
        let back = codec().decode(out.freeze()).unwrap();
        prop_assert_eq!(back.root(), s.root());
        prop_assert_eq!(back.root().attr("x-annot").unwrap(), extra.as_str());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = codec().decode(Bytes::from(bytes));
    }

    #[test]
    fn xmlish_bytes_never_panic(
        pieces in prop::collection::vec(prop::sample::select(vec![
            "<", ">", "/", "</", "/>", "<a", "</a>", "<enc>", "</enc>", "<!--", "-->", "&", ";",
            "&amp;", "&#", "x", "=", "'", "\"", " ", "<?", "?>", "<![CDATA[", "]]>", "<!DOCTYPE",
            "\u{FEFF}", "\u{0}", "\u{FFFF}", "é",
        ]), 0..40),
        flags in prop_oneof![Just(0u8), any::<u8>()],
    ) {
        let mut f = vec![flags];
        f.extend(pieces.concat().into_bytes());
        let _ = codec().decode(Bytes::from(f));
    }

    #[test]
    fn mutated_stanzas_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        compress in any::<bool>(),
    ) {
        let mut body = message().into_bytes();
        for (i, b) in edits {
            let at = i.index(body.len());
            body[at] = b;
        }
        let f = if compress { compress_frame(&body) } else { [&[0u8][..], &body].concat() };
        if let Ok(s) = codec().decode(Bytes::from(f)) {
            let mut out = BytesMut::new();
            codec().encode(&s, &mut out).unwrap();
            prop_assert_eq!(&out[1..], &body[..]);
        }
    }
}
