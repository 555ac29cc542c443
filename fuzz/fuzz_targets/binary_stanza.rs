//! The binary stanza codec (SPEC §2.10): flags, bounded inflation, then the token
//! reader with limits; and the writer on what the reader accepted. An accepted stanza
//! is forwarded with the bytes it came as, decodes and re-encodes to the same bytes
//! (also through the stanza once marked modified), and still decodes, changed only
//! where expected, after a child is appended.
//!
//! Input: one selector byte, then a decrypted frame (flags byte + body). Selector bit 0
//! picks the dictionary (0: 3, 1: 2), bit 1 the leg (0: to client, 1: to server); the
//! other bits are ignored.
#![no_main]

use std::io::Read;

use bytes::{Bytes, BytesMut};
use interop_proxy::stanza::binary::{BinaryCodec, Content, Leg, ListWidth, Node, Value};
use interop_proxy::stanza::{Limits, StanzaCodec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, plaintext)) = data.split_first() else {
        return;
    };
    let dictionary = if selector & 1 == 0 { 3 } else { 2 };
    let leg = if selector & 2 == 0 {
        Leg::ToClient
    } else {
        Leg::ToServer
    };
    let codec = BinaryCodec::new(
        dictionary,
        leg,
        Limits {
            max_stanza_bytes: 64 * 1024,
            max_depth: 16,
            max_attributes: 16,
        },
    )
    .expect("dictionaries 2 and 3 exist");
    let Ok(mut stanza) = codec.decode(Bytes::copy_from_slice(plaintext)) else {
        return;
    };

    // Unmodified: forwarded as flags 00 and the body it arrived as (inflated, if it
    // came compressed).
    let mut out = BytesMut::new();
    codec
        .encode(&stanza, &mut out)
        .expect("an unmodified stanza is forwarded");
    assert_eq!(out[0], 0, "the proxy never compresses");
    let body = out.split_off(1).freeze();
    match plaintext[0] {
        0 => assert_eq!(&body[..], &plaintext[1..], "forwarded bytes differ"),
        2 => {
            let mut inflated = Vec::new();
            flate2::read::ZlibDecoder::new(&plaintext[1..])
                .read_to_end(&mut inflated)
                .expect("an accepted compressed body inflates");
            assert_eq!(&body[..], &inflated[..], "forwarded bytes differ");
        }
        flags => panic!("accepted a frame with flags {flags:#04x}"),
    }
    let root = stanza.binary().expect("a binary stanza").clone();

    // The body decodes to the same tree, which encodes to the same bytes, which decode
    // to the same tree again.
    let node = codec
        .decode_body(&body)
        .expect("the forwarded body decodes");
    assert_eq!(node, root);
    let encoded = codec.encode_node(&node).expect("a decoded node encodes");
    assert_eq!(&encoded[..], &body[..], "re-encoding changed the bytes");
    let again = codec
        .decode_body(&Bytes::from(encoded))
        .expect("the re-encoded body decodes");
    assert_eq!(again, node);

    // Marked modified but unchanged (as a step that keeps every child leaves it): not
    // forwarded but re-serialized from the tree, which gives the same bytes.
    stanza.retain_children(|_| true);
    assert!(stanza.is_modified());
    let mut out = BytesMut::new();
    codec
        .encode(&stanza, &mut out)
        .expect("a modified stanza encodes");
    assert_eq!(out[0], 0);
    assert_eq!(
        &out[1..],
        &body[..],
        "re-serializing the tree changed the bytes"
    );

    // Modified: a child appended to a root that holds children or nothing.
    if matches!(node.content, Content::Text(_) | Content::Bytes { .. }) {
        return;
    }
    let mut modified = node.clone();
    modified.push_child(Node::new("x"));
    let encoded = codec
        .encode_node(&modified)
        .expect("a modified node encodes");
    let decoded = codec
        .decode_body(&Bytes::from(encoded.clone()))
        .expect("the modified body decodes");
    assert!(
        same_text(&decoded, &modified),
        "decode(encode(modified)) differs"
    );
    // Everything read from the wire is written back in its form: only the new child
    // and the list counts (and a short child list outgrowing its u8) differ.
    assert_eq!(decoded.tag, node.tag);
    assert_eq!(decoded.attrs, node.attrs);
    assert_eq!(decoded.width, node.width);
    let (width, before) = match &node.content {
        Content::Children { width, nodes } => (*width, &nodes[..]),
        _ => (ListWidth::Short, &[][..]),
    };
    let Content::Children {
        width: new_width,
        nodes,
    } = &decoded.content
    else {
        panic!("the modified root has no children");
    };
    let expected_width = if before.len() + 1 > 255 {
        ListWidth::Long
    } else {
        width
    };
    assert_eq!(*new_width, expected_width);
    let (added, kept) = nodes.split_last().expect("the appended child");
    assert_eq!(kept, before);
    assert!(added.tag.is("x") && added.attrs.is_empty());
    assert_eq!(added.content, Content::None);
});

/// Whether two trees read the same: tags, attributes (keys, values as text) in order,
/// content of the same kind with the same text, bytes or children. Forms are not
/// compared, so a string the proxy made equals the wire string it was written as.
fn same_text(a: &Node, b: &Node) -> bool {
    let attrs_same = a.attrs.len() == b.attrs.len()
        && a.attrs.iter().zip(&b.attrs).all(|(x, y)| {
            x.key.as_bytes() == y.key.as_bytes()
                && match (&x.value, &y.value) {
                    (Value::Str(s), Value::Str(t)) => s.as_bytes() == t.as_bytes(),
                    (Value::Jid(i), Value::Jid(j)) => i.to_text() == j.to_text(),
                    _ => false,
                }
        });
    let content_same = match (&a.content, &b.content) {
        (Content::None, Content::None) | (Content::ListEmpty, Content::ListEmpty) => true,
        (Content::Children { nodes: x, .. }, Content::Children { nodes: y, .. }) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_text(x, y))
        }
        (Content::Text(x), Content::Text(y)) => x.as_text() == y.as_text(),
        (Content::Bytes { payload: x, .. }, Content::Bytes { payload: y, .. }) => x == y,
        _ => false,
    };
    a.tag.as_bytes() == b.tag.as_bytes() && attrs_same && content_same
}
