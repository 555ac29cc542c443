//! The strictness and bounds of SPEC §2.10 "Reading is strict and bounded": every
//! class of malformed body is refused with 400, every limit with 413, and no truncation
//! or huge count gets further than an error.

use serde_json::{json, Value as Json};

use super::decode::decode;
use super::node::Leg;
use super::tests::{decode_with, dict, unhex, vector_bodies};
use super::tokens::Dictionary;
use crate::stanza::Limits;

fn code(hex: &str, d: &'static Dictionary, limits: &Limits) -> u16 {
    match decode(&unhex(hex), d, Leg::ToClient, limits) {
        Ok(n) => panic!("{hex} decoded to {n:?}"),
        Err(e) => e.code(),
    }
}

#[test]
fn malformed_bodies_are_400() {
    let cases = [
        ("", "empty body"),
        ("00", "LIST_EMPTY where a node is expected"),
        ("f800", "a short list of 0 items as the node"),
        ("f90000", "a long list of 0 items as the node"),
        ("13", "a node that is not a list"),
        ("f80213ff01c0", "NIBBLE_8 nibble 12"),
        ("f80213ff01d1", "NIBBLE_8 nibble 13"),
        ("f80213ff011e", "NIBBLE_8 nibble 14"),
        ("f80213ff811c", "NIBBLE_8 nibble 12 in the padding position"),
        ("f80213fc05414243", "FC length past the end"),
        ("f80213fd000100", "FD length past the end"),
        ("f80213feffffffff00", "FE length past the end"),
        ("f80213fd100001aa", "FD with bits above the 20"),
        ("f80213fb05aa", "packed length past the end"),
        ("f80213f80a", "child count past the end"),
        ("f80213f9ffff", "u16 child count past the end"),
        ("f80513", "node count past the end"),
        ("f8011300", "a byte after the node"),
        ("f8011313", "a token after the node"),
        ("f80313fa000307", "a JID as an attribute key"),
        ("f803130007", "LIST_EMPTY as an attribute key"),
        ("f80313f8011307", "a list as an attribute key"),
        ("f80100", "LIST_EMPTY as the tag"),
        ("f801fc00", "an empty raw tag"),
        ("f801ff00", "an empty packed tag"),
        ("f801fb80", "an empty packed tag with a padding bit"),
        ("f801fa0003", "a JID as the tag"),
        ("f801f80113", "a list as the tag"),
        ("f8031311f80113", "a list as an attribute value"),
        ("f8031311f800", "an empty list as an attribute value"),
        ("f8031311fafa000303", "a JID as a JID part"),
        ("f8031311f70001f80113", "a list as a JID part"),
    ];
    for (hex, why) in cases {
        assert_eq!(code(hex, dict(3), &Limits::default()), 400, "{why}: {hex}");
    }
    for b in 0xF0..=0xF4u8 {
        for hex in [
            format!("f801{b:02x}"),
            format!("f80213{b:02x}"),
            format!("f80313{b:02x}07"),
            format!("f8031311{b:02x}"),
            format!("f8031311fa00{b:02x}"),
        ] {
            assert_eq!(
                code(&hex, dict(3), &Limits::default()),
                400,
                "unassigned {hex}"
            );
        }
    }
}

#[test]
fn tokens_outside_their_table_are_400() {
    let mut tables: Json = serde_json::from_str(include_str!("tokens/wa-tokens-v3.json")).unwrap();
    tables["single_byte"][5] = json!("");
    tables["double_byte"] = json!([["zero", "one"], [], [], []]);
    let json: &'static str = Box::leak(tables.to_string().into_boxed_str());
    let gaps: &'static Dictionary = Box::leak(Box::new(Dictionary::load(3, json)));
    let limits = Limits::default();
    assert_eq!(
        code("f80105", gaps, &limits),
        400,
        "unassigned single-byte entry"
    );
    assert_eq!(
        code("f801ec02", gaps, &limits),
        400,
        "past the end of table 0"
    );
    assert_eq!(code("f801ed00", gaps, &limits), 400, "empty table 1");
    let node = decode(&unhex("f801ec01"), gaps, Leg::ToServer, &limits).unwrap();
    assert!(node.tag.is("one"));
}

/// `F8 02 <message> F8 01` per level around a `<message/>` leaf.
fn nested(depth: usize) -> String {
    "f80213f801".repeat(depth - 1) + "f80113"
}

#[test]
fn limits_are_413() {
    let limits = Limits::default();
    assert!(decode(&unhex(&nested(32)), dict(3), Leg::ToClient, &limits).is_ok());
    assert_eq!(code(&nested(33), dict(3), &limits), 413);
    let shallow = Limits {
        max_depth: 2,
        ..limits
    };
    assert!(decode(&unhex(&nested(2)), dict(3), Leg::ToClient, &shallow).is_ok());
    assert_eq!(code(&nested(3), dict(3), &shallow), 413);

    let attrs = |n: usize| format!("f8{:02x}13{}", 1 + 2 * n, "0808".repeat(n));
    let node = decode(&unhex(&attrs(64)), dict(3), Leg::ToClient, &limits).unwrap();
    assert_eq!(node.attrs.len(), 64);
    assert_eq!(code(&attrs(65), dict(3), &limits), 413);
    // The attribute limit is checked before anything the count would pay for.
    assert_eq!(code("f9ffff13", dict(3), &limits), 413);
}

#[test]
fn counts_near_their_maximum_fail_without_allocating() {
    let open = Limits {
        max_attributes: usize::MAX,
        max_depth: usize::MAX,
        ..Limits::default()
    };
    for hex in [
        "f9ffff13",
        "f9fffe1308",
        "f80213f9ffff",
        "f80213f9fffff80113",
        "f80213feffffffff",
    ] {
        assert_eq!(code(hex, dict(3), &open), 400, "{hex}");
    }
}

#[test]
fn every_truncation_is_an_error() {
    for (body, d) in vector_bodies() {
        for len in 0..body.len() {
            for leg in [Leg::ToServer, Leg::ToClient] {
                let err = decode_with(&body.slice(..len), d, leg).expect_err("truncated");
                assert_eq!(err.code(), 400);
            }
        }
    }
}
