//! The u24 frame codec: framing and unframing 600-byte frames.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use interop_proxy::frame::{decode_frame, put_header, MAX_FRAME_LIMIT};

const BODY: usize = 600;
const FRAMES: usize = 64;

fn codec(c: &mut Criterion) {
    let body = vec![0x5au8; BODY];
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("encode 64 x 600 B frames", |b| {
        let mut out = BytesMut::with_capacity(FRAMES * (BODY + 3));
        b.iter(|| {
            out.clear();
            for _ in 0..FRAMES {
                put_header(&mut out, body.len());
                out.extend_from_slice(&body);
            }
            std::hint::black_box(&out);
        })
    });
    let mut wire = BytesMut::new();
    for _ in 0..FRAMES {
        put_header(&mut wire, body.len());
        wire.extend_from_slice(&body);
    }
    group.bench_function("decode 64 x 600 B frames", |b| {
        b.iter(|| {
            let mut buf = wire.clone();
            let mut n = 0;
            while let Ok(Ok(frame)) = decode_frame(&mut buf, MAX_FRAME_LIMIT) {
                n += frame.len();
            }
            assert_eq!(n, FRAMES * BODY);
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
