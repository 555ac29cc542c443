//! The relay core over real loopback sockets: every handshake pattern on both legs,
//! payloads both ways, order, compression.

mod support;

use std::time::Duration;

use base64::Engine;
use interop_proxy::noise::{Keypair, Pattern};
use interop_proxy::sim::{self, SimClient};
use interop_proxy::stanza::{compress_frame, Element, Opaque, Stanza};
use support::*;

/// A base64 payload of `n` raw random bytes.
fn payload(n: usize) -> Opaque {
    let raw: Vec<u8> = (0..n).map(|i| (i * 31 + n) as u8).collect();
    Opaque::from_bytes(
        base64::engine::general_purpose::STANDARD
            .encode(raw)
            .into_bytes(),
    )
}

#[tokio::test]
async fn every_pattern_on_both_legs() {
    for upstream in [Pattern::Xx, Pattern::Ik, Pattern::XxFallback] {
        // XX: no server key known; IK: the right key configured; XXfallback: a wrong one.
        let d = Deployment::start(|c, server| {
            c.upstream.server_key = match upstream {
                Pattern::Xx => None,
                Pattern::Ik => Some(server.static_public),
                Pattern::XxFallback => Some(Keypair::generate().public),
            };
        })
        .await
        .unwrap();
        for client in [Pattern::Xx, Pattern::Ik, Pattern::XxFallback] {
            let mut options = d.client(1);
            options.server_key = match client {
                Pattern::Xx => None,
                Pattern::Ik => Some(d.proxy_static),
                Pattern::XxFallback => Some(Keypair::generate().public),
            };
            let mut c = SimClient::login(d.proxy_addr, &options).await.unwrap();
            assert_eq!(c.pattern, client, "client leg");
            c.send(&sim::message(1, "self", payload(10))).await.unwrap();
            let got = recv_skip_acks(&mut c).await.unwrap();
            assert_eq!(got.node().find("enc").unwrap().opaque(), Some(&payload(10)));
            c.close().await;
        }
        // The first upstream session uses the configured knowledge; a verified chain
        // teaches the proxy the server's key, so later sessions use IK.
        let patterns = d.server.patterns();
        assert_eq!(
            patterns,
            vec![upstream, Pattern::Ik, Pattern::Ik],
            "upstream leg"
        );
    }
}

#[tokio::test]
async fn payloads_of_every_size_arrive_byte_identical_both_ways() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let mut a = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    let mut b = SimClient::login(d.proxy_addr, &d.client(2)).await.unwrap();
    for size in [0, 1, 2, 3, 100, 1000, 4096, 16 * 1024, 48 * 1024] {
        // base64 of `size` bytes: up to 64 KiB of text
        let p = payload(size);
        a.send(&sim::message(2, &format!("a{size}"), p.clone()))
            .await
            .unwrap();
        let got = recv_skip_acks(&mut b).await.unwrap();
        assert_eq!(
            got.node().find("enc").unwrap().opaque(),
            Some(&p),
            "a->b {size}"
        );
        b.send(&sim::message(1, &format!("b{size}"), p.clone()))
            .await
            .unwrap();
        let got = recv_skip_acks(&mut a).await.unwrap();
        assert_eq!(
            got.node().find("enc").unwrap().opaque(),
            Some(&p),
            "b->a {size}"
        );
    }
}

#[tokio::test]
async fn a_thousand_stanzas_keep_their_order() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let a = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    let mut b = SimClient::login(d.proxy_addr, &d.client(2)).await.unwrap();
    let (mut tx, _rx) = a.into_split();
    let sender = tokio::spawn(async move {
        for i in 0..1000 {
            tx.send(&sim::message(2, &i.to_string(), payload(300)))
                .await
                .unwrap();
        }
        tx
    });
    for i in 0..1000 {
        let got = recv_skip_acks(&mut b).await.unwrap();
        assert_eq!(attr(&got, "id").unwrap(), i.to_string());
    }
    sender.await.unwrap();
}

#[tokio::test]
async fn compressed_stanzas_are_inflated_and_relayed() {
    let d = Deployment::start(|c, _| speak_xml(c)).await.unwrap();
    let mut a = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    let mut b = SimClient::login(d.proxy_addr, &d.client(2)).await.unwrap();
    let body = format!(
        r#"<message to="2@s.whatsapp.net" id="z1" type="text"><enc v="2" type="msg">{}</enc></message>"#,
        "QUJD".repeat(2000)
    );
    a.send_plaintext(&compress_frame(body.as_bytes()))
        .await
        .unwrap();
    let got = recv_skip_acks(&mut b).await.unwrap();
    assert_eq!(attr(&got, "id").as_deref(), Some("z1"));
    let enc = got.node().find("enc").unwrap().opaque().unwrap();
    assert_eq!(enc, &Opaque::from_bytes("QUJD".repeat(2000).into_bytes()));
}

#[tokio::test]
async fn unmodified_stanzas_reach_the_server_with_their_exact_bytes() {
    let d = Deployment::start(|c, _| speak_xml(c)).await.unwrap();
    let mut a = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    let raw = "<iq  id='q1' type=\"set\" xmlns='w:p' ><ping a=\"&amp;&#65;\"/><!-- kept --></iq>";
    let mut plain = vec![0u8];
    plain.extend_from_slice(raw.as_bytes());
    a.send_plaintext(&plain).await.unwrap();
    eventually(|| !d.server.received(1).is_empty()).await;
    let mut out = bytes::BytesMut::new();
    let codec = interop_proxy::stanza::XmlCodec {
        limits: Default::default(),
    };
    interop_proxy::stanza::StanzaCodec::encode(&codec, &d.server.received(1)[0], &mut out).unwrap();
    assert_eq!(&out[1..], raw.as_bytes());
}

#[tokio::test]
async fn edge_routing_bytes_and_version_reach_the_server() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let mut options = d.client(1);
    options.routing = Some(b"edge-route-7".to_vec());
    let _c = SimClient::login(d.proxy_addr, &options).await.unwrap();
    assert_eq!(
        d.server.routing(),
        vec![bytes::Bytes::from_static(b"edge-route-7")]
    );
}

#[tokio::test]
async fn server_stanzas_reach_the_client() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let mut a = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    let note = Stanza::from_element(Element::new("notification").with_attr("id", "n1"));
    assert!(d.server.push(1, note).await);
    let got = recv(&mut a).await.unwrap();
    assert_eq!(got.node().name(), "notification");
    let _ = Duration::ZERO;
}
