//! Shared helpers for the behaviour tests: a deployment on loopback and small waits.
#![allow(dead_code, unused_imports)]

use std::time::Duration;

pub use interop_proxy::demo::Deployment;
use interop_proxy::sim::{SimClient, SimError};
use interop_proxy::stanza::Stanza;

/// How long a test waits for something that should happen at once.
pub const WAIT: Duration = Duration::from_secs(10);

/// Receives the next stanza or fails the test after [`WAIT`].
pub async fn recv(client: &mut SimClient) -> Option<Stanza> {
    tokio::time::timeout(WAIT, client.recv())
        .await
        .expect("timed out waiting for a stanza")
        .expect("receive failed")
}

/// Receives the next stanza that is not an `<ack>`.
pub async fn recv_skip_acks(client: &mut SimClient) -> Option<Stanza> {
    tokio::time::timeout(WAIT, client.recv_skip_acks())
        .await
        .expect("timed out waiting for a stanza")
        .expect("receive failed")
}

/// Waits until the connection ends; returns every stanza that came before it.
pub async fn drain_until_closed(client: &mut SimClient) -> Vec<Stanza> {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, client.recv()).await {
            Ok(Ok(Some(s))) => seen.push(s),
            Ok(Ok(None)) | Ok(Err(SimError::Frame(_))) | Ok(Err(SimError::Io(_))) => return seen,
            Ok(Err(e)) => panic!("unexpected error: {e}"),
            Err(_) => panic!("connection did not close"),
        }
    }
}

/// Polls `f` until it holds or [`WAIT`] passes.
pub async fn eventually(mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition never held"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the server received from `account` a stanza `pick` accepts.
pub async fn server_got(
    d: &Deployment,
    account: u64,
    mut pick: impl FnMut(&Stanza) -> bool,
) -> Stanza {
    let mut found = None;
    eventually(|| {
        found = d.server.received(account).into_iter().find(|s| pick(s));
        found.is_some()
    })
    .await;
    found.unwrap()
}

/// Has the reference server push 60 KB messages to `account`, which is not reading,
/// until a push waits 300 ms: every buffer between them is full. Returns how many went
/// out; at most 400 (24 MB), which no loopback path buffers.
pub async fn fill_until_stalled(server: &interop_proxy::sim::SimServer, account: u64) -> usize {
    let big = interop_proxy::stanza::Opaque::from_bytes(vec![b'A'; 60_000]);
    let mut pushed = 0;
    while pushed < 400 {
        let message = interop_proxy::sim::message(account, "flood", big.clone());
        match tokio::time::timeout(Duration::from_millis(300), server.push(account, message)).await
        {
            Ok(true) => pushed += 1,
            _ => break,
        }
    }
    pushed
}

/// The attributes of a stanza's root, for assertions.
pub fn attr(stanza: &Stanza, name: &str) -> Option<String> {
    stanza.attr(name).map(|v| v.into_owned())
}

/// The value of `interop_proxy_sessions_closed_total{reason="REASON"}` in this process.
pub fn closed_total(reason: &str) -> u64 {
    metric_value(&format!(
        "interop_proxy_sessions_closed_total{{reason=\"{reason}\"}}"
    ))
}

/// The value of one series (name with labels, as rendered) in this process; 0 if absent.
pub fn metric_value(series: &str) -> u64 {
    let text = interop_proxy::metrics::install().render();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Waits until `sessions_closed_total{reason}` reached `want`.
pub async fn closed_reaches(reason: &str, want: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = closed_total(reason);
        if now >= want {
            assert_eq!(
                now, want,
                "reason {reason} counted more often than expected"
            );
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "reason {reason} stayed at {now}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A plain TCP connection for byte-level attacks.
pub struct Raw {
    /// The socket.
    pub stream: tokio::net::TcpStream,
}

impl Raw {
    /// Connects to `addr`.
    pub async fn connect(addr: std::net::SocketAddr) -> Self {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Self { stream }
    }

    /// Writes `bytes`; a peer that already closed is not an error here.
    pub async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let _ = self.stream.write_all(bytes).await;
    }

    /// Closes the write direction.
    pub async fn shutdown_write(&mut self) {
        use tokio::io::AsyncWriteExt;
        let _ = self.stream.shutdown().await;
    }

    /// Reads until the peer closes (or resets); returns what came first. Fails the test
    /// if the connection stays open for [`WAIT`].
    pub async fn read_to_close(&mut self) -> Vec<u8> {
        self.read_to_close_within(WAIT).await
    }

    /// As [`Raw::read_to_close`], with a custom bound.
    pub async fn read_to_close_within(&mut self, within: Duration) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return seen,
                Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
                Err(_) => panic!("connection still open after {within:?}"),
            }
        }
    }
}

/// Logs in a new client of `account`, has it message itself, and closes it: proof that
/// the proxy still serves new sessions.
pub async fn fresh_session_works(d: &Deployment, account: u64) {
    let mut c = SimClient::login(d.proxy_addr, &d.client(account))
        .await
        .expect("a new session logs in");
    echo(&mut c, account, "fresh").await;
    c.close().await;
}

/// Sends a message from `client` (of `account`) to itself and waits for it to come back.
pub async fn echo(client: &mut SimClient, account: u64, id: &str) {
    client
        .send(&interop_proxy::sim::message(
            account,
            id,
            interop_proxy::stanza::Opaque::from_bytes("aGk="),
        ))
        .await
        .expect("send");
    let back = recv_skip_acks(client).await.expect("an echo");
    assert_eq!(attr(&back, "id").as_deref(), Some(id));
}

/// A loopback address nothing listens on: bound, then released.
pub fn free_port() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// `GET path` over plain HTTP/1.1 with `Connection: close`: the status and the body, or
/// `None` when the endpoint cannot be reached.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

pub mod syn;
pub mod tls;

/// A one-connection TCP forwarder in front of `target` that first writes `prefix`, as a
/// load balancer would; returns its address and, once connected, the local address of
/// its outgoing socket: what the proxy sees as the peer, and the source of the SYN the
/// proxy's kernel received.
pub async fn forwarder(
    target: std::net::SocketAddr,
    prefix: Vec<u8>,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Receiver<std::net::SocketAddr>,
) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut inbound, _) = listener.accept().await.unwrap();
        let mut outbound = tokio::net::TcpStream::connect(target).await.unwrap();
        let _ = tx.send(outbound.local_addr().unwrap());
        outbound.write_all(&prefix).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    });
    (addr, rx)
}

/// Tunes a deployment to speak XML text: for the tests about XML itself.
pub fn speak_xml(c: &mut interop_proxy::config::Config) {
    c.stanza.encoding = interop_proxy::stanza::Encoding::Xml;
}
pub mod binary;
pub mod logs;
