//! The client's address across the proxy (SPEC §2.1, §5): PROXY v2 from a load balancer
//! on the client leg, PROXY v2 with the client's address to the server on the upstream leg.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use interop_proxy::sim::{self, SimClient};
use interop_proxy::stanza::Opaque;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The 12-byte PROXY v2 signature.
const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// A `LOCAL` header, as a load balancer sends for its own health checks.
fn local_header() -> Vec<u8> {
    let mut h = SIGNATURE.to_vec();
    h.extend([0x20, 0x00, 0x00, 0x00]);
    h
}

async fn deployment(client_pp: bool, upstream_pp: bool) -> Deployment {
    Deployment::start(|c, _| {
        c.client.proxy_protocol = client_pp;
        c.upstream.proxy_protocol = upstream_pp;
    })
    .await
    .unwrap()
}

/// Logs in, relays one message both ways, closes.
async fn session(d: &Deployment, lb_source: Option<SocketAddr>, via: Option<SocketAddr>) {
    let mut options = d.client(1);
    options.proxy_header = lb_source.map(|src| (src, d.proxy_addr));
    let mut client = SimClient::login(via.unwrap_or(d.proxy_addr), &options)
        .await
        .unwrap();
    let payload = Opaque::from_bytes(b"aGVsbG8=".to_vec());
    client
        .send(&sim::message(1, "m1", payload.clone()))
        .await
        .unwrap();
    let got = recv_skip_acks(&mut client).await.unwrap();
    assert_eq!(got.node().find("enc").unwrap().opaque(), Some(&payload));
    client.close().await;
}

#[tokio::test]
async fn the_load_balancers_client_address_reaches_the_server() {
    let d = deployment(true, true).await;
    let v4: SocketAddr = "203.0.113.7:40000".parse().unwrap();
    let v6: SocketAddr = "[2001:db8::7]:40001".parse().unwrap();
    session(&d, Some(v4), None).await;
    session(&d, Some(v6), None).await;
    assert_eq!(d.server.proxy_sources(), vec![v4, v6]);
}

#[tokio::test]
async fn without_a_load_balancer_the_server_sees_the_real_peer() {
    let d = deployment(false, true).await;
    // Learn the client's own address as the proxy sees it: through a relay we control,
    // whose outgoing socket is the proxy's peer.
    let (via, peer) = relay(d.proxy_addr, Vec::new()).await;
    session(&d, None, Some(via)).await;
    let peer = peer.await.unwrap();
    assert_eq!(d.server.proxy_sources(), vec![peer]);
    assert!(peer.ip().is_loopback());
}

#[tokio::test]
async fn upstream_header_only_when_configured() {
    let d = deployment(true, false).await;
    session(&d, Some("203.0.113.7:40000".parse().unwrap()), None).await;
    assert_eq!(d.server.proxy_sources(), Vec::<SocketAddr>::new());
    assert_eq!(
        d.server
            .state()
            .logins
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn a_local_header_means_the_connection_itself_is_the_client() {
    let d = deployment(true, true).await;
    // A health check: LOCAL and nothing else. The proxy just closes.
    let mut probe = TcpStream::connect(d.proxy_addr).await.unwrap();
    probe.write_all(&local_header()).await.unwrap();
    probe.shutdown().await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, probe.read_to_end(&mut rest))
        .await
        .expect("closed");
    assert!(rest.is_empty());

    // LOCAL then a real session: the source is the TCP peer.
    let (via, peer) = relay(d.proxy_addr, local_header()).await;
    session(&d, None, Some(via)).await;
    assert_eq!(d.server.proxy_sources(), vec![peer.await.unwrap()]);
}

#[tokio::test]
async fn a_malformed_header_closes_only_that_connection() {
    let d = deployment(true, true).await;
    let mut bad_version = SIGNATURE.to_vec();
    bad_version.extend([0x31, 0x11, 0x00, 0x0c]);
    bad_version.extend([0u8; 12]);
    let mut short_addresses = SIGNATURE.to_vec();
    // PROXY, TCP over IPv4, but 4 bytes of addresses where 12 are needed.
    short_addresses.extend([0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4]);
    let not_proxy = b"WA\x06\x03 and then some bytes".to_vec();
    for header in [bad_version, short_addresses, not_proxy] {
        let mut conn = TcpStream::connect(d.proxy_addr).await.unwrap();
        conn.write_all(&header).await.unwrap();
        let mut rest = Vec::new();
        // At once, not after the handshake timeout.
        let read = tokio::time::timeout(Duration::from_secs(3), conn.read_to_end(&mut rest))
            .await
            .expect("the proxy closed the connection");
        assert!(read.is_err() || rest.is_empty(), "{header:?} got {rest:?}");
    }
    // A client that forgot the header is refused too: its preamble is no header.
    assert!(SimClient::login(d.proxy_addr, &d.client(2)).await.is_err());

    // The proxy keeps serving.
    session(&d, Some("198.51.100.1:1234".parse().unwrap()), None).await;
    assert_eq!(
        d.server.proxy_sources(),
        vec!["198.51.100.1:1234".parse::<SocketAddr>().unwrap()]
    );
}

/// A one-connection TCP relay in front of `target` that first writes `prefix`, as a
/// load balancer would; returns its address and, once connected, the address of its
/// outgoing socket (what the proxy sees as the peer).
async fn relay(
    target: SocketAddr,
    prefix: Vec<u8>,
) -> (SocketAddr, tokio::sync::oneshot::Receiver<SocketAddr>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut inbound, _) = listener.accept().await.unwrap();
        let mut outbound = TcpStream::connect(target).await.unwrap();
        let _ = tx.send(outbound.local_addr().unwrap());
        outbound.write_all(&prefix).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    });
    (addr, rx)
}
