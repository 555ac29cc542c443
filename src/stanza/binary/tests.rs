//! Known answers and captures (SPEC §2.10), and the forms the writer picks.

use bytes::Bytes;
use serde_json::{json, Value as Json};

use super::decode::decode;
use super::encode::encode;
use super::node::{BytesWidth, Content, Jid, Leg, ListWidth, Node, Str, Value};
use super::tokens::{dictionary, Dictionary};
use crate::stanza::{Limits, Opaque, StanzaError};

const VECTORS: &str = include_str!("../../../tests/data/wa-binary-vectors.json");

pub(super) fn dict(version: u8) -> &'static Dictionary {
    dictionary(version).expect("known dictionary")
}

pub(super) fn unhex(s: &str) -> Bytes {
    Bytes::from(hex::decode(s).expect("hex"))
}

pub(super) fn decode_with(
    body: &Bytes,
    dict: &'static Dictionary,
    leg: Leg,
) -> Result<Node, StanzaError> {
    decode(body, dict, leg, &Limits::default())
}

pub(super) fn encode_with(node: &Node, dict: &Dictionary, leg: Leg) -> Vec<u8> {
    let mut out = Vec::new();
    encode(node, dict, leg, &mut out).expect("encodable");
    out
}

/// The node in the vectors' JSON shape; JIDs in their text form.
fn view(node: &Node) -> Json {
    let attrs: Vec<Json> = node
        .attrs
        .iter()
        .map(|a| json!([a.key.as_text(), a.value.as_text()]))
        .collect();
    let content = match &node.content {
        Content::None => Json::Null,
        Content::ListEmpty => json!({ "list_empty": true }),
        Content::Children { nodes, .. } => nodes.iter().map(view).collect(),
        Content::Text(v) => json!(v.as_text()),
        Content::Bytes { payload, .. } => json!({ "bytes": hex::encode(payload.wire_bytes()) }),
    };
    json!({ "tag": node.tag.as_text(), "attrs": attrs, "content": content })
}

/// The vector's node built the way the proxy builds nodes, if it has no JID values
/// (JIDs are never written from plain strings).
fn build(want: &Json) -> Option<Node> {
    let mut node = Node::new(want["tag"].as_str()?);
    for kv in want["attrs"].as_array()? {
        let value = kv[1].as_str()?;
        if value.contains('@') {
            return None;
        }
        node = node.with_str_attr(kv[0].as_str()?, value);
    }
    node.content = match &want["content"] {
        Json::Null => Content::None,
        Json::String(s) => Content::Text(Value::Str(Str::new(s))),
        Json::Array(children) => {
            for child in children {
                node.push_child(build(child)?);
            }
            node.content
        }
        bytes => {
            let payload = hex::decode(bytes["bytes"].as_str()?).ok()?;
            Content::Bytes {
                width: BytesWidth::for_len(payload.len()),
                payload: Opaque::from_bytes(payload),
            }
        }
    };
    Some(node)
}

fn vectors() -> Json {
    serde_json::from_str(VECTORS).expect("vectors JSON")
}

/// Every body in the vectors file, without its flags byte, with its dictionary.
pub(super) fn vector_bodies() -> Vec<(Bytes, &'static Dictionary)> {
    let all = vectors();
    let mut out = Vec::new();
    for v in all["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .chain(all["captures"].as_array().unwrap())
    {
        let d = dict(v["dictionary"].as_u64().unwrap() as u8);
        let body = match v["plaintext_hex"].as_str() {
            Some(p) => unhex(p).slice(1..),
            None => unhex(v["node_hex"].as_str().unwrap()),
        };
        out.push((body, d));
    }
    out
}

#[test]
fn vectors_decode_reencode_and_build() {
    let mut built = 0;
    for v in vectors()["vectors"].as_array().unwrap() {
        let what = v["what"].as_str().unwrap();
        let d = dict(v["dictionary"].as_u64().unwrap() as u8);
        let plain = unhex(v["plaintext_hex"].as_str().unwrap());
        assert_eq!(plain[0], 0, "{what}: flags byte");
        let body = plain.slice(1..);
        for leg in [Leg::ToServer, Leg::ToClient] {
            let node = decode_with(&body, d, leg).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(view(&node), v["node"], "{what}");
            assert_eq!(encode_with(&node, d, leg), body, "{what}: re-encoded");
        }
        if let Some(node) = build(&v["node"]) {
            assert_eq!(
                hex::encode(encode_with(&node, d, Leg::ToServer)),
                hex::encode(&body),
                "{what}: built"
            );
            built += 1;
        }
    }
    assert_eq!(built, 7, "the vectors without JID values");
}

#[test]
fn capture_success_dictionary_3() {
    let all = vectors();
    let c = &all["captures"][0];
    let body = unhex(c["node_hex"].as_str().unwrap());
    let node = decode_with(&body, dict(3), Leg::ToClient).unwrap();
    assert_eq!(view(&node), c["expect"]);
    assert!(matches!(
        node.attr("lid"),
        Some(Value::Jid(Jid::Ad {
            domain: 1,
            device: 42,
            ..
        }))
    ));
    assert_eq!(encode_with(&node, dict(3), Leg::ToClient), body);
}

#[test]
fn capture_ib_needs_dictionary_2() {
    let all = vectors();
    let c = &all["captures"][1];
    let body = unhex(c["plaintext_hex"].as_str().unwrap()).slice(1..);
    let node = decode_with(&body, dict(2), Leg::ToClient).unwrap();
    assert_eq!(view(&node), c["expect"]);
    assert_eq!(encode_with(&node, dict(2), Leg::ToClient), body);
    match decode_with(&body, dict(3), Leg::ToClient) {
        Err(e) => assert_eq!(e.code(), 400),
        Ok(wrong) => assert_ne!(view(&wrong), c["expect"]),
    }
}

/// `<to jid=…/>` with `123:7` of integrator 300, then the given server string.
fn interop(server: &str) -> Bytes {
    unhex(&format!("f803110cf5ff82123f0007012c{server}"))
}

#[test]
fn interop_jid_carries_its_server_towards_the_client_only() {
    let to_client = interop("fc07696e7465726f70");
    let to_server = interop("");
    let d = dict(3);

    let node = decode_with(&to_client, d, Leg::ToClient).unwrap();
    let Some(Value::Jid(
        jid @ Jid::Interop {
            server: Some(s), ..
        },
    )) = node.attr("jid")
    else {
        panic!("{node:?}");
    };
    assert!(s.is("interop"));
    assert_eq!(jid.to_text(), "300-123:7@interop");
    assert_eq!(encode_with(&node, d, Leg::ToClient), to_client);
    assert_eq!(encode_with(&node, d, Leg::ToServer), to_server);

    let node = decode_with(&to_server, d, Leg::ToServer).unwrap();
    let Some(Value::Jid(jid @ Jid::Interop { server: None, .. })) = node.attr("jid") else {
        panic!("{node:?}");
    };
    assert_eq!(jid.to_text(), "300-123:7@interop");
    assert_eq!(encode_with(&node, d, Leg::ToServer), to_server);
    assert_eq!(
        encode_with(&node, d, Leg::ToClient),
        to_client,
        "server added"
    );

    assert!(decode_with(&to_client, d, Leg::ToServer).is_err());
    assert!(decode_with(&to_server, d, Leg::ToClient).is_err());
}

#[test]
fn ad_jid_keeps_an_unknown_domain_and_fb_jid_reads() {
    let body = unhex("f803110cf70502ff82123f");
    let node = decode_with(&body, dict(3), Leg::ToServer).unwrap();
    assert!(matches!(
        node.attr("jid"),
        Some(Value::Jid(Jid::Ad {
            domain: 5,
            device: 2,
            ..
        }))
    ));
    assert_eq!(node.attr("jid").unwrap().as_text(), "123:2@unknown");
    assert_eq!(encode_with(&node, dict(3), Leg::ToServer), body);

    let body = unhex("f803110cf6ff82123f0003cc");
    let node = decode_with(&body, dict(3), Leg::ToServer).unwrap();
    assert_eq!(node.attr("jid").unwrap().as_text(), "123:3@msgr");
    assert_eq!(encode_with(&node, dict(3), Leg::ToServer), body);
}

/// Decodes `before`, lets `change` modify it, and checks the bytes it encodes to.
fn after(before: &str, change: impl FnOnce(&mut Node), want: &str) {
    let mut node = decode_with(&unhex(before), dict(3), Leg::ToServer).unwrap();
    change(&mut node);
    assert_eq!(
        hex::encode(encode_with(&node, dict(3), Leg::ToServer)),
        want
    );
}

#[test]
fn appending_changes_only_the_counts_and_the_child() {
    let ping = || Node::new("ping");
    // The keepalive: its one-child list becomes a two-child list.
    after(
        "f80a1908ff04123b45a111fa000304291657f801f80156",
        |n| n.push_child(ping()),
        "f80a1908ff04123b45a111fa000304291657f802f80156f80156",
    );
    // No content yet: the node's own count grows and a list appears.
    after(
        "f8031308fb0a3eb0c431c26a1916e07e",
        |n| n.push_child(ping()),
        "f8041308fb0a3eb0c431c26a1916e07ef801f80156",
    );
    // `00` content becomes a list.
    after("f8021300", |n| n.push_child(ping()), "f80213f801f80156");
    // A replaced value is written with the ladder; the rest stays as it came.
    after(
        "f803110cf70021ff06551199887766",
        |n| {
            n.attrs[0].value = Value::Str(Str::new("x"));
        },
        "f803110cfc0178",
    );
    // A short list that outgrows its u8 count is written long.
    let full = format!("f80213f8ff{}", "f80156".repeat(255));
    let grown = format!("f80213f90100{}", "f80156".repeat(256));
    after(&full, |n| n.push_child(ping()), &grown);
    // A long list stays long.
    after(
        "f80213f90001f80156",
        |n| n.push_child(ping()),
        "f80213f90002f80156f80156",
    );
}

#[test]
fn created_strings_follow_the_ladder() {
    let d = dict(3);
    let (table, index) = (1u8, 7u8);
    let double = d.double(table, index).unwrap();
    let cases = [
        ("", "fc00"),
        ("message", "13"),
        (double, "ed07"),
        ("123", "ff82123f"),
        ("-.1", "ff82ab1f"),
        ("ABC", "fb82abcf"),
        ("12A", "fb8212af"),
        ("interop", "fc07696e7465726f70"),
        ("abc", "fc03616263"),
    ];
    for (s, want) in cases {
        let node = Node::new("message").with_str_attr("id", s);
        assert_eq!(
            hex::encode(encode_with(&node, d, Leg::ToServer)),
            format!("f8031308{want}"),
            "{s:?}"
        );
    }
    let long = |s: String, head: &str| {
        let node = Node::new("message").with_str_attr("id", &s);
        let out = encode_with(&node, d, Leg::ToServer);
        assert_eq!(
            hex::encode(&out[4..4 + head.len() / 2]),
            head,
            "{} chars",
            s.len()
        );
    };
    long("1".repeat(127), "ffc0");
    long("1".repeat(128), "fc80");
    long("A".repeat(300), "fd00012c");
}

#[test]
fn created_content_and_widths() {
    let d = dict(3);
    // String content the ladder writes raw is bytes content on the wire.
    let node = Node {
        content: Content::Text(Value::Str(Str::new("Alice"))),
        ..Node::new("message")
    };
    let out = Bytes::from(encode_with(&node, d, Leg::ToServer));
    let back = decode_with(&out, d, Leg::ToServer).unwrap();
    assert!(matches!(
        back.content,
        Content::Bytes {
            width: BytesWidth::B8,
            ..
        }
    ));
    // A width too narrow for its payload is widened.
    let node = Node {
        content: Content::Bytes {
            width: BytesWidth::B8,
            payload: Opaque::from_bytes(vec![1; 300]),
        },
        width: ListWidth::Long,
        ..Node::new("enc")
    };
    let out = encode_with(&node, d, Leg::ToServer);
    assert_eq!(hex::encode(&out[..8]), "f900021dfd00012c");
    // A list the wire cannot count is refused, not truncated.
    let mut node = Node::new("list");
    node.content = Content::Children {
        width: ListWidth::Long,
        nodes: vec![Node::new("a"); 65536],
    };
    let err = encode(&node, d, Leg::ToServer, &mut Vec::new()).unwrap_err();
    assert_eq!(err.code(), 413);
}

#[test]
fn dictionaries() {
    assert!(dictionary(1).is_none() && dictionary(4).is_none());
    for v in [2, 3] {
        let d = dict(v);
        assert_eq!(d.version(), v);
        assert_eq!(d.single(0), None);
        assert_eq!(d.double(4, 0), None);
        for b in 1..=0xEBu8 {
            let s = d.single(b).unwrap();
            assert_eq!(d.token(s), Some(super::tokens::Token::Single(b)));
        }
        for (t, i) in (0..4u8).flat_map(|t| (0..=255u8).map(move |i| (t, i))) {
            let s = d.double(t, i).unwrap();
            assert_eq!(d.token(s), Some(super::tokens::Token::Double(t, i)));
        }
        assert_eq!(d.token(""), None);
        assert_eq!(d.token("no-such-token-3EB0"), None);
        assert_eq!(d.token(&"message".repeat(100)), None);
    }
    assert_ne!(dict(2).single(9), dict(3).single(9));
}

/// Every string form, in and around the short ones kept inline: each reads as its
/// text and is written back byte for byte, as an attribute value and (packed forms)
/// as content.
#[test]
fn string_forms_keep_their_bytes() {
    let x21 = "41".repeat(21);
    let x22 = "41".repeat(22);
    let cases: Vec<(String, Vec<u8>)> = vec![
        ("ff8312345f".into(), b"12345".to_vec()),
        // Padding nibble 0, not F.
        ("ff83123450".into(), b"12345".to_vec()),
        // F inside a NIBBLE_8 string is skipped.
        ("ff021f23".into(), b"123".to_vec()),
        ("ff02ab12".into(), b"-.12".to_vec()),
        ("fb02abcd".into(), b"ABCD".to_vec()),
        ("fb81a0".into(), b"A".to_vec()),
        ("fb81af".into(), b"A".to_vec()),
        // 21 characters (inline) and 22 (not).
        (
            format!("ff8b{}1f", "12".repeat(10)),
            b"121212121212121212121".to_vec(),
        ),
        (
            format!("ff0b{}", "12".repeat(11)),
            b"1212121212121212121212".to_vec(),
        ),
        ("fc05416c696365".into(), b"Alice".to_vec()),
        (format!("fc15{x21}"), vec![b'A'; 21]),
        (format!("fc16{x22}"), vec![b'A'; 22]),
        ("fc00".into(), vec![]),
        ("fd000005416c696365".into(), b"Alice".to_vec()),
        ("fe00000005416c696365".into(), b"Alice".to_vec()),
        ("fc02fffe".into(), vec![0xFF, 0xFE]),
    ];
    for (item, text) in cases {
        // Raw bytes in the content position are bytes content, not a string.
        let raw = item.starts_with('f') && matches!(&item[1..2], "c" | "d" | "e");
        let positions = [
            (format!("f80213{item}"), false),
            (format!("f8031313{item}"), true),
        ];
        for (body, attr) in positions.into_iter().skip(usize::from(raw)) {
            let bytes = unhex(&body);
            let node = decode_with(&bytes, dict(3), Leg::ToClient).expect(&body);
            let value = if attr {
                &node.attrs[0].value
            } else {
                match &node.content {
                    Content::Text(v) => v,
                    other => panic!("{body}: {other:?}"),
                }
            };
            let Value::Str(s) = value else {
                panic!("{body}: {value:?}")
            };
            assert_eq!(s.as_bytes(), &text[..], "{body}");
            assert_eq!(s.as_text(), String::from_utf8_lossy(&text), "{body}");
            assert_eq!(
                encode_with(&node, dict(3), Leg::ToClient),
                bytes.to_vec(),
                "{body}"
            );
        }
    }
    // `00` where a string may stand is the empty string.
    let bytes = unhex("f803131300");
    let node = decode_with(&bytes, dict(3), Leg::ToClient).unwrap();
    assert!(node.attrs[0].value.is(""));
    assert_eq!(encode_with(&node, dict(3), Leg::ToClient), bytes.to_vec());
}

/// The tree stays small: decoding moves and drops it whole.
#[test]
fn node_types_stay_small() {
    use std::mem::size_of;
    assert_eq!(size_of::<Str>(), 24);
    assert!(size_of::<super::Attr>() <= 80);
    assert!(size_of::<super::Node>() <= 112);
}
