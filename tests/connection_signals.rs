//! Connection-level signals in the upstream PROXY v2 header (SPEC §5): TLV 0xE0, the
//! client's SYN as the proxy's kernel received it, and TLV 0xE1, the client
//! connection's RTT and variance; or, behind a load balancer, the balancer's own TLVs
//! of those types, forwarded unchanged. Over loopback, with the real kernel.

mod support;

use std::net::SocketAddr;

use interop_proxy::config::Config;
use interop_proxy::sim::SimClient;
use interop_proxy::transport::signals::{Rtt, READS_SAVED_SYN, TLV_RTT, TLV_SYN};
use support::syn::{self, TcpOption};
use support::*;

/// A deployment whose upstream leg sends PROXY v2, with `tune` applied after.
async fn deployment(tune: impl FnOnce(&mut Config)) -> Deployment {
    Deployment::start(|c, _| {
        c.upstream.proxy_protocol = true;
        tune(c);
    })
    .await
    .unwrap()
}

/// Logs `account` in through `via`, has it message itself, closes.
async fn session(d: &Deployment, via: SocketAddr, account: u64) {
    let mut client = SimClient::login(via, &d.client(account)).await.unwrap();
    echo(&mut client, account, "m1").await;
    client.close().await;
}

/// A session through a forwarder (so the test knows the proxy's TCP peer); returns
/// that peer and the TLVs of the header the server received for it.
async fn session_seen_by_server(d: &Deployment, account: u64) -> (SocketAddr, Vec<(u8, Vec<u8>)>) {
    let before = d.server.proxy_tlvs().len();
    let (via, peer) = forwarder(d.proxy_addr, Vec::new()).await;
    session(d, via, account).await;
    let headers = d.server.proxy_tlvs();
    assert_eq!(headers.len(), before + 1, "one PROXY header per session");
    (peer.await.unwrap(), headers[before].clone())
}

/// The values of the TLVs of type `kind`.
fn of_kind(tlvs: &[(u8, Vec<u8>)], kind: u8) -> Vec<Vec<u8>> {
    tlvs.iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, v)| v.clone())
        .collect()
}

/// The one SYN TLV of a header, checked to be `peer`'s SYN to the proxy at `proxy`.
fn assert_syn_of(tlvs: &[(u8, Vec<u8>)], peer: SocketAddr, proxy: SocketAddr) -> syn::Syn {
    let syns = of_kind(tlvs, TLV_SYN);
    assert_eq!(syns.len(), 1, "one SYN TLV in {tlvs:?}");
    let bytes = &syns[0];
    assert!(bytes.len() <= 120, "{} bytes", bytes.len());
    let s = syn::parse(bytes).unwrap_or_else(|e| panic!("{e}: {}", syn::hex_dump(bytes)));
    println!(
        "SYN TLV, {} bytes:\n{}\n{s:#?}\np0f: {}",
        bytes.len(),
        syn::hex_dump(bytes),
        s.p0f()
    );
    assert_eq!(s.ip_version, if peer.is_ipv4() { 4 } else { 6 });
    assert_eq!(s.protocol, 6, "TCP");
    assert_eq!(s.src, peer.ip());
    assert_eq!(s.dst, proxy.ip());
    assert_eq!(s.src_port, peer.port(), "the client's source port");
    assert_eq!(s.dst_port, proxy.port());
    assert_ne!(s.flags & syn::SYN, 0, "SYN set");
    assert_eq!(
        s.flags & (syn::ACK | syn::RST | syn::FIN),
        0,
        "ACK, RST, FIN clear"
    );
    assert_eq!(s.ack_number, 0);
    assert!(
        s.options
            .iter()
            .any(|o| matches!(o, TcpOption::Mss(m) if *m > 0)),
        "an MSS option in {:?}",
        s.options
    );
    s
}

/// The one RTT TLV of a header, checked to be plausible for loopback.
fn assert_rtt(tlvs: &[(u8, Vec<u8>)]) -> Rtt {
    let rtts = of_kind(tlvs, TLV_RTT);
    assert_eq!(rtts.len(), 1, "one RTT TLV in {tlvs:?}");
    let rtt = Rtt::from_tlv_value(&rtts[0]).expect("two u32");
    assert!(rtt.rtt_us > 0 && rtt.rtt_us < 1_000_000, "{rtt:?}");
    assert!(rtt.rttvar_us < 1_000_000, "{rtt:?}");
    rtt
}

#[tokio::test]
async fn the_clients_rtt_reaches_the_server_beside_its_syn_on_both_families() {
    for listen in ["127.0.0.1:0", "[::1]:0"] {
        let d = deployment(|c| c.listen = listen.parse().unwrap()).await;
        let (peer, tlvs) = session_seen_by_server(&d, 1).await;
        assert_eq!(d.server.proxy_sources(), vec![peer]);
        let rtt = assert_rtt(&tlvs);
        println!("{listen}: {rtt:?}");
        // A SYN the kernel cannot give is left out, never made up.
        assert_eq!(
            of_kind(&tlvs, TLV_SYN).len(),
            usize::from(READS_SAVED_SYN),
            "{tlvs:?}"
        );
        // SYN first, then RTT, and nothing else.
        let kinds: Vec<u8> = tlvs.iter().map(|(k, _)| *k).collect();
        let want: &[u8] = if READS_SAVED_SYN {
            &[TLV_SYN, TLV_RTT]
        } else {
            &[TLV_RTT]
        };
        assert_eq!(kinds, want);
    }
}

#[tokio::test]
async fn the_clients_ipv4_syn_reaches_the_server() {
    let d = deployment(|_| {}).await;
    let (peer, tlvs) = session_seen_by_server(&d, 1).await;
    assert!(peer.is_ipv4());
    assert_syn_of(&tlvs, peer, d.proxy_addr);
    assert_rtt(&tlvs);
}

#[tokio::test]
async fn the_clients_ipv6_syn_reaches_the_server() {
    let d = deployment(|c| c.listen = "[::1]:0".parse().unwrap()).await;
    let (peer, tlvs) = session_seen_by_server(&d, 1).await;
    assert!(peer.is_ipv6());
    let s = assert_syn_of(&tlvs, peer, d.proxy_addr);
    assert_eq!(s.ip_header_len, 40);
    assert_rtt(&tlvs);
}

#[tokio::test]
async fn two_sessions_carry_their_own_syns() {
    let d = deployment(|_| {}).await;
    let (peer1, tlvs1) = session_seen_by_server(&d, 1).await;
    let (peer2, tlvs2) = session_seen_by_server(&d, 2).await;
    assert_ne!(peer1.port(), peer2.port());
    let s1 = assert_syn_of(&tlvs1, peer1, d.proxy_addr);
    let s2 = assert_syn_of(&tlvs2, peer2, d.proxy_addr);
    assert_ne!(s1.seq, s2.seq, "two SYNs, not one read twice");
}

#[tokio::test]
async fn switched_off_the_header_carries_no_signals() {
    let d = deployment(|c| c.upstream.connection_signals = false).await;
    let (peer, tlvs) = session_seen_by_server(&d, 1).await;
    assert_eq!(d.server.proxy_sources(), vec![peer]);
    assert!(tlvs.is_empty(), "{tlvs:?}");
}

/// A PROXY v2 header from 203.0.113.7:40000 to `dst` over IPv4, with `tlvs`, written by
/// hand from the HAProxy spec: the proxy's own encoder is what is under test.
fn balancer_header(dst: SocketAddr, tlvs: &[(u8, &[u8])]) -> Vec<u8> {
    let SocketAddr::V4(dst) = dst else {
        panic!("an IPv4 listener")
    };
    let mut body = vec![203, 0, 113, 7];
    body.extend(dst.ip().octets());
    body.extend(40000u16.to_be_bytes());
    body.extend(dst.port().to_be_bytes());
    for (kind, value) in tlvs {
        body.push(*kind);
        body.extend((value.len() as u16).to_be_bytes());
        body.extend(*value);
    }
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.extend([0x21, 0x11]);
    header.extend((body.len() as u16).to_be_bytes());
    header.extend(body);
    header
}

/// A balancer's SYN of a client it saw: IPv4 from 203.0.113.7:40000, TTL 52, window
/// 65535, options MSS 1460, NOP, WS 6, NOP, NOP, TS, SACK-permitted, EOL (macOS-like).
const BALANCER_SYN: [u8; 64] = [
    0x45, 0x00, 0x00, 0x40, 0x00, 0x00, 0x40, 0x00, 0x34, 0x06, 0x00, 0x00, 203, 0, 113, 7, 10, 0,
    0, 1, 0x9c, 0x40, 0x14, 0x66, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0xb0, 0x02, 0xff, 0xff, 0, 0,
    0, 0, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x06, 0x01, 0x01, 0x08, 0x0a, 0x11, 0x22, 0x33,
    0x44, 0, 0, 0, 0, 0x04, 0x02, 0x00, 0x00,
];

#[tokio::test]
async fn behind_a_load_balancer_its_signals_are_forwarded_byte_for_byte() {
    let d = deployment(|c| c.client.proxy_protocol = true).await;
    let rtt = Rtt {
        rtt_us: 23_456,
        rttvar_us: 3_210,
    }
    .to_tlv_value();
    // RTT before SYN, an ALPN TLV and an unknown application TLV between: forwarded are
    // exactly the 0xE0 and 0xE1 TLVs, in the order received.
    let header = balancer_header(
        d.proxy_addr,
        &[
            (TLV_RTT, &rtt),
            (0x01, b"h2"),
            (0xE2, b"not ours"),
            (TLV_SYN, &BALANCER_SYN),
        ],
    );
    let (via, _) = forwarder(d.proxy_addr, header).await;
    session(&d, via, 1).await;
    assert_eq!(
        d.server.proxy_sources(),
        vec!["203.0.113.7:40000".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(
        d.server.proxy_tlvs(),
        vec![vec![
            (TLV_RTT, rtt.to_vec()),
            (TLV_SYN, BALANCER_SYN.to_vec())
        ]],
        "the balancer's, unchanged, and none of the proxy's own"
    );
    // The fixture itself is a well-formed SYN, so the server could fingerprint it.
    let s = syn::parse(&BALANCER_SYN).unwrap();
    assert_eq!(s.option_layout(), "mss,nop,ws,nop,nop,ts,sok,eol");

    // A balancer that sends no signals gets none added: not the proxy's RTT, which
    // would be the balancer's connection's, nor its SYN.
    let (via, _) = forwarder(
        d.proxy_addr,
        balancer_header(d.proxy_addr, &[(0x01, b"h2")]),
    )
    .await;
    session(&d, via, 2).await;
    assert_eq!(d.server.proxy_tlvs()[1], Vec::<(u8, Vec<u8>)>::new());
}

#[tokio::test]
async fn behind_a_load_balancer_switched_off_nothing_is_forwarded() {
    let d = deployment(|c| {
        c.client.proxy_protocol = true;
        c.upstream.connection_signals = false;
    })
    .await;
    let rtt = [0, 0, 0x5b, 0xa0, 0, 0, 0x0c, 0x8a];
    let header = balancer_header(d.proxy_addr, &[(TLV_SYN, &BALANCER_SYN), (TLV_RTT, &rtt)]);
    let (via, _) = forwarder(d.proxy_addr, header).await;
    session(&d, via, 1).await;
    assert_eq!(d.server.proxy_tlvs(), vec![Vec::<(u8, Vec<u8>)>::new()]);
}
