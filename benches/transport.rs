//! The transport cipher: encrypt then decrypt one 600-byte frame, per backend.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use interop_proxy::noise::{Backend, Initiator, Keypair, Responder, TransportState};

const PROLOGUE: [u8; 4] = *b"WA\x06\x03";

/// An established pair of transports (XX) with `backend`.
fn pair(backend: Backend) -> (TransportState, TransportState) {
    let mut init = Initiator::new(PROLOGUE, Keypair::generate(), None).with_backend(backend);
    let mut resp = Responder::new(PROLOGUE, Keypair::generate()).with_backend(backend);
    let hello = init.client_hello(b"").unwrap();
    resp.read_client_hello(&hello).unwrap();
    let sh = resp.server_hello(b"chain").unwrap();
    init.read_server_hello(&sh).unwrap();
    let fin = init.client_finish(b"payload").unwrap().unwrap();
    resp.read_client_finish(&fin).unwrap();
    (
        init.into_transport().unwrap(),
        resp.into_transport().unwrap(),
    )
}

fn transport(c: &mut Criterion) {
    let plain = vec![0x5au8; 600];
    let mut group = c.benchmark_group("transport");
    group.throughput(Throughput::Bytes(plain.len() as u64));
    for (backend, name) in [(Backend::Ring, "ring"), (Backend::Snow, "snow")] {
        let (mut a, mut b) = pair(backend);
        let mut out = BytesMut::with_capacity(1024);
        group.bench_function(format!("encrypt+decrypt 600 B [{name}]"), |bench| {
            bench.iter(|| {
                out.clear();
                a.send.encrypt(&plain, &mut out).unwrap();
                let n = b.recv.decrypt_in_place(&mut out).unwrap();
                assert_eq!(n, plain.len());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, transport);
criterion_main!(benches);
