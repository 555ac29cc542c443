//! The primitives' own speed on one core, through snow's resolvers (the ones the proxy's
//! `noise::symmetric::Backend` chooses between) and AWS-LC's X25519: key generations
//! and DH operations per second, AES-256-GCM bytes per second.

use std::time::{Duration, Instant};

use rand::RngCore;
use snow::params::{CipherChoice, DHChoice};
use snow::resolvers::{CryptoResolver, DefaultResolver, RingResolver};

use interop_proxy::noise::{x25519, Initiator, Keypair, Responder};

/// One resolver's figures; `None` where the resolver lacks the primitive.
#[derive(Clone, Debug, Default)]
pub struct Speeds {
    /// Resolver name.
    pub resolver: &'static str,
    /// X25519 key generations (fixed-base scalar multiplication) per second.
    pub x25519_keygen_per_s: Option<f64>,
    /// X25519 DH operations (variable-base) per second.
    pub x25519_dh_per_s: Option<f64>,
    /// AES-256-GCM encryption of 600-byte frames, bytes per second.
    pub aesgcm_600_bytes_per_s: Option<f64>,
    /// AES-256-GCM decryption of 600-byte frames, bytes per second.
    pub aesgcm_600_decrypt_bytes_per_s: Option<f64>,
    /// AES-256-GCM encryption of 16 KiB frames, bytes per second.
    pub aesgcm_16k_bytes_per_s: Option<f64>,
}

/// Measures every resolver for about `each` per figure.
pub fn measure(each: Duration) -> Vec<Speeds> {
    vec![
        speeds("snow-default (RustCrypto)", &DefaultResolver, each),
        speeds("ring", &RingResolver, each),
        aws_lc_x25519(each),
    ]
}

/// AWS-LC's X25519, which the proxy's handshakes use (`noise::x25519`); it is not a
/// snow resolver, so it is measured through the proxy's own calls.
fn aws_lc_x25519(each: Duration) -> Speeds {
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let remote = x25519::public_key(&[0x42; 32]);
    Speeds {
        resolver: "aws-lc",
        x25519_keygen_per_s: Some(rate(each, || {
            secret[0] = secret[0].wrapping_add(1);
            std::hint::black_box(x25519::public_key(&secret));
        })),
        x25519_dh_per_s: Some(rate(each, || {
            std::hint::black_box(x25519::dh(&secret, &remote));
        })),
        ..Speeds::default()
    }
}

fn speeds(name: &'static str, resolver: &dyn CryptoResolver, each: Duration) -> Speeds {
    let mut out = Speeds {
        resolver: name,
        ..Speeds::default()
    };
    if let (Some(mut dh), Some(mut rng)) = (
        resolver.resolve_dh(&DHChoice::Curve25519),
        DefaultResolver.resolve_rng(),
    ) {
        out.x25519_keygen_per_s = Some(rate(each, || {
            dh.generate(rng.as_mut()).expect("keygen");
        }));
        let mut peer = resolver.resolve_dh(&DHChoice::Curve25519).expect("dh");
        peer.generate(rng.as_mut()).expect("keygen");
        let remote = peer.pubkey().to_vec();
        let mut shared = [0u8; 32];
        out.x25519_dh_per_s = Some(rate(each, || {
            dh.dh(&remote, &mut shared).expect("dh");
            std::hint::black_box(&shared);
        }));
    }
    if let Some(mut cipher) = resolver.resolve_cipher(&CipherChoice::AESGCM) {
        cipher.set(&[7u8; 32]);
        for (size, slot) in [(600usize, 0), (16 * 1024, 1)] {
            let plain = vec![0x5au8; size];
            let mut sealed = vec![0u8; size + 16];
            let mut n = 0u64;
            let ops = rate(each, || {
                cipher.encrypt(n, &[], &plain, &mut sealed);
                n += 1;
                std::hint::black_box(&sealed);
            });
            let bytes = ops * size as f64;
            if slot == 0 {
                out.aesgcm_600_bytes_per_s = Some(bytes);
                cipher.encrypt(0, &[], &plain, &mut sealed);
                let mut opened = vec![0u8; size];
                let ops = rate(each, || {
                    cipher
                        .decrypt(0, &[], &sealed, &mut opened)
                        .expect("authentic");
                    std::hint::black_box(&opened);
                });
                out.aesgcm_600_decrypt_bytes_per_s = Some(ops * size as f64);
            } else {
                out.aesgcm_16k_bytes_per_s = Some(bytes);
            }
        }
    }
    out
}

/// Calls `f` repeatedly for about `each`; returns calls per second.
fn rate(each: Duration, mut f: impl FnMut()) -> f64 {
    // Warm caches and branch predictors first.
    for _ in 0..16 {
        f();
    }
    let started = Instant::now();
    let mut calls = 0u64;
    let mut batch = 16u64;
    loop {
        for _ in 0..batch {
            f();
        }
        calls += batch;
        let elapsed = started.elapsed();
        if elapsed >= each {
            return calls as f64 / elapsed.as_secs_f64();
        }
        batch = (batch * 2).min(4096);
    }
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (nanoseconds on
/// the CPU), so that a measurement is not stretched by the time other processes of a
/// shared machine took the core.
pub fn thread_cpu() -> anyhow::Result<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").map_err(|e| {
        anyhow::anyhow!("reading /proc/thread-self/schedstat (CONFIG_SCHEDSTATS): {e}")
    })?;
    let ns: u64 = text
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/thread-self/schedstat: {text:?}"))?;
    Ok(Duration::from_nanos(ns))
}

/// The X25519 operations of a handshake in thread CPU time, with the implementation the
/// proxy's handshakes use.
#[derive(Clone, Copy, Debug)]
pub struct X25519Cost {
    /// One DH (variable-base multiplication), µs.
    pub dh_us: f64,
    /// One key generation (fixed-base multiplication), µs.
    pub keygen_us: f64,
}

impl X25519Cost {
    /// `dh` DH operations and `keygen` key generations, µs.
    pub fn floor(&self, dh: u32, keygen: u32) -> f64 {
        f64::from(dh) * self.dh_us + f64::from(keygen) * self.keygen_us
    }
}

/// Measures [`X25519Cost`] over about `each` of thread CPU time per operation.
pub fn x25519_thread_cpu(each: Duration) -> anyhow::Result<X25519Cost> {
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let remote = x25519::public_key(&[0x42; 32]);
    let keygen_us = cpu_per_call(each, || {
        secret[0] = secret[0].wrapping_add(1);
        std::hint::black_box(x25519::public_key(&secret));
    })?;
    let dh_us = cpu_per_call(each, || {
        std::hint::black_box(x25519::dh(&secret, &remote));
    })?;
    Ok(X25519Cost { dh_us, keygen_us })
}

/// Calls `f` until it has used about `each` of this thread's CPU; µs of CPU per call.
fn cpu_per_call(each: Duration, mut f: impl FnMut()) -> anyhow::Result<f64> {
    for _ in 0..16 {
        f();
    }
    let start = thread_cpu()?;
    let mut calls = 0u64;
    loop {
        for _ in 0..64 {
            f();
        }
        calls += 64;
        let used = thread_cpu()? - start;
        if used >= each {
            return Ok(used.as_secs_f64() * 1e6 / calls as f64);
        }
    }
}

/// One whole transcript in this thread, both roles, with the proxy's own handshake code:
/// XX, or IK when `ik`. Returns nothing; the caller times it.
fn transcript(ik: bool, client: &Keypair, server: &Keypair) -> anyhow::Result<()> {
    let prologue = *b"WA\x06\x03";
    let pin = ik.then_some(server.public);
    let mut init = Initiator::new(prologue, client.clone(), pin);
    let mut resp = Responder::new(prologue, server.clone());
    let hello = init.client_hello(b"payload")?;
    resp.read_client_hello(&hello)?;
    let server_hello = resp.server_hello(if ik { b"" } else { b"chain" })?;
    init.read_server_hello(&server_hello)?;
    if let Some(finish) = init.client_finish(b"payload")? {
        resp.read_client_finish(&finish)?;
    }
    std::hint::black_box((init.into_transport()?, resp.into_transport()?));
    Ok(())
}

/// The proxy's handshake work for one login with no sockets, in thread CPU µs: its
/// client-leg responder (XX, or IK when `ik`), its upstream IK initiator and the
/// derivation of the device's upstream key. Each transcript is split evenly between its
/// two roles (the same operations on each side), so the proxy's share is half of a
/// client-leg transcript plus half of an IK one plus one key generation. What a login
/// costs in situ beyond this is what sockets, the runtime and the second connection
/// add: the part of the login the proxy's I/O path controls.
pub fn proxy_handshake_thread_cpu(
    each: Duration,
    ik: bool,
    cost: &X25519Cost,
) -> anyhow::Result<f64> {
    let (client, server) = (Keypair::generate(), Keypair::generate());
    let mut failed = None;
    let mut run = |pattern_ik: bool| {
        cpu_per_call(each, || {
            if let Err(e) = transcript(pattern_ik, &client, &server) {
                failed.get_or_insert(e);
            }
        })
    };
    let client_leg = run(ik)?;
    let upstream = run(true)?;
    if let Some(e) = failed {
        return Err(e.context("an in-process transcript failed"));
    }
    Ok(client_leg / 2.0 + upstream / 2.0 + cost.keygen_us)
}
