//! The stanza codec on a ~600-byte `<message>` with a 300-byte `<enc>`: parse, annotate
//! (the presence caps child and the unsupported-content child), write.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use interop_proxy::stanza::{Element, Stanza, StanzaCodec, XmlCodec};

fn message_frame() -> Bytes {
    let enc = "A".repeat(300);
    let body = format!(
        "<message from=\"4915112345678@s.whatsapp.net\" id=\"3EB0C431E2A1B4C5D6E7\" \
         type=\"text\" t=\"1718000000\" notify=\"A benchmark user with a long name\" \
         addressing_mode=\"pn\"><enc v=\"2\" type=\"pkmsg\" mediatype=\"image\">{enc}</enc>\
         <device-identity>{}</device-identity><meta decrypt-fail=\"hide\"/></message>",
        "B".repeat(80)
    );
    let mut frame = vec![0u8];
    frame.extend_from_slice(body.as_bytes());
    Bytes::from(frame)
}

fn presence_frame() -> Bytes {
    Bytes::from_static(
        b"\0<presence type=\"available\" name=\"Someone\"><c xmlns=\"http://jabber.org/protocol/caps\" hash=\"sha-1\" node=\"old\" ver=\"x\"/></presence>",
    )
}

fn stanza(c: &mut Criterion) {
    let codec = XmlCodec::default();
    let message = message_frame();
    let presence = presence_frame();
    let mut group = c.benchmark_group("stanza");
    group.throughput(Throughput::Bytes(message.len() as u64));
    group.bench_function("parse message 600 B", |b| {
        b.iter(|| codec.decode(message.clone()).unwrap())
    });
    let parsed = codec.decode(message.clone()).unwrap();
    let mut out = BytesMut::with_capacity(2048);
    group.bench_function("write unmodified message", |b| {
        b.iter(|| {
            out.clear();
            codec.encode(&parsed, &mut out);
        })
    });
    group.bench_function("parse+annotate+write message (unsupported child)", |b| {
        b.iter(|| {
            let mut s: Stanza = codec.decode(message.clone()).unwrap();
            s.root_mut().push_child(
                Element::new("unsupported")
                    .with_attr("xmlns", "urn:interop:caps")
                    .with_attr("kind", "image"),
            );
            out.clear();
            codec.encode(&s, &mut out);
        })
    });
    group.bench_function("parse+annotate+write presence (caps child)", |b| {
        b.iter(|| {
            let mut s: Stanza = codec.decode(presence.clone()).unwrap();
            s.root_mut().retain_children(|c| {
                c.attr("xmlns").as_deref() != Some("http://jabber.org/protocol/caps")
            });
            s.root_mut().push_child(
                Element::new("c")
                    .with_attr("xmlns", "http://jabber.org/protocol/caps")
                    .with_attr("hash", "sha-1")
                    .with_attr("node", "https://provider.example/interop")
                    .with_attr("ver", "QgayPKawpkPSDYmwT/WM94uAlu0="),
            );
            out.clear();
            codec.encode(&s, &mut out);
        })
    });
    group.finish();
}

criterion_group!(benches, stanza);
criterion_main!(benches);
