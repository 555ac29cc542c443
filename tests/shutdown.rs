//! SPEC §8 on the real binary: SIGTERM or SIGINT turns `/ready` to 503, closes the
//! listener, keeps `/live` and the live sessions, and the process exits 0 as soon as the
//! last session ends, or after `shutdown.grace` with `<stream:error code="503"/>`.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use interop_proxy::sim::{self, SimClient};
use interop_proxy::stanza::Opaque;
use support::binary::{plain_key_files, round_trip, Binary, Files};
use support::*;
use tokio::net::TcpStream;

/// The proxy binary running as a child process in front of a reference server.
type Proxy = Binary;

/// The proxy with `shutdown.grace = grace`.
async fn start(grace: &str) -> Proxy {
    Binary::start(|dir, provider, key| Files {
        extra: format!("[shutdown]\ngrace = \"{grace}\"\n"),
        ..plain_key_files(dir, provider, key)
    })
    .await
}

/// Waits for the process to exit, at most `within`.
async fn exit(proxy: &mut Proxy, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = proxy.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the proxy did not exit within {within:?}; log:\n{}",
            proxy.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The status code of `GET path`, or `None` when the endpoint cannot be reached.
async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    http_get(addr, path).await.map(|(status, _)| status)
}

async fn refuses_connections(addr: SocketAddr) {
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "listener still open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Drains on `signal` while one session is live; the session keeps relaying, ends by
/// itself, and the process exits 0 right after although the grace is long.
async fn drains_until_the_last_session_ends(signal: &str) {
    let mut proxy = start("60s").await;
    assert_eq!(proxy.status("/live").await, Some(200));
    let mut client = SimClient::login(proxy.proxy_addr, &proxy.client(7))
        .await
        .unwrap();
    round_trip(&mut client, 7, "before").await;

    proxy.signal(signal);
    proxy.wait_for("/ready", 503).await;
    assert_eq!(proxy.status("/live").await, Some(200));
    refuses_connections(proxy.proxy_addr).await;
    assert!(
        SimClient::login(proxy.proxy_addr, &proxy.client(8))
            .await
            .is_err(),
        "a new client got in while draining"
    );

    // The live session is untouched by the drain.
    round_trip(&mut client, 7, "during").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    round_trip(&mut client, 7, "later").await;
    assert_eq!(proxy.status("/live").await, Some(200));
    assert!(proxy.child.try_wait().unwrap().is_none(), "exited early");

    let closed = Instant::now();
    client.close().await;
    let status = exit(&mut proxy, Duration::from_secs(5)).await;
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        proxy.log()
    );
    // Well before the 60 s grace: the exit follows the last session, not a timer.
    assert!(closed.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn sigterm_drains_until_the_last_session_ends() {
    drains_until_the_last_session_ends("TERM").await;
}

#[tokio::test]
async fn sigint_drains_like_sigterm() {
    drains_until_the_last_session_ends("INT").await;
}

#[tokio::test]
async fn sessions_past_the_grace_get_a_503_shutdown_stream_error() {
    let mut proxy = start("1s").await;
    let mut first = SimClient::login(proxy.proxy_addr, &proxy.client(1))
        .await
        .unwrap();
    let mut second = SimClient::login(proxy.proxy_addr, &proxy.client(2))
        .await
        .unwrap();
    round_trip(&mut first, 1, "a").await;
    round_trip(&mut second, 2, "b").await;

    let signalled = Instant::now();
    proxy.signal("TERM");
    proxy.wait_for("/ready", 503).await;
    round_trip(&mut first, 1, "c").await;

    for client in [&mut first, &mut second] {
        let seen = drain_until_closed(client).await;
        let last = seen.last().expect("a closing stanza");
        assert_eq!(last.node().name(), "stream:error", "{seen:?}");
        assert_eq!(attr(last, "code").as_deref(), Some("503"));
        assert_eq!(attr(last, "text").as_deref(), Some("shutdown"));
    }
    assert!(
        signalled.elapsed() >= Duration::from_millis(900),
        "cut before the grace passed"
    );
    drop(first);
    drop(second);
    let status = exit(&mut proxy, Duration::from_secs(5)).await;
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        proxy.log()
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(6),
        "exit took {:?}",
        signalled.elapsed()
    );
}

#[tokio::test]
async fn an_idle_proxy_exits_at_once() {
    let mut proxy = start("60s").await;
    let signalled = Instant::now();
    proxy.signal("TERM");
    let status = exit(&mut proxy, Duration::from_secs(3)).await;
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        proxy.log()
    );
    assert!(signalled.elapsed() < Duration::from_secs(3));
    assert!(Path::new(&proxy.dir.path().join("proxy.log")).exists());
}

/// How long after the grace the process exited, and that it exited 0.
async fn exit_after_grace(proxy: &mut Proxy, signalled: Instant, grace: Duration) -> Duration {
    let status = exit(proxy, grace + Duration::from_secs(10)).await;
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        proxy.log()
    );
    signalled.elapsed().saturating_sub(grace)
}

/// 1,000 sessions that read their closing stanza but never close their sockets.
#[tokio::test]
async fn the_exit_follows_the_grace_within_2s_when_1000_peers_keep_their_sockets_open() {
    let grace = Duration::from_secs(2);
    let mut proxy = start("2s").await;
    let mut clients = Vec::new();
    for account in 0..1000 {
        clients.push(
            SimClient::login(proxy.proxy_addr, &proxy.client(10_000 + account))
                .await
                .unwrap(),
        );
    }
    let signalled = Instant::now();
    proxy.signal("TERM");
    // Each reads until its closing stanza, then keeps the socket open.
    let mut errors = 0;
    for client in &mut clients {
        while let Ok(Ok(Some(s))) = tokio::time::timeout(WAIT, client.recv()).await {
            if attr(&s, "code").as_deref() == Some("503") {
                errors += 1;
                break;
            }
        }
    }
    assert_eq!(errors, 1000);
    let late = exit_after_grace(&mut proxy, signalled, grace).await;
    println!("1000 sessions kept open: exit {late:?} after the grace");
    assert!(
        late < Duration::from_secs(2),
        "exit {late:?} after the grace"
    );
    drop(clients);
}

/// Clients that stopped reading (their sockets full), and, in the same run, sessions whose
/// server stalled too, cannot hold the exit past the grace by more than 2 s.
#[tokio::test]
async fn stalled_peers_on_either_side_cannot_hold_the_exit() {
    let grace = Duration::from_secs(2);
    let mut proxy = start("2s").await;
    let mut readers = Vec::new();
    for account in 0..20 {
        readers.push(
            SimClient::login(proxy.proxy_addr, &proxy.client(100 + account))
                .await
                .unwrap(),
        );
    }
    // Ten clients stop reading while the server pushes to them until the sockets fill.
    let mut stalled = Vec::new();
    for account in 0..10u64 {
        let client = SimClient::login(proxy.proxy_addr, &proxy.client(200 + account))
            .await
            .unwrap();
        stalled.push(client);
        let pushed = fill_until_stalled(&proxy.server, 200 + account).await;
        assert!(pushed < 400, "the client's socket never filled");
    }
    // Five more write to a server that stopped reading, and read nothing themselves.
    proxy
        .server
        .state()
        .stall
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let mut writers = Vec::new();
    for account in 0..5u64 {
        let client = SimClient::login(proxy.proxy_addr, &proxy.client(300 + account))
            .await
            .unwrap();
        let (mut tx, rx) = client.into_split();
        let big = Opaque::from_bytes(vec![b'B'; 60_000]);
        let flood = tokio::spawn(async move {
            for i in 0..400 {
                let m = sim::message(300 + account, &format!("w{i}"), big.clone());
                if tokio::time::timeout(Duration::from_millis(300), tx.send(&m))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            tx
        });
        writers.push((flood, rx));
    }
    let mut held = Vec::new();
    for (flood, rx) in writers {
        held.push((flood.await.unwrap(), rx));
    }
    let signalled = Instant::now();
    proxy.signal("TERM");
    for client in &mut readers {
        let seen = drain_until_closed(client).await;
        assert_eq!(attr(seen.last().unwrap(), "code").as_deref(), Some("503"));
    }
    let late = exit_after_grace(&mut proxy, signalled, grace).await;
    println!("stalled readers and a stalled server: exit {late:?} after the grace");
    assert!(
        late < Duration::from_secs(2),
        "exit {late:?} after the grace"
    );
    drop((stalled, held));
}

/// The real binary's admin port under abuse: with 500 and then 5,000 idle sockets held
/// open on it, `/live`, `/ready` and `/metrics` each answer within a second, and a
/// proxied session keeps relaying.
#[tokio::test]
async fn probes_answer_beside_thousands_of_idle_admin_sockets() {
    let proxy = start("1s").await;
    let mut session = SimClient::login(proxy.proxy_addr, &proxy.client(1))
        .await
        .unwrap();
    let mut held = Vec::new();
    for total in [500, 5000] {
        while held.len() < total {
            match TcpStream::connect(proxy.admin_addr).await {
                Ok(s) => held.push(s),
                Err(e) => panic!("connect {}: {e}", held.len()),
            }
        }
        let mut slowest = Duration::ZERO;
        for path in ["/live", "/ready", "/metrics"] {
            let started = Instant::now();
            let status =
                tokio::time::timeout(Duration::from_secs(1), http_status(proxy.admin_addr, path))
                    .await
                    .unwrap_or_else(|_| panic!("{path} unanswered for 1 s beside {total} sockets"));
            assert_eq!(status, Some(200), "{path} beside {total} sockets");
            slowest = slowest.max(started.elapsed());
        }
        println!("{total} idle admin sockets: slowest probe {slowest:?}");
        round_trip(&mut session, 1, &format!("beside-{total}")).await;
    }
}
