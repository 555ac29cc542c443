//! Each XML restriction of SPEC §2.8, through the proxy: the offending client gets
//! `<stream:error code=…>` and is closed; a healthy session beside it is untouched.

mod support;

use interop_proxy::sim::{self, SimClient};
use interop_proxy::stanza::{compress_frame, Opaque};
use support::*;

/// (name, plaintext after the flags byte, flags, expected code)
fn cases() -> Vec<(&'static str, Vec<u8>, u8, &'static str)> {
    let deep = format!("{}{}", "<a>".repeat(33), "</a>".repeat(33));
    let attrs: String = (0..65).map(|i| format!(" a{i}='x'")).collect();
    let big = format!("<iq>{}</iq>", "x".repeat(300 * 1024));
    let bomb = compress_frame(&vec![b' '; 8 * 1024 * 1024]);
    vec![
        (
            "xml declaration",
            b"<?xml version='1.0'?><iq/>".to_vec(),
            0,
            "400",
        ),
        ("doctype", b"<!DOCTYPE iq><iq/>".to_vec(), 0, "400"),
        (
            "entity declaration",
            b"<!DOCTYPE iq [<!ENTITY x 'y'>]><iq>&x;</iq>".to_vec(),
            0,
            "400",
        ),
        (
            "external entity",
            b"<!DOCTYPE iq [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><iq>&x;</iq>".to_vec(),
            0,
            "400",
        ),
        (
            "processing instruction",
            b"<iq><?pi x?></iq>".to_vec(),
            0,
            "400",
        ),
        ("cdata", b"<iq><![CDATA[x]]></iq>".to_vec(), 0, "400"),
        ("unknown entity", b"<iq>&nbsp;</iq>".to_vec(), 0, "400"),
        ("invalid char ref", b"<iq>&#0;</iq>".to_vec(), 0, "400"),
        ("invalid utf-8", b"<iq>\xff\xfe</iq>".to_vec(), 0, "400"),
        ("two roots", b"<iq/><iq/>".to_vec(), 0, "400"),
        ("text outside root", b"<iq/>junk".to_vec(), 0, "400"),
        ("unclosed", b"<iq><a>".to_vec(), 0, "400"),
        ("mismatched", b"<iq></a>".to_vec(), 0, "400"),
        (
            "duplicate attribute",
            b"<iq a='1' a='2'/>".to_vec(),
            0,
            "400",
        ),
        ("too deep", deep.into_bytes(), 0, "413"),
        (
            "too many attributes",
            format!("<iq{attrs}/>").into_bytes(),
            0,
            "413",
        ),
        ("too long", big.into_bytes(), 0, "413"),
        ("unknown flag", b"<iq/>".to_vec(), 0x04, "400"),
        ("zlib bomb", bomb[1..].to_vec(), 0x02, "413"),
        (
            "corrupt zlib",
            b"\x78\x9c\xff\xff\xff".to_vec(),
            0x02,
            "400",
        ),
    ]
}

#[tokio::test]
async fn each_restriction_ends_only_the_offending_session() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let mut healthy = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    for (i, (name, body, flags, code)) in cases().into_iter().enumerate() {
        let mut bad = SimClient::login(d.proxy_addr, &d.client(100 + i as u64))
            .await
            .unwrap();
        let mut plain = vec![flags];
        plain.extend_from_slice(&body);
        bad.send_plaintext(&plain).await.unwrap();
        let seen = drain_until_closed(&mut bad).await;
        let error = seen
            .iter()
            .find(|s| s.root().name() == "stream:error")
            .unwrap_or_else(|| panic!("{name}: no stream:error"));
        assert_eq!(attr(error, "code").as_deref(), Some(code), "{name}");

        healthy
            .send(&sim::message(1, name, Opaque::from_bytes("aGk=")))
            .await
            .unwrap();
        let echo = recv_skip_acks(&mut healthy).await.unwrap();
        assert_eq!(
            attr(&echo, "id").as_deref(),
            Some(name),
            "healthy after {name}"
        );
    }
}
