//! Hostile binary stanzas (SPEC §2.10), one table: each malformed and limit class of the
//! binary reader, counts and lengths at their maximum, truncations, and compression
//! bombs, sent by a logged-in client. For each the test asserts the exact closing stanza
//! the attacker gets and the reason counted, and that a healthy binary session beside it
//! keeps exchanging stanzas.

mod support;

use interop_proxy::sim::SimClient;
use interop_proxy::stanza::{compress_frame, Stanza};
use support::*;

/// One attack: a decrypted transport frame (flags byte + body) and what it must cause.
struct Case {
    name: &'static str,
    plaintext: Vec<u8>,
    /// The `code` of the `<stream:error>` the attacker gets.
    code: &'static str,
    /// The `reason` label counted in `sessions_closed_total`.
    reason: &'static str,
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn malformed(name: &'static str, plaintext: Vec<u8>) -> Case {
    Case {
        name,
        plaintext,
        code: "400",
        reason: "protocol_error",
    }
}

fn over_limit(name: &'static str, plaintext: Vec<u8>) -> Case {
    Case {
        name,
        plaintext,
        code: "413",
        reason: "limit_exceeded",
    }
}

/// The keepalive ping of the vectors: a valid stanza with a child and a JID.
const PING: &str = "00f80a1908ff04123b45a111fa000304291657f801f80156";

/// `depth` nested nodes tagged `message` (token 0x13), the innermost empty.
fn nested(depth: usize) -> Vec<u8> {
    let mut body = vec![0x00];
    for _ in 1..depth {
        body.extend_from_slice(&[0xf8, 0x02, 0x13, 0xf8, 0x01]);
    }
    body.extend_from_slice(&[0xf8, 0x01, 0x13]);
    body
}

/// A `message` node with `n` attributes `id="x"` (keys may repeat on the wire).
fn attributes(n: usize) -> Vec<u8> {
    let count = 1 + 2 * n;
    let mut body = vec![0x00, 0xf9, (count >> 8) as u8, count as u8, 0x13];
    for _ in 0..n {
        body.extend_from_slice(&[0x08, 0xfc, 0x01, b'x']);
    }
    body
}

fn cases() -> Vec<Case> {
    let big = 256 * 1024 + 1;
    let mut over_size = h("00 f8 02 13 fd");
    over_size.extend_from_slice(&[(big >> 16) as u8, (big >> 8) as u8, big as u8]);
    over_size.resize(over_size.len() + big, 0x5a);
    // 16 MiB of bytes content compress to a few KiB: small on the wire, far over once
    // inflated.
    let mut bomb = h("f8 02 13 fe 01 00 00 00");
    bomb.resize(bomb.len() + (16 << 20), 0);
    let mut cases = vec![
        malformed("a list of no items as the root", h("00 f8 00")),
        malformed("LIST_EMPTY as the root", h("00 00")),
        malformed("a token where the root list belongs", h("00 13")),
        malformed("an unassigned tag byte F0", h("00 f8 01 f0")),
        malformed(
            "an unassigned tag byte F4 as a value",
            h("00 f8 03 13 08 f4"),
        ),
        malformed("NIBBLE_8 with nibble 12", h("00 f8 01 ff 01 1c")),
        malformed("NIBBLE_8 with nibble 13", h("00 f8 01 ff 01 d1")),
        malformed("NIBBLE_8 with nibble 14", h("00 f8 01 ff 01 e1")),
        malformed("raw string longer than the body", h("00 f8 01 fc 05 41")),
        malformed("list count past the end", h("00 f8 05 13")),
        malformed("16-bit count of 4 with only the tag", h("00 f9 00 04 13")),
        // The count alone proves 32767 attributes: the limit, before the missing bytes.
        over_limit("16-bit count 65535 with one item", h("00 f9 ff ff 13")),
        malformed(
            "children count 65535, none there",
            h("00 f8 02 13 f9 ff ff"),
        ),
        malformed(
            "BINARY_32 length 4 GiB - 1",
            h("00 f8 02 13 fe ff ff ff ff"),
        ),
        malformed("BINARY_20 length cut short", h("00 f8 02 13 fd 00 01")),
        malformed("bytes after the node", h("00 f8 01 13 13")),
        malformed("a second root node", h("00 f8 01 13 f8 01 13")),
        malformed("a JID as an attribute key", h("00 f8 03 13 fa 00 03 13")),
        malformed("LIST_EMPTY as an attribute key", h("00 f8 03 13 00 13")),
        malformed("an empty tag", h("00 f8 01 fc 00")),
        malformed("a JID as the tag", h("00 f8 01 fa 00 03")),
        malformed("a list as the tag", h("00 f8 01 f8 01 13")),
        malformed("a list as an attribute value", h("00 f8 03 13 08 f8 01 13")),
        malformed("AD_JID cut after its domain", h("00 f8 03 13 11 f7 00")),
        malformed(
            "INTEROP_JID with the to-client server string, sent to the server",
            h("00 f8 03 13 11 f5 ff 02 55 11 00 00 00 07 fc 07 696e7465726f70"),
        ),
        malformed("unknown flags 0x01", h("01 f8 01 13")),
        malformed("flags 0x02 with no zlib stream", h("02 f8 01 13")),
        over_limit("nesting one deeper than max_depth", nested(33)),
        over_limit("65 attributes on one node", attributes(65)),
        over_limit("a body one byte over max_stanza_bytes", over_size),
        over_limit("a compression bomb", compress_frame(&bomb)),
    ];
    // Every truncation of a valid stanza.
    let ping = h(PING);
    for cut in 1..ping.len() {
        cases.push(Case {
            name: "a truncated keepalive",
            plaintext: ping[..cut].to_vec(),
            code: "400",
            reason: "protocol_error",
        });
    }
    cases
}

/// What the attacker saw: each stanza by kind and code.
fn describe(stanzas: &[Stanza]) -> Vec<String> {
    stanzas
        .iter()
        .map(|s| match attr(s, "code") {
            Some(code) => format!("{} {code}", s.node().name()),
            None => s.node().name().into_owned(),
        })
        .collect()
}

#[tokio::test]
async fn every_hostile_binary_stanza_gets_its_exact_outcome_and_harms_no_one_else() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let mut healthy = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    let cases = cases();
    assert!(cases.len() >= 25);
    let mut wrong = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let before = closed_total(case.reason);
        let account = 1000 + i as u64;
        let mut attacker = SimClient::login(d.proxy_addr, &d.client(account))
            .await
            .unwrap();
        attacker.send_plaintext(&case.plaintext).await.unwrap();
        let seen = describe(&drain_until_closed(&mut attacker).await);
        // Closed at once, as a client would: the proxy waits a while for it otherwise.
        drop(attacker);
        let expect = vec![format!("stream:error {}", case.code)];
        if seen != expect {
            wrong.push(format!("{}: saw {seen:?}, expected {expect:?}", case.name));
        } else {
            eventually(|| closed_total(case.reason) > before).await;
        }
        echo(&mut healthy, 1, &format!("after-{i}")).await;
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    fresh_session_works(&d, 9999).await;
}

#[tokio::test]
async fn a_valid_stanza_beside_the_table_is_relayed() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let mut client = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    client.send_plaintext(&h(PING)).await.unwrap();
    let pong = recv(&mut client).await.unwrap();
    assert_eq!(attr(&pong, "id").as_deref(), Some("123.45-1"));
}
