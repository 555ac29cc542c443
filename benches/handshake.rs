//! Whole handshake transcripts, initiator and responder in one thread: XX, IK and
//! XXfallback (an IK ClientHello pinned to the wrong key), each with both backends.

use criterion::{criterion_group, criterion_main, Criterion};
use interop_proxy::noise::{Backend, Initiator, Keypair, Pattern, Responder};

const PROLOGUE: [u8; 4] = *b"WA\x06\x03";

/// One full transcript; `pin` is the key the initiator pins (IK), if any.
fn transcript(
    backend: Backend,
    client: &Keypair,
    server: &Keypair,
    pin: Option<[u8; 32]>,
    chain: &[u8],
    payload: &[u8],
) -> Pattern {
    let mut init = Initiator::new(PROLOGUE, client.clone(), pin).with_backend(backend);
    let mut resp = Responder::new(PROLOGUE, server.clone()).with_backend(backend);
    let hello = init.client_hello(payload).expect("hello");
    let ik = resp.read_client_hello(&hello).expect("read hello");
    let server_payload: &[u8] = if resp.pattern() == Pattern::Ik {
        &[]
    } else {
        chain
    };
    let server_hello = resp.server_hello(server_payload).expect("server hello");
    init.read_server_hello(&server_hello)
        .expect("read server hello");
    if ik.is_none() {
        let finish = init
            .client_finish(payload)
            .expect("finish")
            .expect("third message");
        resp.read_client_finish(&finish).expect("read finish");
    }
    let pattern = init.pattern();
    std::hint::black_box((
        init.into_transport().expect("transport"),
        resp.into_transport().expect("transport"),
    ));
    pattern
}

fn handshakes(c: &mut Criterion) {
    let client = Keypair::generate();
    let server = Keypair::generate();
    let wrong = Keypair::generate();
    let chain = vec![0x11u8; 260];
    let payload = vec![0x22u8; 120];
    let mut group = c.benchmark_group("handshake");
    for (backend, name) in [(Backend::Ring, "ring"), (Backend::Snow, "snow")] {
        for (label, pin, want) in [
            ("xx", None, Pattern::Xx),
            ("ik", Some(server.public), Pattern::Ik),
            ("xx_fallback", Some(wrong.public), Pattern::XxFallback),
        ] {
            assert_eq!(
                transcript(backend, &client, &server, pin, &chain, &payload),
                want
            );
            group.bench_function(format!("{label} initiator+responder [{name}]"), |b| {
                b.iter(|| transcript(backend, &client, &server, pin, &chain, &payload))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, handshakes);
criterion_main!(benches);
