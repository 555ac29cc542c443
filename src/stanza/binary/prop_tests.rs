//! Property tests of the codec against itself: created trees round-trip by text and
//! re-encode exactly, and no input, however mangled, panics or re-encodes differently.
//! The tree strategies are shared with `oracle_tests`, so they only draw forms the
//! oracle also reads.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{json, Value as Json};

use super::node::{Attr, BytesWidth, Content, Jid, Leg, ListWidth, Node, Str, Value};
use super::tests::{decode_with, dict, encode_with, vector_bodies};
use crate::stanza::Opaque;

pub(super) const AD_SERVERS: [(u8, &str); 4] = [
    (0, "s.whatsapp.net"),
    (1, "lid"),
    (128, "hosted"),
    (129, "hosted.lid"),
];
pub(super) const SERVERS: [&str; 12] = [
    "s.whatsapp.net",
    "lid",
    "g.us",
    "broadcast",
    "newsletter",
    "hosted",
    "hosted.lid",
    "msgr",
    "interop",
    "bot",
    "c.us",
    "call",
];

/// Everything about a tree that must survive a round trip, by text.
fn strict(n: &Node) -> Json {
    let s = |s: &Str| json!(hex::encode(s.as_bytes()));
    let value = |v: &Value| match v {
        Value::Str(v) => s(v),
        Value::Jid(Jid::Pair { user, server }) => json!(["pair", user.as_ref().map(s), s(server)]),
        Value::Jid(Jid::Ad {
            domain,
            device,
            user,
        }) => json!(["ad", domain, device, s(user)]),
        Value::Jid(Jid::Fb {
            user,
            device,
            server,
        }) => json!(["fb", s(user), device, s(server)]),
        Value::Jid(Jid::Interop {
            user,
            device,
            integrator,
            server,
        }) => {
            let server = server.as_ref().map_or(json!(hex::encode("interop")), s);
            json!(["interop", s(user), device, integrator, server])
        }
    };
    let content = match &n.content {
        Content::None => Json::Null,
        Content::ListEmpty => json!("00"),
        Content::Children { width, nodes } => {
            json!({ "width": format!("{width:?}"), "nodes": nodes.iter().map(strict).collect::<Json>() })
        }
        Content::Text(v) => json!({ "text": value(v) }),
        Content::Bytes { payload, .. } => json!({ "bytes": hex::encode(payload.wire_bytes()) }),
    };
    let attrs: Vec<Json> = n
        .attrs
        .iter()
        .map(|a| json!([s(&a.key), value(&a.value)]))
        .collect();
    json!({ "tag": s(&n.tag), "width": format!("{:?}", n.width), "attrs": attrs, "content": content })
}

fn token() -> BoxedStrategy<String> {
    let d = dict(3);
    prop_oneof![
        (1u8..=0xEB).prop_map(move |b| d.single(b).unwrap().to_owned()),
        (0u8..4, any::<u8>()).prop_map(move |(t, i)| d.double(t, i).unwrap().to_owned()),
    ]
    .boxed()
}

pub(super) fn name() -> BoxedStrategy<String> {
    prop_oneof![token(), "[a-z][a-z:_-]{0,11}"].boxed()
}

/// Strings both writers put in a token or packed form, so string content stays string
/// content on the wire (raw strings are bytes content).
pub(super) fn packable() -> BoxedStrategy<String> {
    prop_oneof![token(), "[0-9.-]{1,40}", "[0-9A-F]{1,40}", "[0-9]{120,127}"].boxed()
}

pub(super) fn text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => packable(),
        1 => Just(String::new()),
        4 => "[^@]{0,40}",
        1 => "[a-z0-9]{120,300}",
    ]
    .boxed()
}

pub(super) fn user() -> BoxedStrategy<String> {
    prop_oneof!["[0-9]{1,20}", "[a-z0-9.]{1,12}", Just(String::new())].boxed()
}

/// The JID forms the oracle reads; the server string of an INTEROP_JID exists
/// towards the client only.
fn jid(leg: Leg) -> BoxedStrategy<Jid> {
    let new = |s: String| Str::new(&s);
    prop_oneof![
        (proptest::option::of(user()), select(&SERVERS[..])).prop_map(move |(u, server)| {
            Jid::Pair {
                user: u.map(new),
                server: Str::new(server),
            }
        }),
        (select(&AD_SERVERS[..]), any::<u8>(), user()).prop_map(move |((domain, _), device, u)| {
            Jid::Ad {
                domain,
                device,
                user: new(u),
            }
        }),
        (user(), any::<u16>()).prop_map(move |(u, device)| Jid::Fb {
            user: new(u),
            device,
            server: Str::new("msgr")
        }),
        (user(), any::<u16>(), any::<u16>(), any::<bool>()).prop_map(
            move |(u, device, integrator, named)| {
                let server = (named && leg == Leg::ToClient).then(|| Str::new("interop"));
                Jid::Interop {
                    user: new(u),
                    device,
                    integrator,
                    server,
                }
            }
        ),
    ]
    .boxed()
}

fn value(leg: Leg) -> BoxedStrategy<Value> {
    prop_oneof![
        3 => text().prop_map(|s| Value::Str(Str::new(&s))),
        1 => jid(leg).prop_map(Value::Jid),
    ]
    .boxed()
}

fn list_width() -> BoxedStrategy<ListWidth> {
    prop_oneof![Just(ListWidth::Short), Just(ListWidth::Long)].boxed()
}

fn leaf_content(leg: Leg) -> BoxedStrategy<Content> {
    let width = select(vec![BytesWidth::B8, BytesWidth::B20, BytesWidth::B32]);
    prop_oneof![
        Just(Content::None),
        Just(Content::ListEmpty),
        packable().prop_map(|s| Content::Text(Value::Str(Str::new(&s)))),
        jid(leg).prop_map(|j| Content::Text(Value::Jid(j))),
        (width, vec(any::<u8>(), 0..300)).prop_map(|(width, b)| Content::Bytes {
            width,
            payload: Opaque::from_bytes(b)
        }),
    ]
    .boxed()
}

pub(super) fn tree(leg: Leg) -> BoxedStrategy<Node> {
    let attrs = vec((name(), value(leg)), 0..5).prop_map(|kv| {
        kv.into_iter()
            .map(|(k, value)| Attr {
                key: Str::new(&k),
                value,
            })
            .collect::<Vec<_>>()
    });
    let leaf = (name(), attrs.clone(), leaf_content(leg), list_width()).prop_map(
        |(tag, attrs, content, width)| Node {
            tag: Str::new(&tag),
            attrs,
            content,
            width,
        },
    );
    leaf.prop_recursive(3, 24, 4, move |inner| {
        (
            name(),
            attrs.clone(),
            vec(inner, 0..4),
            list_width(),
            list_width(),
        )
            .prop_map(|(tag, attrs, nodes, width, list)| Node {
                tag: Str::new(&tag),
                attrs,
                content: Content::Children { width: list, nodes },
                width,
            })
    })
    .boxed()
}

fn roundtrip(tree: Node, leg: Leg) -> Result<(), TestCaseError> {
    let d = dict(3);
    let bytes = Bytes::from(encode_with(&tree, d, leg));
    let back = decode_with(&bytes, d, leg)?;
    prop_assert_eq!(strict(&back), strict(&tree));
    prop_assert_eq!(encode_with(&back, d, leg), &bytes[..]);
    // The decoded tree, changed, writes as the created one changed the same way.
    let (mut read, mut made) = (back, tree);
    let child = Node::new("ping").with_str_attr("id", "1.2-3");
    read.push_child(child.clone());
    made.push_child(child);
    prop_assert_eq!(encode_with(&read, d, leg), encode_with(&made, d, leg));
    Ok(())
}

/// Whatever decodes must re-encode to itself.
fn decodes_exactly(body: Vec<u8>, leg: Leg) -> Result<(), TestCaseError> {
    let body = Bytes::from(body);
    if let Ok(node) = decode_with(&body, dict(3), leg) {
        prop_assert_eq!(encode_with(&node, dict(3), leg), &body[..]);
    }
    Ok(())
}

fn leg() -> BoxedStrategy<Leg> {
    prop_oneof![Just(Leg::ToServer), Just(Leg::ToClient)].boxed()
}

proptest! {
    // Failures are reported with their minimal input; no regression file is written.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn trees_round_trip_to_server(tree in tree(Leg::ToServer)) {
        roundtrip(tree, Leg::ToServer)?;
    }

    #[test]
    fn trees_round_trip_to_client(tree in tree(Leg::ToClient)) {
        roundtrip(tree, Leg::ToClient)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in vec(any::<u8>(), 0..200), leg in leg()) {
        decodes_exactly(body, leg)?;
    }

    #[test]
    fn mutated_vectors_never_panic(which: Index, at: Index, byte: u8, leg in leg()) {
        let bodies = vector_bodies();
        let mut body = which.get(&bodies).0.to_vec();
        let at = at.index(body.len());
        body[at] = byte;
        decodes_exactly(body, leg)?;
    }

    #[test]
    fn mutated_trees_never_panic(tree in tree(Leg::ToClient), at: Index, byte: u8, leg in leg()) {
        let mut body = encode_with(&tree, dict(3), Leg::ToClient);
        let at = at.index(body.len());
        body[at] = byte;
        decodes_exactly(body, leg)?;
    }
}
