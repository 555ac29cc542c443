use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::*;

const T: Duration = Duration::from_secs(5);

/// A running admin server and the levers a test pulls.
struct Server {
    /// Where it listens.
    addr: SocketAddr,
    /// Its readiness latch.
    readiness: Readiness,
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
    let readiness = Readiness::new();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_with(
        listener,
        crate::metrics::install(),
        readiness.clone(),
        async move {
            let _ = stopped.await;
        },
        bounds,
    ));
    Server {
        addr,
        readiness,
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
    server.readiness.set_ready();
    assert_eq!(request(addr, "GET", "/ready").await.0, 200);
    server.readiness.set_draining();
    assert_eq!(
        request(addr, "GET", "/ready").await,
        (503, "draining\n".into())
    );
    // Draining is final.
    server.readiness.set_ready();
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
async fn connections_beyond_the_bound_are_closed_at_once() {
    let server = start().await;
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // The accept loop takes connections in order, so this one finds no permit left.
    let mut extra = TcpStream::connect(server.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = timeout(T, extra.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(
        n, 0,
        "the extra connection should be closed without a response"
    );

    // Capacity returns once the held connections go away.
    drop(held);
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let _ = s
            .write_all(b"GET /live HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .await;
        let mut resp = Vec::new();
        let _ = timeout(T, s.read_to_end(&mut resp)).await;
        if resp.starts_with(b"HTTP/1.1 200") {
            ok = true;
            break;
        }
    }
    assert!(ok, "admin did not recover after the flood");
    server.stop.send(()).unwrap();
    timeout(T, server.task).await.unwrap().unwrap().unwrap();
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

#[test]
fn readiness_is_shared_by_clones() {
    let a = Readiness::new();
    let b = a.clone();
    assert!(!b.is_ready());
    a.set_ready();
    assert!(b.is_ready());
    b.set_draining();
    assert!(!a.is_ready() && a.is_draining());
}
