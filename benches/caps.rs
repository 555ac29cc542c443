//! Cost of the capability layers per stanza, against the same pipeline without them.
//!
//! Each case runs a decoded stanza (with its wire bytes, as the relay has it) through
//! `pipeline::build` of its direction, once with the session's capabilities and once
//! without (`caps: None`), including dropping the result; cloning the input is outside
//! the measurement. The metrics recorder is installed, as in production. The ratios
//! `with / without` are what to read:
//!
//! - `presence` (to server): gets the `<c>` element, so it is re-serialized later;
//! - `message` (to client): a supported kind, checked and passed on untouched;
//! - `message_unsupported` (to client): annotated;
//! - `receipt` (to client): no layer looks past its kind, the pure pass-through;
//! - `iq` (to client, not a disco query for this node): inspected, then passed on.
//!
//! Run: `cargo bench --bench caps`.
//!
//! Timings on a shared machine move by ±10 % between runs, more than the pass-through
//! difference; instruction counts do not. `CAPS_CALLGRIND=receipt/with` (any case and
//! variant) makes the binary run that case 100,000 times and exit, for callgrind:
//!
//! ```text
//! cargo bench --bench caps --no-run   # prints the executable's path
//! CAPS_CALLGRIND=receipt/with valgrind --tool=callgrind --toggle-collect='caps::run' PATH
//! ```

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{black_box, criterion_group, BatchSize, Criterion};

use interop_proxy::caps::{file, Caps, SessionCaps};
use interop_proxy::config::Unsupported;
use interop_proxy::metrics::Direction;
use interop_proxy::pipeline::{self, count::Count, Pipeline, SessionInfo, Step};
use interop_proxy::stanza::{Stanza, StanzaCodec, XmlCodec};

const CAPS: &str = include_str!("../config/capabilities.toml");

fn session_caps() -> SessionCaps {
    let caps = Caps::new(
        file::parse(CAPS, "capabilities.toml").expect("example file loads"),
        Unsupported::Annotate,
        None,
    );
    SessionCaps {
        profile: Arc::clone(caps.profile("default").expect("default profile")),
        unsupported: Unsupported::Annotate,
    }
}

fn decode(xml: &str) -> Stanza {
    let mut frame = vec![0u8];
    frame.extend_from_slice(xml.as_bytes());
    XmlCodec::default()
        .decode(Bytes::from(frame))
        .expect("valid stanza")
}

#[inline(never)]
fn run(chain: &mut Pipeline, stanza: Stanza) {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(chain.poll_ready(&mut cx).is_ready(), "always ready");
    black_box(chain.handle(stanza).expect("no step ends the session"));
}

/// `(name, direction, stanza)` of every case.
fn cases() -> [(&'static str, Direction, String); 5] {
    let enc = "A".repeat(1024);
    [
        (
            "presence",
            Direction::ToServer,
            r#"<presence type="available" name="Alice"><status>here</status></presence>"#
                .to_string(),
        ),
        (
            "message",
            Direction::ToClient,
            format!(
                r#"<message from="2@s.whatsapp.net" id="3EB0A1B2C3D4" type="text" t="1700000000"><meta x="1"/><enc v="2" type="msg">{enc}</enc></message>"#
            ),
        ),
        (
            "message_unsupported",
            Direction::ToClient,
            format!(
                r#"<message from="2@s.whatsapp.net" id="3EB0A1B2C3D4" type="media" t="1700000000"><enc v="2" type="msg" mediatype="video">{enc}</enc></message>"#
            ),
        ),
        (
            "receipt",
            Direction::ToClient,
            r#"<receipt from="2@s.whatsapp.net" id="3EB0A1B2C3D4" t="1700000000"/>"#.to_string(),
        ),
        (
            "iq",
            Direction::ToClient,
            r#"<iq from="s.whatsapp.net" id="42" type="get" xmlns="w:p"><ping/></iq>"#.to_string(),
        ),
    ]
}

/// The session's chain, or the counting step alone.
fn pipeline(direction: Direction, variant: &str) -> Pipeline {
    if variant == "with" {
        pipeline::build(&SessionInfo {
            direction,
            caps: session_caps(),
        })
    } else {
        let count: Box<dyn Step> = Box::new(Count::new(direction));
        Pipeline::new([Some(count)])
    }
}

fn bench(c: &mut Criterion) {
    interop_proxy::metrics::install();
    let mut group = c.benchmark_group("caps");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, direction, xml) in cases() {
        let stanza = decode(&xml);
        for variant in ["without", "with"] {
            let mut svc = pipeline(direction, variant);
            group.bench_function(format!("{name}/{variant}"), |b| {
                b.iter_batched(
                    || stanza.clone(),
                    |s| run(&mut svc, s),
                    BatchSize::SmallInput,
                )
            });
        }
    }
    group.finish();
}

/// Runs one case for an instruction count instead of timing it.
fn count_instructions(case: &str) {
    interop_proxy::metrics::install();
    let (name, variant) = case
        .split_once('/')
        .expect("CAPS_CALLGRIND=CASE/with|without");
    let (_, direction, xml) = cases()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .expect("a case of benches/caps.rs");
    let stanza = decode(&xml);
    let mut svc = pipeline(direction, variant);
    for _ in 0..100_000 {
        run(&mut svc, stanza.clone());
    }
}

criterion_group!(benches, bench);

fn main() {
    match std::env::var("CAPS_CALLGRIND") {
        Ok(case) => count_instructions(&case),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
