//! Binary stanzas (SPEC §2.10) against their XML twins: the same tree in each encoding,
//! through the same operations.
//!
//! Every benchmark is named `ENCODING/OPERATION/STANZA`, the binary one printed just
//! before its XML twin:
//!
//! - `decode`: flags byte + body to a [`Stanza`], dropping it included;
//! - `encode_unmodified`: a received stanza forwarded (its bytes copied back);
//! - `encode_modified`: a stanza changed after it was read, so re-serialized. The
//!   presence carries the session's `<c>` (what `presence_caps::annotate` does to it);
//!   the others one pushed `<interop origin="third-party"/>` child;
//! - `annotate`: the pipeline step that concerns the stanza, called directly on a
//!   decoded one (cloning it and dropping the result are outside the measurement).
//!   `presence`: `presence_caps::annotate`, which adds the `<c>`; `message`: the
//!   unsupported-kind check, which finds `text` supported and changes nothing; `iq`:
//!   `disco::answer`, which finds no disco query and answers nothing. No step looks
//!   past a receipt's kind, so it has none.
//!
//! The stanzas:
//!
//! - `message`: `<message to=JID type=text id t><enc v=2 type=msg>` with 300 bytes of
//!   ciphertext (binary: raw bytes; XML: their base64);
//! - `presence`: `<presence type=available name=Alice/>`, no `<c>`;
//! - `receipt`: `<receipt id to=JID type=read t/>`;
//! - `iq`: the keepalive `<iq id to=@s.whatsapp.net type=get xmlns=w:p><ping/></iq>`.
//!
//! The binary bodies are written by the codec from node trees (dictionary 3), with the
//! JIDs as JID_PAIRs and every other string in the form the SPEC's ladder picks for it;
//! the setup checks that each XML twin reads as the same tree.
//!
//! Run: `cargo bench --bench binary`; one case: `cargo bench --bench binary -- decode/message`.
//!
//! `BINARY_CALLGRIND=binary/decode/message` (any benchmark's name) makes the binary
//! run that case 100,000 times and exit, for callgrind:
//!
//! ```text
//! cargo bench --bench binary --no-run   # prints the executable's path
//! BINARY_CALLGRIND=binary/decode/message valgrind --tool=callgrind --toggle-collect='binary::run' PATH
//! ```

use std::sync::Arc;

use base64::Engine;
use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, BatchSize, Bencher, Criterion};

use interop_proxy::caps::{file, Caps, Profile};
use interop_proxy::config::Unsupported;
use interop_proxy::pipeline::{disco, presence_caps, unsupported};
use interop_proxy::stanza::binary::{BinaryCodec, BytesWidth, Content, Jid, Leg, Node, Str, Value};
use interop_proxy::stanza::{Element, Limits, NodeRef, Opaque, Stanza, StanzaCodec, XmlCodec};

const CAPS: &str = include_str!("../config/capabilities.toml");

/// The `default` profile of the example capabilities file, as benches/caps.rs builds it.
fn profile() -> Arc<Profile> {
    let caps = Caps::new(
        file::parse(CAPS, "capabilities.toml").expect("example file loads"),
        Unsupported::Annotate,
        None,
    );
    Arc::clone(caps.profile("default").expect("default profile"))
}

const USER: &str = "4917600000002";
const SERVER: &str = "s.whatsapp.net";
const ID: &str = "3EB0AABBCCDD";
const T: &str = "1700000000";

/// 300 bytes that look like ciphertext (no runs, every byte value about as often).
fn ciphertext() -> Vec<u8> {
    let mut x: u32 = 0x9E37_79B9;
    (0..300)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn jid(user: Option<&str>) -> Value {
    Value::Jid(Jid::Pair {
        user: user.map(Str::new),
        server: Str::new(SERVER),
    })
}

/// One stanza in both encodings: `(name, leg, binary tree, XML body)`.
struct Case {
    name: &'static str,
    leg: Leg,
    node: Node,
    xml: String,
}

fn cases() -> Vec<Case> {
    let payload = ciphertext();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&payload);
    let mut enc = Node::new("enc")
        .with_str_attr("v", "2")
        .with_str_attr("type", "msg");
    enc.content = Content::Bytes {
        width: BytesWidth::for_len(payload.len()),
        payload: Opaque::from_bytes(payload),
    };
    vec![
        Case {
            name: "message",
            leg: Leg::ToClient,
            node: Node::new("message")
                .with_attr("to", jid(Some(USER)))
                .with_str_attr("type", "text")
                .with_str_attr("id", ID)
                .with_str_attr("t", T)
                .with_child(enc),
            xml: format!(
                r#"<message to="{USER}@{SERVER}" type="text" id="{ID}" t="{T}"><enc v="2" type="msg">{b64}</enc></message>"#
            ),
        },
        Case {
            name: "presence",
            leg: Leg::ToServer,
            node: Node::new("presence")
                .with_str_attr("type", "available")
                .with_str_attr("name", "Alice"),
            xml: r#"<presence type="available" name="Alice"/>"#.to_string(),
        },
        Case {
            name: "receipt",
            leg: Leg::ToClient,
            node: Node::new("receipt")
                .with_str_attr("id", ID)
                .with_attr("to", jid(Some(USER)))
                .with_str_attr("type", "read")
                .with_str_attr("t", T),
            xml: format!(r#"<receipt id="{ID}" to="{USER}@{SERVER}" type="read" t="{T}"/>"#),
        },
        Case {
            name: "iq",
            leg: Leg::ToClient,
            node: Node::new("iq")
                .with_str_attr("id", "42")
                .with_attr("to", jid(None))
                .with_str_attr("type", "get")
                .with_str_attr("xmlns", "w:p")
                .with_child(Node::new("ping")),
            xml: format!(r#"<iq id="42" to="@{SERVER}" type="get" xmlns="w:p"><ping/></iq>"#),
        },
    ]
}

fn frame(body: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(1 + body.len());
    v.push(0);
    v.extend_from_slice(body);
    Bytes::from(v)
}

/// Tag, attributes as text, children, and whether there is opaque content, alike.
fn same_tree(a: NodeRef<'_>, b: NodeRef<'_>) -> bool {
    a.name() == b.name()
        && a.attrs() == b.attrs()
        && a.opaque().is_some() == b.opaque().is_some()
        && a.children().count() == b.children().count()
        && a.children().zip(b.children()).all(|(x, y)| same_tree(x, y))
}

/// One encoding of one case, ready for every operation.
struct Prepared {
    codec: Box<dyn StanzaCodec>,
    frame: Bytes,
    /// Decoded from `frame`.
    received: Stanza,
    /// `received` after the change `encode_modified` writes.
    modified: Stanza,
}

fn prepare(codec: Box<dyn StanzaCodec>, frame: Bytes, profile: &Profile) -> Prepared {
    let received = codec.decode(frame.clone()).expect("valid stanza");
    let mut out = BytesMut::new();
    codec.encode(&received, &mut out).unwrap();
    assert_eq!(out, frame, "an unmodified stanza is forwarded as it came");
    let mut modified = received.clone();
    if modified.node().is_named("presence") {
        assert!(presence_caps::annotate(&mut modified, profile));
    } else {
        modified.push_child(
            &Element::new("interop")
                .with_attr("origin", "third-party")
                .into(),
        );
    }
    assert!(modified.is_modified());
    Prepared {
        codec,
        frame,
        received,
        modified,
    }
}

/// `(encoding, stanza, both encodings' preparations)` of every case.
fn prepared(profile: &Profile) -> Vec<(&'static str, [(&'static str, Prepared); 2])> {
    cases()
        .into_iter()
        .map(|case| {
            let binary = BinaryCodec::new(3, case.leg, Limits::default()).expect("dictionary 3");
            let body = binary.encode_node(&case.node).expect("encodable node");
            let binary = prepare(Box::new(binary), frame(&body), profile);
            let xml = prepare(
                Box::new(XmlCodec::default()),
                frame(case.xml.as_bytes()),
                profile,
            );
            assert!(
                same_tree(binary.received.node(), xml.received.node()),
                "{}: the XML twin is the same tree",
                case.name
            );
            (case.name, [("binary", binary), ("xml", xml)])
        })
        .collect()
}

/// The operations, in the order they are run for each stanza.
const OPS: [&str; 4] = ["decode", "encode_unmodified", "encode_modified", "annotate"];

/// Times `op` of `p` (stanza `name`) with `b`.
fn time(b: &mut Bencher<'_>, op: &str, name: &str, p: &Prepared, profile: &Profile) {
    let mut out = BytesMut::with_capacity(4096);
    match op {
        "decode" => b.iter(|| p.codec.decode(black_box(p.frame.clone())).unwrap()),
        "encode_unmodified" | "encode_modified" => {
            let s = if op == "encode_unmodified" {
                &p.received
            } else {
                &p.modified
            };
            b.iter(|| {
                out.clear();
                p.codec.encode(black_box(s), &mut out).unwrap();
                black_box(&out);
            })
        }
        "annotate" => match name {
            "presence" => b.iter_batched(
                || p.received.clone(),
                |mut s| {
                    black_box(presence_caps::annotate(&mut s, profile));
                    s
                },
                BatchSize::SmallInput,
            ),
            "message" => {
                b.iter(|| unsupported::unsupported_kind(black_box(&p.received).node(), profile))
            }
            "iq" => b.iter(|| disco::answer(black_box(&p.received), profile)),
            _ => unreachable!("{name} has no step"),
        },
        _ => unreachable!("unknown operation {op}"),
    }
}

/// Whether the stanza has `op` (a receipt has no step to annotate it).
fn has_step(op: &str, name: &str) -> bool {
    op != "annotate" || name != "receipt"
}

fn bench(c: &mut Criterion) {
    let profile = profile();
    for (name, encodings) in prepared(&profile) {
        for op in OPS.into_iter().filter(|op| has_step(op, name)) {
            for (encoding, p) in &encodings {
                c.bench_function(&format!("{encoding}/{op}/{name}"), |b| {
                    time(b, op, name, p, &profile)
                });
            }
        }
    }
}

/// Runs one case 100,000 times, for an instruction count. Unlike the timed
/// `annotate/presence`, the count includes cloning the decoded stanza.
#[inline(never)]
fn run(p: &Prepared, op: &str, name: &str, profile: &Profile) {
    let mut out = BytesMut::with_capacity(4096);
    for _ in 0..100_000 {
        match op {
            "decode" => drop(black_box(
                p.codec.decode(black_box(p.frame.clone())).unwrap(),
            )),
            "encode_unmodified" | "encode_modified" => {
                let s = if op == "encode_unmodified" {
                    &p.received
                } else {
                    &p.modified
                };
                out.clear();
                p.codec.encode(black_box(s), &mut out).unwrap();
                black_box(&out);
            }
            _ => match name {
                "presence" => {
                    let mut s = p.received.clone();
                    black_box(presence_caps::annotate(&mut s, profile));
                }
                "message" => {
                    black_box(unsupported::unsupported_kind(p.received.node(), profile));
                }
                _ => {
                    black_box(disco::answer(&p.received, profile));
                }
            },
        }
    }
}

fn count_instructions(case: &str) {
    let profile = profile();
    let mut parts = case.splitn(3, '/');
    let (Some(encoding), Some(op), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("BINARY_CALLGRIND=ENCODING/OP/STANZA");
    };
    assert!(
        OPS.contains(&op) && has_step(op, name),
        "unknown case {case}"
    );
    let (name, encodings) = prepared(&profile)
        .into_iter()
        .find(|(n, _)| *n == name)
        .expect("a stanza of benches/binary.rs");
    let (_, p) = encodings
        .iter()
        .find(|(e, _)| *e == encoding)
        .expect("binary or xml");
    run(p, op, name, &profile);
}

criterion_group!(benches, bench);

fn main() {
    match std::env::var("BINARY_CALLGRIND") {
        Ok(case) => count_instructions(&case),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
