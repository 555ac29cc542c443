use super::*;
use crate::noise::keys::SecretKey;
use crate::wa_proto::{HandshakeMessage, NoiseCertificate};
use bytes::BytesMut;
use prost::Message;

const PROLOGUE: [u8; 4] = [0x57, 0x41, 0x06, 0x03];

fn kp(seed: u8) -> Keypair {
    Keypair::from_secret(SecretKey::from_bytes([seed; 32]))
}

fn kp_hex(hex_str: &str) -> Keypair {
    let bytes: [u8; 32] = hex::decode(hex_str).unwrap().try_into().unwrap();
    Keypair::from_secret(SecretKey::from_bytes(bytes))
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// ---- 1. Known answers from a real WhatsApp server ----

struct Kat {
    prologue: [u8; 4],
    client_static: Keypair,
    client_ephemeral: Keypair,
    server_hello: ServerHello,
    server_static: [u8; 32],
    details: Vec<u8>,
}

fn kat() -> Kat {
    let json: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/data/wa-known-answers.json")).unwrap();
    let hex_field = |name: &str| hex::decode(json[name].as_str().unwrap()).unwrap();
    let client_static = kp_hex(json["client_static_private_hex"].as_str().unwrap());
    let client_ephemeral = kp_hex(json["client_ephemeral_private_hex"].as_str().unwrap());
    assert_eq!(
        client_static.public.to_vec(),
        hex_field("client_static_public_hex")
    );
    assert_eq!(
        client_ephemeral.public.to_vec(),
        hex_field("client_ephemeral_public_hex")
    );
    let message =
        HandshakeMessage::decode(hex_field("server_hello_handshake_message_hex").as_slice())
            .unwrap();
    Kat {
        prologue: hex_field("prologue_hex").try_into().unwrap(),
        client_static,
        client_ephemeral,
        server_hello: message.server_hello.unwrap(),
        server_static: hex_field("expected_server_static_hex").try_into().unwrap(),
        details: hex::decode(
            json["expected_certificate"]["details_hex"]
                .as_str()
                .unwrap(),
        )
        .unwrap(),
    }
}

#[test]
fn whatsapp_xx_decrypts_a_real_server_hello() {
    for backend in [Backend::Ring, Backend::Snow] {
        let k = kat();
        let mut init = Initiator::new(k.prologue, k.client_static, None)
            .with_ephemeral(k.client_ephemeral)
            .with_backend(backend);
        let hello = init.client_hello(b"ignored in XX").unwrap();
        assert_eq!(hello.r#static, None);
        assert_eq!(hello.payload, None);
        let payload = init.read_server_hello(&k.server_hello).unwrap();
        assert_eq!(init.pattern(), Pattern::Xx);
        assert_eq!(init.remote_static(), Some(k.server_static));
        let cert = NoiseCertificate::decode(payload.as_slice()).unwrap();
        assert_eq!(cert.details, Some(k.details));
        // The client can go on to its finish message.
        assert!(init.client_finish(b"client payload").unwrap().is_some());
        assert!(init.into_transport().is_ok());
    }
}

#[test]
fn standard_dialect_fails_on_a_real_server_hello() {
    let k = kat();
    let mut init = Initiator::new(k.prologue, k.client_static, None)
        .with_ephemeral(k.client_ephemeral)
        .with_dialect(Dialect::Standard);
    init.client_hello(&[]).unwrap();
    assert!(matches!(
        init.read_server_hello(&k.server_hello),
        Err(NoiseError::Decrypt)
    ));
    assert_eq!(init.remote_static(), None);
}

// ---- 2. Against snow's HandshakeState ----

fn snow_builder(name: &str, local: &Keypair) -> snow::Builder<'static> {
    let local = Box::leak(Box::new(*local.secret.expose()));
    snow::Builder::new(name.parse().unwrap())
        .local_private_key(local)
        .unwrap()
        .prologue(&PROLOGUE)
        .unwrap()
}

/// Transport both ways, several frames each, so both keys and both counters are checked.
fn exchange_with_snow(ours: &mut TransportState, theirs: &mut snow::TransportState) {
    let mut buf = [0u8; 256];
    for i in 0..3u8 {
        let msg = [i; 40];
        let mut out = BytesMut::new();
        ours.send.encrypt(&msg, &mut out).unwrap();
        let n = theirs.read_message(&out, &mut buf).unwrap();
        assert_eq!(&buf[..n], &msg);

        let reply = [i ^ 0xff; 7];
        let len = theirs.write_message(&reply, &mut buf).unwrap();
        let mut frame = buf[..len].to_vec();
        let n = ours.recv.decrypt_in_place(&mut frame).unwrap();
        assert_eq!(&frame[..n], &reply);
    }
    assert_eq!(ours.send.counter(), 3);
    assert_eq!(ours.recv.counter(), 3);
}

#[test]
fn ik_initiator_against_snow_responder() {
    for backend in [Backend::Ring, Backend::Snow] {
        let (cs, ss) = (kp(1), kp(2));
        let mut snow_r = snow_builder("Noise_IK_25519_AESGCM_SHA256", &ss)
            .build_responder()
            .unwrap();
        let mut init = Initiator::new(PROLOGUE, cs.clone(), Some(ss.public)).with_backend(backend);
        let mut buf = [0u8; 1024];

        let ch = init.client_hello(b"client payload").unwrap();
        let raw = cat(&[
            ch.ephemeral.as_deref().unwrap(),
            ch.r#static.as_deref().unwrap(),
            ch.payload.as_deref().unwrap(),
        ]);
        let n = snow_r.read_message(&raw, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"client payload");
        assert_eq!(snow_r.get_remote_static(), Some(&cs.public[..]));

        let len = snow_r.write_message(&[], &mut buf).unwrap();
        assert_eq!(len, 32 + 16);
        let sh = ServerHello {
            ephemeral: Some(buf[..32].to_vec()),
            r#static: None,
            payload: Some(buf[32..len].to_vec()),
        };
        assert_eq!(init.read_server_hello(&sh).unwrap(), b"");
        assert_eq!(init.pattern(), Pattern::Ik);
        assert_eq!(init.remote_static(), Some(ss.public));
        assert_eq!(init.client_finish(b"x").unwrap(), None);
        assert_eq!(
            init.handshake_hash().unwrap().as_slice(),
            snow_r.get_handshake_hash()
        );
        let mut ours = init.into_transport().unwrap();
        let mut theirs = snow_r.into_transport_mode().unwrap();
        exchange_with_snow(&mut ours, &mut theirs);
    }
}

#[test]
fn snow_ik_initiator_against_our_responder() {
    let (cs, ss) = (kp(3), kp(4));
    let mut snow_i = snow_builder("Noise_IK_25519_AESGCM_SHA256", &cs)
        .remote_public_key(&ss.public)
        .unwrap()
        .build_initiator()
        .unwrap();
    let mut resp = Responder::new(PROLOGUE, ss);
    let mut buf = [0u8; 1024];

    let len = snow_i.write_message(b"client payload", &mut buf).unwrap();
    let ch = ClientHello {
        ephemeral: Some(buf[..32].to_vec()),
        r#static: Some(buf[32..80].to_vec()),
        payload: Some(buf[80..len].to_vec()),
    };
    assert_eq!(
        resp.read_client_hello(&ch).unwrap().as_deref(),
        Some(&b"client payload"[..])
    );
    assert_eq!(resp.pattern(), Pattern::Ik);
    assert_eq!(resp.remote_static(), Some(cs.public));

    let sh = resp.server_hello(&[]).unwrap();
    assert_eq!(sh.r#static, None);
    assert_eq!(sh.payload.as_ref().unwrap().len(), 16);
    let raw = cat(&[
        sh.ephemeral.as_deref().unwrap(),
        sh.payload.as_deref().unwrap(),
    ]);
    assert_eq!(snow_i.read_message(&raw, &mut buf).unwrap(), 0);
    assert!(resp.is_complete());
    assert_eq!(
        resp.handshake_hash().unwrap().as_slice(),
        snow_i.get_handshake_hash()
    );
    let mut ours = resp.into_transport().unwrap();
    let mut theirs = snow_i.into_transport_mode().unwrap();
    exchange_with_snow(&mut ours, &mut theirs);
}

#[test]
fn standard_xx_initiator_against_snow_responder() {
    let (cs, ss) = (kp(5), kp(6));
    let mut snow_r = snow_builder("Noise_XX_25519_AESGCM_SHA256", &ss)
        .build_responder()
        .unwrap();
    let mut init = Initiator::new(PROLOGUE, cs.clone(), None).with_dialect(Dialect::Standard);
    let mut buf = [0u8; 1024];

    let ch = init.client_hello(&[]).unwrap();
    let n = snow_r
        .read_message(ch.ephemeral.as_deref().unwrap(), &mut buf)
        .unwrap();
    assert_eq!(n, 0);

    let len = snow_r.write_message(b"cert chain", &mut buf).unwrap();
    let sh = ServerHello {
        ephemeral: Some(buf[..32].to_vec()),
        r#static: Some(buf[32..80].to_vec()),
        payload: Some(buf[80..len].to_vec()),
    };
    assert_eq!(init.read_server_hello(&sh).unwrap(), b"cert chain");
    assert_eq!(init.remote_static(), Some(ss.public));

    let cf = init.client_finish(b"client payload").unwrap().unwrap();
    let raw = cat(&[
        cf.r#static.as_deref().unwrap(),
        cf.payload.as_deref().unwrap(),
    ]);
    let n = snow_r.read_message(&raw, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"client payload");
    assert_eq!(snow_r.get_remote_static(), Some(&cs.public[..]));
    assert_eq!(
        init.handshake_hash().unwrap().as_slice(),
        snow_r.get_handshake_hash()
    );
    let mut ours = init.into_transport().unwrap();
    let mut theirs = snow_r.into_transport_mode().unwrap();
    exchange_with_snow(&mut ours, &mut theirs);
}

#[test]
fn snow_xx_initiator_against_standard_responder() {
    let (cs, ss) = (kp(7), kp(8));
    let mut snow_i = snow_builder("Noise_XX_25519_AESGCM_SHA256", &cs)
        .build_initiator()
        .unwrap();
    let mut resp = Responder::new(PROLOGUE, ss.clone()).with_dialect(Dialect::Standard);
    let mut buf = [0u8; 1024];

    let len = snow_i.write_message(&[], &mut buf).unwrap();
    assert_eq!(len, 32);
    let ch = ClientHello {
        ephemeral: Some(buf[..32].to_vec()),
        r#static: None,
        payload: None,
    };
    assert_eq!(resp.read_client_hello(&ch).unwrap(), None);
    assert_eq!(resp.pattern(), Pattern::Xx);

    let sh = resp.server_hello(b"cert chain").unwrap();
    let raw = cat(&[
        sh.ephemeral.as_deref().unwrap(),
        sh.r#static.as_deref().unwrap(),
        sh.payload.as_deref().unwrap(),
    ]);
    let n = snow_i.read_message(&raw, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"cert chain");
    assert_eq!(snow_i.get_remote_static(), Some(&ss.public[..]));

    let len = snow_i.write_message(b"client payload", &mut buf).unwrap();
    let cf = ClientFinish {
        r#static: Some(buf[..48].to_vec()),
        payload: Some(buf[48..len].to_vec()),
    };
    assert_eq!(resp.read_client_finish(&cf).unwrap(), b"client payload");
    assert_eq!(resp.remote_static(), Some(cs.public));
    assert_eq!(
        resp.handshake_hash().unwrap().as_slice(),
        snow_i.get_handshake_hash()
    );
    let mut ours = resp.into_transport().unwrap();
    let mut theirs = snow_i.into_transport_mode().unwrap();
    exchange_with_snow(&mut ours, &mut theirs);
}

#[test]
fn whatsapp_xx_differs_from_snow_only_in_the_first_hash() {
    // Our WhatsApp responder must reject what snow's textbook XX initiator sends in
    // message 3, because the transcripts diverged at message 1.
    let (cs, ss) = (kp(9), kp(10));
    let mut snow_i = snow_builder("Noise_XX_25519_AESGCM_SHA256", &cs)
        .build_initiator()
        .unwrap();
    let mut resp = Responder::new(PROLOGUE, ss);
    let mut buf = [0u8; 1024];
    let len = snow_i.write_message(&[], &mut buf).unwrap();
    resp.read_client_hello(&ClientHello {
        ephemeral: Some(buf[..len].to_vec()),
        r#static: None,
        payload: None,
    })
    .unwrap();
    let sh = resp.server_hello(b"cert").unwrap();
    let raw = cat(&[
        sh.ephemeral.as_deref().unwrap(),
        sh.r#static.as_deref().unwrap(),
        sh.payload.as_deref().unwrap(),
    ]);
    assert!(snow_i.read_message(&raw, &mut buf).is_err());
}

// ---- 3. Full transcripts, ours against ours, WhatsApp dialect ----

fn exchange(a: &mut TransportState, b: &mut TransportState, rounds: u64) {
    let before = (a.send.counter(), b.recv.counter());
    fn one(from: &mut TransportState, to: &mut TransportState, msg: &str) {
        let mut out = BytesMut::with_capacity(64);
        from.send.encrypt(msg.as_bytes(), &mut out).unwrap();
        assert_eq!(out.len(), msg.len() + 16);
        assert_ne!(&out[..msg.len()], msg.as_bytes());
        let n = to.recv.decrypt_in_place(&mut out).unwrap();
        assert_eq!(&out[..n], msg.as_bytes());
    }
    for i in 0..rounds {
        one(a, b, &format!("<message id='{i}'/>"));
        one(b, a, &format!("<receipt id='{i}'/>"));
    }
    assert_eq!(a.send.counter(), before.0 + rounds);
    assert_eq!(b.recv.counter(), before.1 + rounds);
    assert_eq!(b.send.counter(), a.recv.counter());
}

struct Done {
    client: TransportState,
    server: TransportState,
}

/// Runs a whole handshake the way the proxy drives it, checking what each side learns.
fn run(pinned: Option<[u8; 32]>, expect: Pattern) -> Done {
    let (cs, ss) = (kp(11), kp(12));
    let mut init = Initiator::new(PROLOGUE, cs.clone(), pinned);
    let mut resp = Responder::new(PROLOGUE, ss.clone());

    let ch = init.client_hello(b"client payload").unwrap();
    let early = resp.read_client_hello(&ch).unwrap();
    assert_eq!(resp.pattern(), expect);
    let server_payload: &[u8] = if expect == Pattern::Ik {
        assert_eq!(early.as_deref(), Some(&b"client payload"[..]));
        b""
    } else {
        assert_eq!(early, None);
        b"cert chain"
    };

    let sh = resp.server_hello(server_payload).unwrap();
    assert_eq!(sh.r#static.is_some(), expect != Pattern::Ik);
    assert_eq!(init.read_server_hello(&sh).unwrap(), server_payload);
    assert_eq!(init.pattern(), expect);
    assert_eq!(init.remote_static(), Some(ss.public));

    match init.client_finish(b"client payload").unwrap() {
        None => assert_eq!(expect, Pattern::Ik),
        Some(cf) => {
            assert_ne!(expect, Pattern::Ik);
            assert!(!resp.is_complete());
            assert_eq!(resp.read_client_finish(&cf).unwrap(), b"client payload");
        }
    }
    assert!(resp.is_complete());
    assert!(init.is_complete());
    assert_eq!(resp.remote_static(), Some(cs.public));
    assert_eq!(init.handshake_hash(), resp.handshake_hash());
    Done {
        client: init.into_transport().unwrap(),
        server: resp.into_transport().unwrap(),
    }
}

#[test]
fn xx_transcript() {
    let mut d = run(None, Pattern::Xx);
    exchange(&mut d.client, &mut d.server, 5);
    exchange(&mut d.server, &mut d.client, 2);
}

#[test]
fn ik_transcript() {
    let mut d = run(Some(kp(12).public), Pattern::Ik);
    exchange(&mut d.client, &mut d.server, 5);
    exchange(&mut d.server, &mut d.client, 2);
}

#[test]
fn xx_fallback_transcript_after_a_wrong_pin() {
    let mut d = run(Some(kp(99).public), Pattern::XxFallback);
    exchange(&mut d.client, &mut d.server, 5);
    exchange(&mut d.server, &mut d.client, 2);
}

#[test]
fn fixed_ephemerals_give_reproducible_messages() {
    let go = || {
        let mut init = Initiator::new(PROLOGUE, kp(1), Some(kp(77).public)).with_ephemeral(kp(21));
        let mut resp = Responder::new(PROLOGUE, kp(2)).with_ephemeral(kp(22));
        let ch = init.client_hello(b"p").unwrap();
        resp.read_client_hello(&ch).unwrap();
        let sh = resp.server_hello(b"c").unwrap();
        init.read_server_hello(&sh).unwrap();
        (ch, sh, init.handshake_hash())
    };
    let (a, b) = (go(), go());
    assert_eq!(a, b);
    assert_eq!(a.0.ephemeral.as_deref(), Some(&kp(21).public[..]));
}

#[test]
fn labels() {
    assert_eq!(Pattern::Xx.label(), "xx");
    assert_eq!(Pattern::Ik.label(), "ik");
    assert_eq!(Pattern::XxFallback.label(), "xx_fallback");
}

// ---- 4. Negative cases ----

/// An XX handshake stopped after the ServerHello, for tampering with message 2 or 3.
fn xx_until_server_hello() -> (Initiator, Responder, ServerHello) {
    let mut init = Initiator::new(PROLOGUE, kp(31), None);
    let mut resp = Responder::new(PROLOGUE, kp(32));
    let ch = init.client_hello(&[]).unwrap();
    resp.read_client_hello(&ch).unwrap();
    let sh = resp.server_hello(b"cert chain").unwrap();
    (init, resp, sh)
}

fn flip(field: &mut Option<Vec<u8>>, at: usize) {
    field.as_mut().unwrap()[at] ^= 0x01;
}

#[test]
fn tampered_server_hello_fails_and_poisons() {
    for (which, at) in [
        ("static", 0),
        ("static", 47),
        ("payload", 3),
        ("ephemeral", 5),
    ] {
        let (mut init, _, mut sh) = xx_until_server_hello();
        match which {
            "static" => flip(&mut sh.r#static, at),
            "payload" => flip(&mut sh.payload, at),
            _ => flip(&mut sh.ephemeral, at),
        }
        assert!(
            matches!(init.read_server_hello(&sh), Err(NoiseError::Decrypt)),
            "{which}"
        );
        assert_eq!(init.remote_static(), None);
        assert!(matches!(
            init.client_finish(&[]),
            Err(NoiseError::WrongState(_))
        ));
        assert!(init.into_transport().is_err());
    }
}

#[test]
fn tampered_client_finish_fails() {
    for which in ["static", "payload"] {
        let (mut init, mut resp, sh) = xx_until_server_hello();
        init.read_server_hello(&sh).unwrap();
        let mut cf = init.client_finish(b"client payload").unwrap().unwrap();
        match which {
            "static" => flip(&mut cf.r#static, 10),
            _ => flip(&mut cf.payload, 0),
        }
        assert!(matches!(
            resp.read_client_finish(&cf),
            Err(NoiseError::Decrypt)
        ));
        assert!(!resp.is_complete());
        assert!(resp.into_transport().is_err());
    }
}

#[test]
fn tampered_ik_server_hello_fails() {
    let ss = kp(42);
    let mut init = Initiator::new(PROLOGUE, kp(41), Some(ss.public));
    let mut resp = Responder::new(PROLOGUE, ss);
    let ch = init.client_hello(b"p").unwrap();
    resp.read_client_hello(&ch).unwrap();
    let mut sh = resp.server_hello(&[]).unwrap();
    flip(&mut sh.payload, 15);
    assert!(matches!(
        init.read_server_hello(&sh),
        Err(NoiseError::Decrypt)
    ));
    assert_eq!(init.remote_static(), None);
}

#[test]
fn tampered_ik_client_hello_falls_back_instead_of_trusting_it() {
    let ss = kp(42);
    let mut init = Initiator::new(PROLOGUE, kp(41), Some(ss.public));
    let mut resp = Responder::new(PROLOGUE, ss);
    let mut ch = init.client_hello(b"p").unwrap();
    flip(&mut ch.payload, 0);
    assert_eq!(resp.read_client_hello(&ch).unwrap(), None);
    assert_eq!(resp.pattern(), Pattern::XxFallback);
    assert_eq!(resp.remote_static(), None);
}

#[test]
fn missing_fields_are_named() {
    let mut resp = Responder::new(PROLOGUE, kp(1));
    assert!(matches!(
        resp.read_client_hello(&ClientHello::default()),
        Err(NoiseError::MissingField("ephemeral"))
    ));

    // IK hello with a static but no payload.
    let mut init = Initiator::new(PROLOGUE, kp(2), Some(kp(1).public));
    let mut ch = init.client_hello(b"p").unwrap();
    ch.payload = None;
    let mut resp = Responder::new(PROLOGUE, kp(1));
    assert!(matches!(
        resp.read_client_hello(&ch),
        Err(NoiseError::MissingField("payload"))
    ));

    for which in ["ephemeral", "static", "payload"] {
        let (mut init, _, mut sh) = xx_until_server_hello();
        match which {
            "ephemeral" => sh.ephemeral = None,
            "static" => sh.r#static = None,
            _ => sh.payload = None,
        }
        let err = init.read_server_hello(&sh).unwrap_err();
        assert!(
            matches!(err, NoiseError::MissingField(f) if f == which),
            "{which}: {err}"
        );
    }

    for which in ["static", "payload"] {
        let (mut init, mut resp, sh) = xx_until_server_hello();
        init.read_server_hello(&sh).unwrap();
        let mut cf = init.client_finish(b"x").unwrap().unwrap();
        match which {
            "static" => cf.r#static = None,
            _ => cf.payload = None,
        }
        let err = resp.read_client_finish(&cf).unwrap_err();
        assert!(
            matches!(err, NoiseError::MissingField(f) if f == which),
            "{which}: {err}"
        );
    }
}

#[test]
fn wrong_lengths_are_rejected() {
    let mut resp = Responder::new(PROLOGUE, kp(1));
    let ch = ClientHello {
        ephemeral: Some(vec![9; 31]),
        ..Default::default()
    };
    assert!(matches!(
        resp.read_client_hello(&ch),
        Err(NoiseError::BadLength {
            what: "ephemeral",
            expected: 32,
            got: 31
        })
    ));

    let mut init = Initiator::new(PROLOGUE, kp(2), Some(kp(1).public));
    let mut ch = init.client_hello(b"p").unwrap();
    ch.r#static.as_mut().unwrap().pop();
    let mut resp = Responder::new(PROLOGUE, kp(1));
    assert!(matches!(
        resp.read_client_hello(&ch),
        Err(NoiseError::BadLength { what: "static", .. })
    ));

    type Mangle = fn(&mut ServerHello);
    let cases: [(&str, Mangle); 4] = [
        ("ephemeral", |sh| sh.ephemeral.as_mut().unwrap().push(0)),
        ("static", |sh| sh.r#static.as_mut().unwrap().truncate(32)),
        ("static", |sh| sh.r#static.as_mut().unwrap().push(0)),
        ("payload", |sh| sh.payload = Some(vec![0; 15])),
    ];
    for (what, mangle) in cases {
        let (mut init, _, mut sh) = xx_until_server_hello();
        mangle(&mut sh);
        let err = init.read_server_hello(&sh).unwrap_err();
        assert!(
            matches!(err, NoiseError::BadLength { what: w, .. } if w == what),
            "{what}: {err}"
        );
    }
}

#[test]
fn low_order_ephemeral_is_rejected() {
    let mut resp = Responder::new(PROLOGUE, kp(1));
    resp.read_client_hello(&ClientHello {
        ephemeral: Some(vec![0; 32]),
        ..Default::default()
    })
    .unwrap();
    assert!(matches!(resp.server_hello(b"c"), Err(NoiseError::Dh)));
}

#[test]
fn out_of_order_calls_are_refused() {
    let mut init = Initiator::new(PROLOGUE, kp(1), None);
    assert!(matches!(
        init.read_server_hello(&ServerHello::default()),
        Err(NoiseError::WrongState(_))
    ));
    let mut resp = Responder::new(PROLOGUE, kp(2));
    assert!(matches!(
        resp.server_hello(b""),
        Err(NoiseError::WrongState(_))
    ));
    let (init, resp, _) = xx_until_server_hello();
    assert!(init.into_transport().is_err());
    assert!(resp.into_transport().is_err());

    // IK has no third message for the responder.
    let ss = kp(42);
    let mut init = Initiator::new(PROLOGUE, kp(41), Some(ss.public));
    let mut resp = Responder::new(PROLOGUE, ss);
    resp.read_client_hello(&init.client_hello(b"p").unwrap())
        .unwrap();
    init.read_server_hello(&resp.server_hello(&[]).unwrap())
        .unwrap();
    assert!(matches!(
        resp.read_client_finish(&ClientFinish::default()),
        Err(NoiseError::WrongState(_))
    ));
}

#[test]
fn error_messages_carry_no_key_bytes() {
    let text = NoiseError::BadLength {
        what: "static",
        expected: 48,
        got: 47,
    }
    .to_string();
    assert_eq!(text, "static: expected 48 bytes, got 47");
    let init = Initiator::new(PROLOGUE, kp(0xab), None);
    assert_eq!(
        format!("{init:?}"),
        "Initiator { pattern: Xx, step: Start, dialect: WhatsApp, .. }"
    );
}

#[test]
fn transport_rejects_flips_replays_and_short_frames() {
    let mut d = run(None, Pattern::Xx);
    let mut frame = BytesMut::new();
    d.client.send.encrypt(b"<iq/>", &mut frame).unwrap();

    // Replay: the first copy decrypts, the second fails because the counter moved.
    let mut first = frame.to_vec();
    let mut again = frame.to_vec();
    assert_eq!(d.server.recv.decrypt_in_place(&mut first).unwrap(), 5);
    assert!(matches!(
        d.server.recv.decrypt_in_place(&mut again),
        Err(NoiseError::Decrypt)
    ));

    // A flipped bit anywhere, including the tag.
    for at in [0, 4, 20] {
        let mut d = run(None, Pattern::Xx);
        let mut frame = BytesMut::new();
        d.client.send.encrypt(b"<iq/>", &mut frame).unwrap();
        frame[at] ^= 0x80;
        assert!(matches!(
            d.server.recv.decrypt_in_place(&mut frame),
            Err(NoiseError::Decrypt)
        ));
    }

    // Too short to hold a tag.
    let mut d = run(Some(kp(12).public), Pattern::Ik);
    assert!(matches!(
        d.server.recv.decrypt_in_place(&mut [0u8; 10]),
        Err(NoiseError::BadLength { .. })
    ));
    // And the session is over: even a good frame is refused now.
    let mut frame = BytesMut::new();
    d.client.send.encrypt(b"late", &mut frame).unwrap();
    assert!(d.server.recv.decrypt_in_place(&mut frame).is_err());
}

/// IK's static-static DH kept from an earlier session gives the same transcript on both
/// sides as computing it again, and what each side keeps is the same value.
#[test]
fn kept_static_static_results_give_the_same_ik_handshake() {
    let (cs, ss) = (kp(31), kp(32));
    let go = |kept: Option<zeroize::Zeroizing<[u8; 32]>>| {
        let mut init = Initiator::new(PROLOGUE, cs.clone(), Some(ss.public)).with_ephemeral(kp(33));
        if let Some(k) = kept.clone() {
            init = init.with_static_static(k);
        }
        let mut resp = Responder::new(PROLOGUE, ss.clone()).with_ephemeral(kp(34));
        let asked = std::cell::Cell::new(None);
        let ch = init.client_hello(b"p").unwrap();
        let early = resp
            .read_client_hello_with(&ch, &|rs| {
                asked.set(Some(*rs));
                kept.clone()
            })
            .unwrap();
        assert_eq!(early.as_deref(), Some(&b"p"[..]));
        assert_eq!(asked.get(), Some(cs.public), "asked for the client's key");
        let sh = resp.server_hello(b"").unwrap();
        init.read_server_hello(&sh).unwrap();
        assert_eq!(init.pattern(), Pattern::Ik);
        assert_eq!(init.static_static(), resp.static_static());
        (ch, init.handshake_hash(), init.static_static().unwrap())
    };
    let (fresh_hello, fresh_hash, ss_value) = go(None);
    let (kept_hello, kept_hash, _) = go(Some(ss_value));
    assert_eq!(fresh_hello, kept_hello);
    assert_eq!(fresh_hash, kept_hash);
}

/// A wrong kept value cannot produce a session: the responder cannot read the hello and
/// falls back to XX, where no static-static DH exists to keep.
#[test]
fn a_wrong_kept_static_static_result_does_not_pass() {
    let (cs, ss) = (kp(41), kp(42));
    let mut init = Initiator::new(PROLOGUE, cs, Some(ss.public));
    let mut resp = Responder::new(PROLOGUE, ss);
    let ch = init.client_hello(b"p").unwrap();
    let early = resp
        .read_client_hello_with(&ch, &|_| Some(zeroize::Zeroizing::new([9; 32])))
        .unwrap();
    assert_eq!(early, None);
    assert_eq!(resp.pattern(), Pattern::XxFallback);
    assert_eq!(resp.static_static(), None);
    assert!(
        init.static_static().is_some(),
        "the initiator computed its own"
    );
}
