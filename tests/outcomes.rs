//! Session outcomes (SPEC §2.9) over real sockets: refusals before the upstream exists,
//! stream errors after, closing together, and backpressure.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use interop_proxy::noise::Keypair;
use interop_proxy::sim::{self, SimClient, SimError};
use interop_proxy::stanza::Opaque;
use interop_proxy::transport::WireVersion;
use support::*;

#[tokio::test]
async fn unreachable_upstream_is_refused_with_503() {
    let port = free_port().to_string();
    let d = Deployment::start(move |c, _| c.upstream.addr = Some(port))
        .await
        .unwrap();
    match SimClient::login(d.proxy_addr, &d.client(1)).await {
        Err(SimError::Refused(code)) => assert_eq!(code, "503"),
        other => panic!("expected a 503 failure, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn upstream_chain_from_the_wrong_root_is_refused_with_502() {
    let d = Deployment::start(|c, _| c.upstream.root_key = Keypair::generate().public)
        .await
        .unwrap();
    match SimClient::login(d.proxy_addr, &d.client(1)).await {
        Err(SimError::Refused(code)) => assert_eq!(code, "502"),
        other => panic!("expected a 502 failure, got {:?}", other.map(|_| ())),
    }
    assert_eq!(d.server.state().logins.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_version_not_configured_is_closed_before_any_handshake() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let mut options = d.client(1);
    options.version = WireVersion { major: 5, minor: 2 };
    assert!(SimClient::connect(d.proxy_addr, &options).await.is_err());
    assert_eq!(d.server.state().connections.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn configured_versions_are_accepted() {
    let d = Deployment::start(|c, _| {
        speak_xml(c);
        c.client.versions = vec!["6.3".parse().unwrap(), "5.2".parse().unwrap()];
    })
    .await
    .unwrap();
    let mut options = d.client(1);
    options.version = WireVersion { major: 5, minor: 2 };
    SimClient::login(d.proxy_addr, &options).await.unwrap();
}

#[tokio::test]
async fn client_disconnect_closes_the_upstream() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let c = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    assert_eq!(d.server.state().active.load(Ordering::Relaxed), 1);
    c.close().await;
    eventually(|| d.server.state().active.load(Ordering::Relaxed) == 0).await;
}

#[tokio::test]
async fn a_stanza_read_before_the_client_left_still_reaches_the_server() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let mut c = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    for i in 0..50 {
        c.send(&sim::message(
            9,
            &format!("last{i}"),
            Opaque::from_bytes("QQ=="),
        ))
        .await
        .unwrap();
    }
    c.close().await;
    eventually(|| d.server.received(1).len() == 50).await;
}

#[tokio::test]
async fn a_stalled_upstream_stalls_the_client_instead_of_growing_memory() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let c = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    d.server.state().stall.store(true, Ordering::Relaxed);
    let (mut tx, _rx) = c.into_split();
    let big = Opaque::from_bytes(vec![b'A'; 60_000]);
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    let sender = tokio::spawn(async move {
        // 4,000 × 60 KB = 240 MB: far more than every socket buffer on the path.
        for i in 0..4000 {
            tx.send(&sim::message(9, &i.to_string(), big.clone()))
                .await
                .unwrap();
            counter.fetch_add(60_000, Ordering::Relaxed);
        }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let at_stall = sent.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = sent.load(Ordering::Relaxed);
    assert!(!sender.is_finished(), "the client was never slowed down");
    assert_eq!(
        at_stall, later,
        "the client kept sending into a stalled path"
    );
    // What is in flight is bounded by the kernel's socket buffers, not by the proxy.
    assert!(
        later < 64 * 1024 * 1024,
        "{later} bytes accepted while stalled"
    );
    sender.abort();
}

#[tokio::test]
async fn a_product_not_allowed_is_refused_with_403() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let mut options = d.client(1);
    options.product = 7;
    match SimClient::login(d.proxy_addr, &options).await {
        Err(SimError::Refused(code)) => assert_eq!(code, "403"),
        other => panic!("expected a 403 failure, got {:?}", other.map(|_| ())),
    }
    assert_eq!(d.server.state().connections.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_client_that_stops_reading_but_keeps_sending_is_cut_after_the_idle_timeout() {
    let idle = Duration::from_secs(1);
    let d = Deployment::start(move |c, _| c.limits.idle_timeout = idle)
        .await
        .unwrap();
    let before = closed_total("timeout");
    let client = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    let (mut tx, _rx) = client.into_split();
    // Its keepalives keep the session from being idle while it reads nothing...
    let pinger = tokio::spawn(async move {
        for i in 0..100 {
            if tx.send(&sim::ping(&format!("k{i}"))).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // ...while the server writes to it until every buffer on the way is full.
    let started = tokio::time::Instant::now();
    fill_until_stalled(&d.server, 1).await;
    closed_reaches("timeout", before + 1).await;
    assert!(started.elapsed() < idle + WAIT);
    eventually(|| d.server.state().active.load(Ordering::Relaxed) == 0).await;
    pinger.abort();
}
