//! Every limit of SPEC §2.8, §2.9 and §6 over real sockets: what the offender is told
//! (a bare close before the client's cipher exists, `<stream:error code=…>` after) and
//! the `reason` the session is counted under in `interop_proxy_sessions_closed_total`.
//!
//! Metrics are process-wide, so the tests of this binary take turns ([`serial`]) and
//! assert on deltas.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use interop_proxy::sim::SimClient;
use interop_proxy::stanza::compress_frame;
use support::*;
use tokio::sync::{Mutex, MutexGuard};

/// A short timeout, so the tests do not sleep for long.
const SHORT: Duration = Duration::from_millis(300);

/// One test at a time, so metric deltas belong to the test that reads them.
async fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::const_new(());
    LOCK.lock().await
}

/// The intro header for version 6.3.
const INTRO: [u8; 4] = [0x57, 0x41, 6, 3];

/// Sends `plaintext` from a logged-in client and expects `<stream:error code=CODE>` and
/// the close, counted under `reason`.
async fn expect_stream_error(
    d: &Deployment,
    account: u64,
    plaintext: &[u8],
    code: &str,
    reason: &str,
) {
    let before = closed_total(reason);
    let mut c = SimClient::login(d.proxy_addr, &d.client(account))
        .await
        .unwrap();
    c.send_plaintext(plaintext).await.unwrap();
    let seen = drain_until_closed(&mut c).await;
    let names: Vec<_> = seen.iter().map(|s| s.root().name().to_string()).collect();
    assert_eq!(names, ["stream:error"], "{seen:?}");
    assert_eq!(attr(&seen[0], "code").as_deref(), Some(code));
    drop(c);
    closed_reaches(reason, before + 1).await;
}

#[tokio::test]
async fn handshake_timeout_closes_a_silent_client_without_a_word() {
    let _serial = serial().await;
    let d = Deployment::start(|c, _| {
        speak_xml(c);
        c.limits.handshake_timeout = SHORT;
    })
    .await
    .unwrap();
    for partial in [
        &[][..],
        &INTRO[..],
        &[INTRO[0], INTRO[1], 6, 3, 0, 0, 40][..],
    ] {
        let before = closed_total("timeout");
        let started = Instant::now();
        let mut raw = Raw::connect(d.proxy_addr).await;
        raw.send(partial).await;
        let got = raw.read_to_close().await;
        let elapsed = started.elapsed();
        assert!(got.is_empty(), "no cipher yet, so nothing is sent: {got:?}");
        assert!(elapsed >= SHORT, "closed after {elapsed:?}");
        assert!(elapsed < SHORT * 5, "closed only after {elapsed:?}");
        drop(raw);
        closed_reaches("timeout", before + 1).await;
    }
    assert_eq!(d.server.state().connections.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_trickling_client_cannot_outlast_the_handshake_timeout() {
    let _serial = serial().await;
    let timeout = Duration::from_secs(1);
    let d = Deployment::start(|c, _| {
        speak_xml(c);
        c.limits.handshake_timeout = timeout;
    })
    .await
    .unwrap();
    let before = closed_total("timeout");
    // A genuine preamble and XX ClientHello, one byte every 200 ms: every byte is
    // progress, but the deadline is counted from the accept, not from the last byte.
    let mut initiator = interop_proxy::noise::Initiator::new(
        INTRO,
        interop_proxy::noise::Keypair::generate(),
        None,
    );
    let hello = interop_proxy::wa_proto::HandshakeMessage {
        client_hello: Some(initiator.client_hello(&[]).unwrap()),
        ..Default::default()
    };
    let body = prost::Message::encode_to_vec(&hello);
    let mut wire = INTRO.to_vec();
    wire.extend_from_slice(&[0, 0, body.len() as u8]);
    wire.extend_from_slice(&body);

    let started = Instant::now();
    let raw = Raw::connect(d.proxy_addr).await;
    let (mut read, mut write) = raw.stream.into_split();
    let trickle = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        for byte in wire {
            if write.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut got = Vec::new();
    let closed = tokio::time::timeout(WAIT, async {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 256];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    assert!(closed.is_ok(), "a trickler held the session for {WAIT:?}");
    assert!(got.is_empty());
    assert!(elapsed >= timeout, "closed after {elapsed:?}");
    assert!(elapsed < timeout * 3, "closed only after {elapsed:?}");
    trickle.abort();
    drop(read);
    closed_reaches("timeout", before + 1).await;
    assert_eq!(d.server.state().connections.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn idle_timeout_ends_a_quiet_session_with_408() {
    let _serial = serial().await;
    let d = Deployment::start(|c, _| {
        speak_xml(c);
        c.limits.idle_timeout = SHORT;
    })
    .await
    .unwrap();
    let before = closed_total("timeout");
    let mut c = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    let started = Instant::now();
    let seen = drain_until_closed(&mut c).await;
    let elapsed = started.elapsed();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].root().name(), "stream:error");
    assert_eq!(attr(&seen[0], "code").as_deref(), Some("408"));
    assert_eq!(attr(&seen[0], "text").as_deref(), Some("timeout"));
    assert!(elapsed < SHORT * 5, "closed only after {elapsed:?}");
    drop(c);
    closed_reaches("timeout", before + 1).await;
    // The upstream was closed with it.
    eventually(|| d.server.state().active.load(Ordering::Relaxed) == 0).await;
}

#[tokio::test]
async fn a_session_with_traffic_is_not_idle() {
    let _serial = serial().await;
    let d = Deployment::start(|c, _| {
        speak_xml(c);
        c.limits.idle_timeout = SHORT;
    })
    .await
    .unwrap();
    let mut c = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    // Three idle periods' worth of time, with a message every third of one.
    for i in 0..9 {
        tokio::time::sleep(SHORT / 3).await;
        echo(&mut c, 1, &format!("m{i}")).await;
    }
}

#[tokio::test]
async fn a_frame_trickled_byte_by_byte_is_idle() {
    let _serial = serial().await;
    let d = Deployment::start(|c, _| {
        speak_xml(c);
        c.limits.idle_timeout = SHORT;
    })
    .await
    .unwrap();
    let before = closed_total("timeout");
    let mut c = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    // Activity is a whole frame, not a byte: a frame that never completes is silence.
    let frame = c.seal_frame(b"\x00<iq/>").unwrap();
    let mut sent = 0;
    let started = Instant::now();
    let closed = loop {
        if sent < frame.len() - 1 {
            c.send_raw(&frame[sent..sent + 1]).await.ok();
            sent += 1;
        }
        match tokio::time::timeout(Duration::from_millis(50), c.recv()).await {
            Err(_) => {}
            Ok(Ok(Some(s))) => break s,
            Ok(other) => panic!("expected a stream error, got {other:?}"),
        }
        assert!(started.elapsed() < WAIT, "still open");
    };
    assert_eq!(closed.root().name(), "stream:error");
    assert_eq!(attr(&closed, "code").as_deref(), Some("408"));
    drop(c);
    closed_reaches("timeout", before + 1).await;
}

#[tokio::test]
async fn connections_beyond_max_sessions_are_closed_at_once() {
    let _serial = serial().await;
    let d = Deployment::start(|c, _| {
        speak_xml(c);
        c.limits.max_sessions = Some(1);
    })
    .await
    .unwrap();
    let before = closed_total("limit_exceeded");
    let accepted = metric_value("interop_proxy_connections_accepted_total");
    let mut first = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    for extra in 0..3 {
        let started = Instant::now();
        let mut raw = Raw::connect(d.proxy_addr).await;
        // Even a client that would go on to shake hands properly is refused unheard.
        raw.send(&INTRO).await;
        let got = raw.read_to_close().await;
        assert!(got.is_empty());
        assert!(started.elapsed() < Duration::from_secs(1));
        closed_reaches("limit_exceeded", before + extra + 1).await;
    }
    assert_eq!(
        metric_value("interop_proxy_connections_accepted_total"),
        accepted + 4
    );
    assert_eq!(d.server.state().connections.load(Ordering::Relaxed), 1);
    echo(&mut first, 1, "still here").await;
    first.close().await;
    // The slot comes back once the session has ended.
    let mut again = None;
    for _ in 0..100 {
        match SimClient::login(d.proxy_addr, &d.client(2)).await {
            Ok(c) => {
                again = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    echo(again.as_mut().expect("slot freed"), 2, "next").await;
}

#[tokio::test]
async fn frames_over_max_frame_bytes_are_refused_before_and_after_the_handshake() {
    let _serial = serial().await;
    let d = Deployment::start(|c, _| {
        speak_xml(c);
        c.limits.max_frame_bytes = 4096;
    })
    .await
    .unwrap();
    // Before the handshake: no cipher, so a bare close.
    let before = closed_total("limit_exceeded");
    let mut raw = Raw::connect(d.proxy_addr).await;
    raw.send(&INTRO).await;
    raw.send(&[0x00, 0x10, 0x01]).await; // 4097
    assert!(raw.read_to_close().await.is_empty());
    drop(raw);
    closed_reaches("limit_exceeded", before + 1).await;

    // After: the header alone is enough; the proxy does not wait for the body.
    let before = closed_total("limit_exceeded");
    let mut c = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    c.send_raw(&[0x00, 0x10, 0x01]).await.unwrap();
    let seen = drain_until_closed(&mut c).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(attr(&seen[0], "code").as_deref(), Some("413"));
    drop(c);
    closed_reaches("limit_exceeded", before + 1).await;

    // A frame of exactly the limit passes.
    let mut c = SimClient::login(d.proxy_addr, &d.client(2)).await.unwrap();
    let filler = "x".repeat(4096 - 16 - 1 - "<iq></iq>".len());
    c.send_plaintext(format!("\x00<iq>{filler}</iq>").as_bytes())
        .await
        .unwrap();
    echo(&mut c, 2, "after a maximal frame").await;
}

#[tokio::test]
async fn stanzas_over_max_stanza_bytes_end_the_session_with_413() {
    let _serial = serial().await;
    let d = Deployment::start(|c, _| {
        speak_xml(c);
        c.limits.max_stanza_bytes = 1024;
    })
    .await
    .unwrap();
    let over = format!("\x00<iq>{}</iq>", "x".repeat(1024));
    expect_stream_error(&d, 1, over.as_bytes(), "413", "limit_exceeded").await;
    // A body of exactly the limit passes.
    let mut c = SimClient::login(d.proxy_addr, &d.client(2)).await.unwrap();
    let exact = format!("\x00<iq>{}</iq>", "x".repeat(1024 - 9));
    c.send_plaintext(exact.as_bytes()).await.unwrap();
    echo(&mut c, 2, "after a maximal stanza").await;
}

#[tokio::test]
async fn inflation_is_bounded_by_max_stanza_bytes() {
    let _serial = serial().await;
    let d = Deployment::start(|c, _| {
        speak_xml(c);
        c.limits.max_stanza_bytes = 64 * 1024;
    })
    .await
    .unwrap();
    // 16 MiB of spaces compress to ~16 KiB: small on the wire, 256x over once inflated.
    let bomb = compress_frame(&vec![b' '; 16 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    expect_stream_error(&d, 1, &bomb, "413", "limit_exceeded").await;
    // One byte over the limit once inflated is refused too; at the limit it passes.
    let over = compress_frame(format!("<iq>{}</iq>", " ".repeat(64 * 1024 - 8)).as_bytes());
    expect_stream_error(&d, 2, &over, "413", "limit_exceeded").await;
    let mut c = SimClient::login(d.proxy_addr, &d.client(3)).await.unwrap();
    let exact = compress_frame(format!("<iq>{}</iq>", " ".repeat(64 * 1024 - 9)).as_bytes());
    c.send_plaintext(&exact).await.unwrap();
    echo(&mut c, 3, "after a maximal inflated stanza").await;
}

#[tokio::test]
async fn depth_over_max_depth_ends_the_session_with_413() {
    let _serial = serial().await;
    let d = Deployment::start(|c, _| {
        speak_xml(c);
        c.limits.max_depth = 4;
    })
    .await
    .unwrap();
    let nest = |n: usize| format!("\x00{}{}", "<a>".repeat(n), "</a>".repeat(n));
    expect_stream_error(&d, 1, nest(5).as_bytes(), "413", "limit_exceeded").await;
    let mut c = SimClient::login(d.proxy_addr, &d.client(2)).await.unwrap();
    c.send_plaintext(nest(4).as_bytes()).await.unwrap();
    echo(&mut c, 2, "after a maximal depth").await;
}

#[tokio::test]
async fn more_than_64_attributes_end_the_session_with_413() {
    let _serial = serial().await;
    let d = Deployment::start(|c, _| speak_xml(c)).await.unwrap();
    let attrs = |n: usize| -> String {
        let list: String = (0..n).map(|i| format!(" a{i}='x'")).collect();
        format!("\x00<iq><x{list}/></iq>")
    };
    expect_stream_error(&d, 1, attrs(65).as_bytes(), "413", "limit_exceeded").await;
    let mut c = SimClient::login(d.proxy_addr, &d.client(2)).await.unwrap();
    c.send_plaintext(attrs(64).as_bytes()).await.unwrap();
    echo(&mut c, 2, "after 64 attributes").await;
}
