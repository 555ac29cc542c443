//! The pipeline: one stanza through the counting step, a parsed 600-byte `<message>`,
//! with the Prometheus recorder installed as in the proxy; and building a session's
//! whole chain.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use interop_proxy::caps::{file, Caps, SessionCaps};
use interop_proxy::config::Unsupported;
use interop_proxy::metrics::Direction;
use interop_proxy::pipeline::{self, count::Count, Pipeline, SessionInfo, Step};
use interop_proxy::stanza::{StanzaCodec, XmlCodec};
use std::sync::Arc;

fn pipeline(c: &mut Criterion) {
    let _handle = interop_proxy::metrics::install();
    let codec = XmlCodec::default();
    let body = format!(
        "\0<message from=\"4915112345678@s.whatsapp.net\" id=\"3EB0C431E2A1B4C5D6E7\" type=\"text\"><enc v=\"2\" type=\"msg\">{}</enc></message>",
        "A".repeat(300)
    );
    let stanza = codec.decode(Bytes::from(body)).unwrap();
    let caps = Caps::new(
        file::parse(
            include_str!("../config/capabilities.toml"),
            "capabilities.toml",
        )
        .expect("example file loads"),
        Unsupported::Annotate,
        None,
    );
    let info = SessionInfo {
        direction: Direction::ToClient,
        caps: SessionCaps {
            profile: Arc::clone(caps.profile("default").expect("default profile")),
            unsupported: Unsupported::Annotate,
        },
    };
    let mut group = c.benchmark_group("pipeline");
    group.bench_function("build (one direction)", |b| {
        b.iter(|| pipeline::build(&info))
    });
    // The counting step alone; benches/caps.rs measures the capability steps.
    let count: Box<dyn Step> = Box::new(Count::new(Direction::ToClient));
    let mut chain = Pipeline::new([Some(count)]);
    group.bench_function("ready+handle on a message", |b| {
        b.iter(|| {
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            assert!(chain.poll_ready(&mut cx).is_ready());
            let routed = chain.handle(stanza.clone()).unwrap();
            assert!(routed.forward.is_some());
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
