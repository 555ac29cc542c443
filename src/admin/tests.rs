use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::*;
use crate::lifecycle::Lifecycle;

const T: Duration = Duration::from_secs(5);

/// A running admin server and the levers a test pulls.
struct Server {
    /// Where it listens.
    addr: SocketAddr,
    /// The phase `/ready` reports.
    lifecycle: Lifecycle,
    /// Completes the shutdown future.
    stop: oneshot::Sender<()>,
    /// The `serve` task, whose result the test checks.
    task: JoinHandle<std::io::Result<()>>,
}

async fn start() -> Server {
    start_with(Bounds::DEFAULT).await
}

async fn start_with(bounds: Bounds) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lifecycle = Lifecycle::new();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_with(
        listener,
        crate::metrics::install(),
        lifecycle.view(),
        async move {
            let _ = stopped.await;
        },
        bounds,
    ));
    Server {
        addr,
        lifecycle,
        stop,
        task,
    }
}

/// One request over a fresh connection; returns (status, body).
async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    timeout(T, s.read_to_end(&mut buf)).await.unwrap().unwrap();
    let text = String::from_utf8(buf).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn endpoints() {
    let server = start().await;
    let addr = server.addr;

    assert_eq!(request(addr, "GET", "/live").await.0, 200);
    assert_eq!(
        request(addr, "GET", "/ready").await,
        (503, "starting\n".into())
    );
    server.lifecycle.set_ready();
    assert_eq!(request(addr, "GET", "/ready").await.0, 200);
    server.lifecycle.start_drain(Duration::from_secs(1));
    assert_eq!(
        request(addr, "GET", "/ready").await,
        (503, "draining\n".into())
    );
    // Draining is final.
    server.lifecycle.set_ready();
    assert_eq!(request(addr, "GET", "/ready").await.0, 503);
    assert_eq!(request(addr, "GET", "/live").await.0, 200);

    let (status, body) = request(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("interop_proxy_build_info"), "{body}");

    assert_eq!(request(addr, "GET", "/nope").await.0, 404);
    assert_eq!(request(addr, "GET", "/").await.0, 404);
    assert_eq!(request(addr, "POST", "/metrics").await.0, 405);

    server.stop.send(()).unwrap();
    timeout(T, server.task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn keep_alive_serves_several_requests() {
    let server = start().await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..3 {
        s.write_all(b"GET /live HTTP/1.1\r\nHost: admin\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = timeout(T, s.read(&mut buf)).await.unwrap().unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    }
    drop(s);
    server.stop.send(()).unwrap();
    timeout(T, server.task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn a_full_admin_port_serves_the_newcomer_and_closes_the_oldest_idle_connection() {
    let server = start().await;
    // A scraper with a completed request, then the bound's worth of idle sockets.
    let mut scraper = TcpStream::connect(server.addr).await.unwrap();
    scraper
        .write_all(b"GET /live HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    assert!(timeout(T, scraper.read(&mut buf)).await.unwrap().unwrap() > 0);
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Every probe is answered, each evicting an idle socket rather than the scraper.
    for path in ["/live", "/ready", "/metrics"] {
        let (status, _) = timeout(T, request(server.addr, "GET", path)).await.unwrap();
        assert!(status == 200 || status == 503, "{path}: {status}");
    }
    // The oldest idle socket was closed to make room.
    let n = timeout(T, held[0].read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "the oldest idle connection should have been closed");
    // The scraper's keep-alive connection still works.
    scraper
        .write_all(b"GET /live HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert!(timeout(T, scraper.read(&mut buf)).await.unwrap().unwrap() > 0);
    server.stop.send(()).unwrap();
    timeout(T, server.task).await.unwrap().unwrap().unwrap();
}

/// Probes under abuse: `idle` sockets held open, plus, when `trickle`, a byte of request
/// head sent on each every 100 ms; every probe must be answered within a second.
async fn probes_answer_beside(idle: usize, trickle: bool) -> Duration {
    let server = start().await;
    let mut held = Vec::with_capacity(idle);
    for _ in 0..idle {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let trickler = trickle.then(|| {
        tokio::spawn(async move {
            for _ in 0..10 {
                for s in &mut held {
                    let _ = s.write_all(b"G").await;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            held
        })
    });
    let mut worst = Duration::ZERO;
    for path in ["/live", "/ready", "/metrics"].repeat(3) {
        let started = tokio::time::Instant::now();
        timeout(Duration::from_secs(1), request(server.addr, "GET", path))
            .await
            .unwrap_or_else(|_| panic!("{path} unanswered for 1 s beside {idle} sockets"));
        worst = worst.max(started.elapsed());
    }
    if let Some(t) = trickler {
        drop(t.await.unwrap());
    }
    server.stop.send(()).unwrap();
    timeout(T, server.task).await.unwrap().unwrap().unwrap();
    worst
}

#[tokio::test]
async fn probes_answer_beside_500_and_5000_idle_or_trickling_sockets() {
    for (idle, trickle) in [(500, false), (500, true), (5000, false), (5000, true)] {
        let worst = probes_answer_beside(idle, trickle).await;
        println!("{idle} sockets, trickling {trickle}: slowest probe {worst:?}");
    }
}

const SHORT: Bounds = Bounds {
    max_connections: 4,
    header_read_timeout: Duration::from_millis(200),
    max_lifetime: Duration::from_millis(600),
};

#[tokio::test]
async fn slow_header_senders_are_cut_off() {
    let server = start_with(SHORT).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /live HTTP/1.1\r\n").await.unwrap();
    let mut buf = Vec::new();
    let read = timeout(SHORT.header_read_timeout * 10, s.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "connection still open after the header timeout"
    );
    // hyper may answer 408 before closing; it must not answer the request.
    assert!(!buf.starts_with(b"HTTP/1.1 200"));
    server.stop.send(()).unwrap();
    timeout(T, server.task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn connections_end_after_their_lifetime() {
    let server = start_with(SHORT).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    // Keep-alive requests, each well inside the header timeout, never end on their own.
    let started = tokio::time::Instant::now();
    let closed = loop {
        if s.write_all(b"GET /live HTTP/1.1\r\nHost: admin\r\n\r\n")
            .await
            .is_err()
        {
            break true;
        }
        let mut buf = [0u8; 512];
        match timeout(T, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => {}
            Err(_) => break false,
        }
        if started.elapsed() > SHORT.max_lifetime * 10 {
            break false;
        }
        tokio::time::sleep(SHORT.header_read_timeout / 4).await;
    };
    assert!(closed);
    assert!(started.elapsed() >= SHORT.max_lifetime);
    server.stop.send(()).unwrap();
    timeout(T, server.task).await.unwrap().unwrap().unwrap();
}
