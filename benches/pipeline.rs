//! The tower pipeline: one `call` on a parsed 600-byte `<message>`, with the Prometheus
//! recorder installed as in the proxy; and building a session's pipeline.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use futures::FutureExt;
use interop_proxy::metrics::Direction;
use interop_proxy::pipeline::{self, SessionInfo};
use interop_proxy::stanza::{StanzaCodec, XmlCodec};
use tower::{Service, ServiceExt};

fn pipeline(c: &mut Criterion) {
    let _handle = interop_proxy::metrics::install();
    let codec = XmlCodec::default();
    let body = format!(
        "\0<message from=\"4915112345678@s.whatsapp.net\" id=\"3EB0C431E2A1B4C5D6E7\" type=\"text\"><enc v=\"2\" type=\"msg\">{}</enc></message>",
        "A".repeat(300)
    );
    let stanza = codec.decode(Bytes::from(body)).unwrap();
    // Without the capability layers; benches/caps.rs measures them.
    let info = SessionInfo {
        direction: Direction::ToClient,
        caps: None,
    };
    let mut group = c.benchmark_group("pipeline");
    group.bench_function("build (one direction)", |b| {
        b.iter(|| pipeline::build(&info))
    });
    let mut service = pipeline::build(&info);
    group.bench_function("ready+call on a message", |b| {
        b.iter(|| {
            let svc = service.ready().now_or_never().unwrap().unwrap();
            let routed = svc.call(stanza.clone()).now_or_never().unwrap().unwrap();
            assert!(routed.forward.is_some());
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
