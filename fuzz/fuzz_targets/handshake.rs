//! Handshake protobufs from a hostile client, fed to the responder as the proxy does:
//! the first message as a ClientHello, then (XX, XXfallback) a ServerHello is written and
//! the second message is read as a ClientFinish.
#![no_main]

use interop_proxy::wa_proto::HandshakeMessage;
use interop_proxy::noise::{Keypair, Responder, SecretKey};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    // Two messages, as the proxy reads them from two frames: a 16-bit length, then the first.
    let (first, second) = match data {
        [hi, lo, rest @ ..] => {
            let n = (usize::from(*hi) << 8 | usize::from(*lo)).min(rest.len());
            rest.split_at(n)
        }
        _ => (data, &[][..]),
    };
    let Ok(hello) = HandshakeMessage::decode(first) else {
        return;
    };
    let Some(hello) = hello.client_hello else {
        return;
    };
    let static_key = Keypair::from_secret(SecretKey::from_bytes([7; 32]));
    let mut responder = Responder::new([b'W', b'A', 6, 3], static_key)
        .with_ephemeral(Keypair::from_secret(SecretKey::from_bytes([9; 32])));
    let Ok(ik_payload) = responder.read_client_hello(&hello) else {
        return;
    };
    let Ok(_server_hello) = responder.server_hello(b"chain") else {
        return;
    };
    if ik_payload.is_some() {
        let _ = responder.into_transport();
        return;
    }
    let Ok(finish) = HandshakeMessage::decode(second) else {
        return;
    };
    if let Some(finish) = finish.client_finish {
        if responder.read_client_finish(&finish).is_ok() {
            let _ = responder.remote_static();
            let _ = responder.into_transport();
        }
    }
});
