//! SPEC §8 on the real binary: SIGTERM or SIGINT turns `/ready` to 503, closes the
//! listener, keeps `/live` and the live sessions, and the process exits 0 as soon as the
//! last session ends, or after `shutdown.grace` with `<stream:error code="503"/>`.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use interop_proxy::noise::{Keypair, SecretKey};
use interop_proxy::sim::{self, ClientOptions, Pki, ServerOptions, SimClient, SimServer};
use interop_proxy::stanza::Opaque;
use support::*;
use tokio::net::TcpStream;

/// The proxy binary running as a child process in front of a reference server.
struct Proxy {
    child: Child,
    proxy_addr: SocketAddr,
    admin_addr: SocketAddr,
    provider: Pki,
    dir: tempfile::TempDir,
    server: SimServer,
}

impl Proxy {
    async fn start(grace: &str) -> Proxy {
        let whatsapp = Pki::generate();
        let server_key = Keypair::generate();
        let server = SimServer::start(ServerOptions {
            cert_chain: whatsapp.issue(&server_key.public, Duration::from_secs(3600)),
            static_key: server_key,
        })
        .await
        .unwrap();

        let provider = Pki::generate();
        let dir = tempfile::tempdir().unwrap();
        let proxy_key = Keypair::generate();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let static_key = write("static.key", &proxy_key.secret.to_file_text());
        let seed = write("seed.key", &SecretKey::generate().to_file_text());
        let chain = write(
            "chain.b64",
            &base64::engine::general_purpose::STANDARD
                .encode(provider.issue(&proxy_key.public, Duration::from_secs(3600))),
        );
        let proxy_addr = free_port();
        let admin_addr = free_port();
        let root = base64::engine::general_purpose::STANDARD.encode(whatsapp.root.public);
        let config = write(
            "interop-proxy.toml",
            &format!(
                "listen = \"{proxy_addr}\"\n\
                 [admin]\nlisten = \"{admin_addr}\"\n\
                 [noise]\nstatic_key_file = {static_key:?}\ncert_chain_file = {chain:?}\n\
                 [upstream]\naddr = \"{}\"\nroot_key = \"{root}\"\nkey_seed_file = {seed:?}\n\
                 [auth]\nmode = \"none\"\n\
                 [shutdown]\ngrace = \"{grace}\"\n",
                server.addr()
            ),
        );
        let log = std::fs::File::create(dir.path().join("proxy.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_interop-proxy"))
            .env_clear()
            .env("INTEROP_PROXY_LOG", "info")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let proxy = Proxy {
            child,
            proxy_addr,
            admin_addr,
            provider,
            dir,
            server,
        };
        proxy.wait_for("/ready", 200).await;
        proxy
    }

    /// The proxy's log so far, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("proxy.log")).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    async fn status(&self, path: &str) -> Option<u16> {
        http_status(self.admin_addr, path).await
    }

    /// Polls the admin endpoint until `path` answers `code`.
    async fn wait_for(&self, path: &str, code: u16) {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.status(path).await == Some(code) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{path} never answered {code}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the process to exit, at most `within`.
    async fn exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the proxy did not exit within {within:?}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn client(&self, account: u64) -> ClientOptions {
        let mut options = ClientOptions::new(account);
        options.root_key = Some(self.provider.root.public);
        options
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // A failed test must not leave the child behind.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The status code of `GET path`, or `None` when the endpoint cannot be reached.
async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    http_get(addr, path).await.map(|(status, _)| status)
}

/// Sends a message to the client's own account and waits for it to come back.
async fn round_trip(client: &mut SimClient, account: u64, id: &str) {
    let payload = Opaque::from_bytes(b"c2VjcmV0IHBheWxvYWQ=".to_vec());
    client
        .send(&sim::message(account, id, payload.clone()))
        .await
        .unwrap();
    let got = recv_skip_acks(client).await.expect("message came back");
    assert_eq!(attr(&got, "id").as_deref(), Some(id));
    assert_eq!(got.node().find("enc").unwrap().opaque(), Some(&payload));
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
    let mut proxy = Proxy::start("60s").await;
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
    let status = proxy.exit(Duration::from_secs(5)).await;
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
    let mut proxy = Proxy::start("1s").await;
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
    let status = proxy.exit(Duration::from_secs(5)).await;
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
    let mut proxy = Proxy::start("60s").await;
    let signalled = Instant::now();
    proxy.signal("TERM");
    let status = proxy.exit(Duration::from_secs(3)).await;
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
    let status = proxy.exit(grace + Duration::from_secs(10)).await;
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
    let mut proxy = Proxy::start("2s").await;
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
    let mut proxy = Proxy::start("2s").await;
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
    let proxy = Proxy::start("1s").await;
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
