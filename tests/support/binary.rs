//! The real `interop-proxy` binary as a child process in front of a reference server:
//! for what only a process shows (signals, its exit, files it reads again).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use interop_proxy::noise::{Keypair, SecretKey};
use interop_proxy::sim::{self, ClientOptions, Pki, ServerOptions, SimClient, SimServer};
use interop_proxy::stanza::Opaque;

use super::{attr, free_port, http_get, recv_skip_acks, WAIT};

/// WhatsApp's side: a root of its own and the reference server, with a chain from it.
pub async fn whatsapp_server() -> (Pki, SimServer) {
    let whatsapp = Pki::generate();
    let server_key = Keypair::generate();
    let server = SimServer::start(ServerOptions {
        cert_chain: whatsapp.issue(&server_key.public, Duration::from_secs(3600)),
        static_key: server_key,
    })
    .await
    .unwrap();
    (whatsapp, server)
}

/// What a test gives the proxy: where its key and chain are, and more configuration
/// (whole sections) to append.
pub struct Files {
    pub static_key: PathBuf,
    pub chain: PathBuf,
    pub extra: String,
}

/// Writes `key` and a chain for it from `provider` as plain files in `dir`.
pub fn plain_key_files(dir: &Path, provider: &Pki, key: &Keypair) -> Files {
    let static_key = dir.join("static.key");
    std::fs::write(&static_key, key.secret.to_file_text().as_bytes()).unwrap();
    let chain = dir.join("chain.b64");
    let issued = provider.issue(&key.public, Duration::from_secs(3600));
    std::fs::write(
        &chain,
        base64::engine::general_purpose::STANDARD.encode(issued),
    )
    .unwrap();
    Files {
        static_key,
        chain,
        extra: String::new(),
    }
}

/// The proxy binary running, its addresses, and what it was given.
pub struct Binary {
    pub child: Child,
    pub proxy_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The provider's root, which the proxy's chain comes from.
    pub provider: Pki,
    pub dir: tempfile::TempDir,
    pub server: SimServer,
}

impl Binary {
    /// Starts the binary in front of a new reference server. `files` writes the proxy's
    /// key and a chain for it into the test's directory and says where, and what else
    /// to configure. Returns once `/ready` answers 200.
    pub async fn start(files: impl FnOnce(&Path, &Pki, &Keypair) -> Files) -> Binary {
        let (whatsapp, server) = whatsapp_server().await;
        let provider = Pki::generate();
        let dir = tempfile::tempdir().unwrap();
        let files = files(dir.path(), &provider, &Keypair::generate());
        let seed = dir.path().join("seed.key");
        std::fs::write(&seed, SecretKey::generate().to_file_text().as_bytes()).unwrap();
        let proxy_addr = free_port();
        let admin_addr = free_port();
        let root = base64::engine::general_purpose::STANDARD.encode(whatsapp.root.public);
        let config = dir.path().join("interop-proxy.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"{proxy_addr}\"\n\
                 [admin]\nlisten = \"{admin_addr}\"\n\
                 [noise]\nstatic_key_file = {:?}\ncert_chain_file = {:?}\n\
                 [upstream]\naddr = \"{}\"\nroot_key = \"{root}\"\nkey_seed_file = {seed:?}\n\
                 [auth]\nmode = \"none\"\n{}",
                files.static_key,
                files.chain,
                server.addr(),
                files.extra,
            ),
        )
        .unwrap();
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
        let proxy = Binary {
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
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("proxy.log")).unwrap_or_default()
    }

    /// Sends the process a signal by name (`TERM`, `HUP`, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// The status code of `GET path` on the admin port, or `None` when unreachable.
    pub async fn status(&self, path: &str) -> Option<u16> {
        http_get(self.admin_addr, path)
            .await
            .map(|(status, _)| status)
    }

    /// Polls the admin endpoint until `path` answers `code`.
    pub async fn wait_for(&self, path: &str, code: u16) {
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

    /// A client that checks the proxy's chain against the provider's root.
    pub fn client(&self, account: u64) -> ClientOptions {
        let mut options = ClientOptions::new(account);
        options.root_key = Some(self.provider.root.public);
        options
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        // A failed test must not leave the child behind.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends a message to the client's own account and waits for it to come back whole.
pub async fn round_trip(client: &mut SimClient, account: u64, id: &str) {
    let payload = Opaque::from_bytes(b"c2VjcmV0IHBheWxvYWQ=".to_vec());
    client
        .send(&sim::message(account, id, payload.clone()))
        .await
        .unwrap();
    let got = recv_skip_acks(client).await.expect("message came back");
    assert_eq!(attr(&got, "id").as_deref(), Some(id));
    assert_eq!(got.node().find("enc").unwrap().opaque(), Some(&payload));
}
