//! Decode + encode cost per stanza, the stanza share of the per-core throughput budget.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use interop_proxy::stanza::{Element, StanzaCodec, XmlCodec};

/// A ~600-byte `<message>` whose `<enc>` carries 300 bytes of base64.
fn message_frame() -> Bytes {
    let enc: String = (0..300)
        .map(|i| {
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i * 7 % 64] as char
        })
        .collect();
    let body = format!(
        "<message to=\"4915112345678@s.whatsapp.net\" type=\"text\" id=\"3EB0C767D26F2A5C5E8A\" \
         t=\"1700000000\" participant=\"4915187654321:3@s.whatsapp.net\"><enc v=\"2\" type=\"msg\" \
         mediatype=\"image\">{enc}</enc><device-identity>CMnW2OIEEM3l7qoGGAEiIMqC0p4bZ8C0NnpW</device-identity>\
         <meta appdata=\"default\"/><reporting><reporting_tag>AQDJ3s5mVrGk</reporting_tag></reporting></message>"
    );
    let mut v = vec![0u8];
    v.extend_from_slice(body.as_bytes());
    Bytes::from(v)
}

fn presence_frame() -> Bytes {
    Bytes::from_static(b"\x00<presence type=\"available\" name=\"Alice\"/>")
}

fn bench(c: &mut Criterion) {
    let codec = XmlCodec::default();
    let message = message_frame();
    let presence = presence_frame();
    let mut out = BytesMut::with_capacity(4096);

    let mut g = c.benchmark_group("stanza");
    g.throughput(Throughput::Elements(1));
    g.bench_function(
        format!("message_{}B_decode_encode", message.len() - 1),
        |b| {
            b.iter(|| {
                out.clear();
                let s = codec.decode(black_box(message.clone())).unwrap();
                codec.encode(&s, &mut out).unwrap();
                black_box(&out);
            })
        },
    );
    g.bench_function("presence_decode_encode", |b| {
        b.iter(|| {
            out.clear();
            let s = codec.decode(black_box(presence.clone())).unwrap();
            codec.encode(&s, &mut out).unwrap();
            black_box(&out);
        })
    });
    g.bench_function("message_annotated_decode_encode", |b| {
        b.iter(|| {
            out.clear();
            let mut s = codec.decode(black_box(message.clone())).unwrap();
            let root = s.root_mut();
            root.set_attr("x-interop", "provider.example");
            root.push_child(Element::new("interop").with_attr("origin", "third-party"));
            codec.encode(&s, &mut out).unwrap();
            black_box(&out);
        })
    });
    g.bench_function("message_decode_only", |b| {
        b.iter(|| black_box(codec.decode(black_box(message.clone())).unwrap()))
    });
    // The floor: quick-xml's tokenizer alone, no validation and no tree.
    g.bench_function("baseline_quick_xml_tokenize_message", |b| {
        let body = message.slice(1..);
        b.iter(|| {
            let mut r = quick_xml::Reader::from_reader(&body[..]);
            let mut n = 0usize;
            loop {
                match r.read_event().unwrap() {
                    quick_xml::events::Event::Eof => break,
                    e => n += e.len(),
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
