//! SPEC §9 on the real binary: new keys, chain and files are loaded on SIGHUP or when
//! they change on disk (a Kubernetes `..data` swap included), all or nothing; sessions
//! started afterwards use them, established ones keep theirs and keep relaying; a
//! refused reload changes nothing, names the file, and is counted.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use interop_proxy::noise::{Keypair, SecretKey};
use interop_proxy::sim::{self, ClientOptions, Pki, ServerOptions, SimClient, SimServer};
use interop_proxy::stanza::{Element, Opaque, Stanza};
use support::*;

const CAPS: &str = "node = \"https://provider.example/interop\"\n\
    [profiles.default]\n\
    identity = { category = \"client\", type = \"phone\", name = \"NAME\" }\n\
    features = [\"http://jabber.org/protocol/caps\", \"urn:interop:caps:receive:text\"]\n";

/// Where the proxy's files live: plain files, or a Kubernetes-style Secret mount in
/// which each name is a symlink through `..data` to a timestamped directory.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Plain,
    Mounted,
}

/// The proxy binary in front of a reference server, with its files in a directory.
struct Proxy {
    child: Child,
    proxy_addr: SocketAddr,
    admin_addr: SocketAddr,
    provider: Pki,
    dir: tempfile::TempDir,
    layout: Layout,
    /// Versions of the mounted Secret written so far.
    generation: u32,
    server: SimServer,
}

/// The proxy's files, by name in the mount.
struct Material {
    static_key: Keypair,
    chain: Vec<u8>,
    caps_name: &'static str,
}

impl Proxy {
    async fn start(layout: Layout) -> Proxy {
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
        let proxy_addr = free_port();
        let admin_addr = free_port();
        let key = Keypair::generate();
        let mut proxy = Proxy {
            child: Command::new("true").spawn().unwrap(),
            proxy_addr,
            admin_addr,
            dir,
            layout,
            generation: 0,
            server,
            provider,
        };
        let chain = proxy.provider.issue(&key.public, Duration::from_secs(3600));
        proxy.write_material(&Material {
            static_key: key,
            chain,
            caps_name: "Example 1.0",
        });
        let seed = proxy.dir.path().join("seed.key");
        std::fs::write(&seed, SecretKey::generate().to_file_text()).unwrap();
        let mounted = proxy.mounted();
        let root = base64::engine::general_purpose::STANDARD.encode(whatsapp.root.public);
        let config = proxy.dir.path().join("interop-proxy.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"{proxy_addr}\"\n\
                 [admin]\nlisten = \"{admin_addr}\"\n\
                 [noise]\nstatic_key_file = {:?}\ncert_chain_file = {:?}\n\
                 [upstream]\naddr = \"{}\"\nroot_key = \"{root}\"\nkey_seed_file = {seed:?}\n\
                 [caps]\nfile = {:?}\n\
                 [auth]\nmode = \"none\"\n",
                mounted.join("static.key"),
                mounted.join("chain.b64"),
                proxy.server.addr(),
                mounted.join("capabilities.toml"),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(proxy.dir.path().join("proxy.log")).unwrap();
        proxy.child = Command::new(env!("CARGO_BIN_EXE_interop-proxy"))
            .env_clear()
            .env("INTEROP_PROXY_LOG", "info")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        proxy.wait_ready().await;
        proxy
    }

    /// The directory the configuration names the files in.
    fn mounted(&self) -> PathBuf {
        self.dir.path().join("secret")
    }

    /// Writes the key, chain and capability file. Plain: over the old files, in place.
    /// Mounted: as Kubernetes does, into a new directory, then one atomic rename of the
    /// `..data` symlink.
    fn write_material(&mut self, m: &Material) {
        let files = [
            ("static.key", m.static_key.secret.to_file_text().to_string()),
            (
                "chain.b64",
                base64::engine::general_purpose::STANDARD.encode(&m.chain),
            ),
            ("capabilities.toml", CAPS.replace("NAME", m.caps_name)),
        ];
        let mount = self.mounted();
        std::fs::create_dir_all(&mount).unwrap();
        match self.layout {
            Layout::Plain => {
                for (name, text) in files {
                    std::fs::write(mount.join(name), text).unwrap();
                }
            }
            Layout::Mounted => {
                self.generation += 1;
                let version = format!("..2026_12_02_{:02}", self.generation);
                std::fs::create_dir(mount.join(&version)).unwrap();
                for (name, text) in files {
                    std::fs::write(mount.join(&version).join(name), text).unwrap();
                    let link = mount.join(name);
                    if std::fs::symlink_metadata(&link).is_err() {
                        std::os::unix::fs::symlink(Path::new("..data").join(name), &link).unwrap();
                    }
                }
                let tmp = mount.join("..data_tmp");
                std::os::unix::fs::symlink(&version, &tmp).unwrap();
                std::fs::rename(&tmp, mount.join("..data")).unwrap();
            }
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("proxy.log")).unwrap_or_default()
    }

    fn hangup(&self) {
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -HUP failed");
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + WAIT;
        while http_get(self.admin_addr, "/ready").await.map(|(s, _)| s) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "never ready; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The value of one series at `/metrics`.
    async fn metric(&self, series: &str) -> f64 {
        let (_, body) = http_get(self.admin_addr, "/metrics")
            .await
            .expect("/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until `interop_proxy_reloads_total{result}` reaches `want`.
    async fn reloads_reach(&self, result: &str, want: f64, within: Duration) {
        let series = format!("interop_proxy_reloads_total{{result=\"{result}\"}}");
        let deadline = Instant::now() + within;
        while self.metric(&series).await < want {
            assert!(
                Instant::now() < deadline,
                "{series} never reached {want}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn client(&self, account: u64) -> ClientOptions {
        let mut options = ClientOptions::new(account);
        options.root_key = Some(self.provider.root.public);
        options
    }

    /// A fresh login; returns the static key the proxy showed.
    async fn login(&self, account: u64) -> (SimClient, [u8; 32]) {
        let client = SimClient::login(self.proxy_addr, &self.client(account))
            .await
            .unwrap_or_else(|e| panic!("login failed: {e}; log:\n{}", self.log()));
        let key = client.server_static.expect("XX shows the key");
        (client, key)
    }

    /// The `ver` the server saw in a presence `client` sent now.
    async fn advertised_ver(&self, client: &mut SimClient, account: u64, id: &str) -> String {
        client
            .send(&Stanza::from_element(
                Element::new("presence").with_attr("id", id),
            ))
            .await
            .unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(p) = self
                .server
                .received(account)
                .into_iter()
                .find(|s| s.node().attr("id").as_deref() == Some(id))
            {
                return p
                    .node()
                    .find("c")
                    .unwrap()
                    .attr("ver")
                    .unwrap()
                    .into_owned();
            }
            assert!(Instant::now() < deadline, "presence {id} never arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Material with a new key and its chain, from the same provider.
    fn rotated(&self, caps_name: &'static str) -> Material {
        let static_key = Keypair::generate();
        let chain = self
            .provider
            .issue(&static_key.public, Duration::from_secs(7200));
        Material {
            static_key,
            chain,
            caps_name,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A message to the client's own account comes back through the proxy.
async fn round_trip(client: &mut SimClient, account: u64, id: &str) {
    let payload = Opaque::from_bytes(b"c2VjcmV0IHBheWxvYWQ=".to_vec());
    client
        .send(&sim::message(account, id, payload.clone()))
        .await
        .unwrap();
    let got = recv_skip_acks(client).await.expect("message came back");
    assert_eq!(attr(&got, "id").as_deref(), Some(id));
}

#[tokio::test]
async fn sighup_loads_a_new_key_and_chain_while_a_session_relays() {
    let mut proxy = Proxy::start(Layout::Plain).await;
    let (mut old, old_key) = proxy.login(1).await;
    round_trip(&mut old, 1, "before").await;
    let before = proxy
        .metric("interop_proxy_cert_chain_not_after_seconds")
        .await;

    let new = proxy.rotated("Example 1.0");
    let new_public = new.static_key.public;
    proxy.write_material(&new);
    proxy.hangup();
    proxy.reloads_reach("ok", 1.0, WAIT).await;

    let (_fresh, fresh_key) = proxy.login(2).await;
    assert_eq!(fresh_key, new_public, "a new session sees the new key");
    assert_ne!(old_key, new_public);
    // The established session is undisturbed.
    round_trip(&mut old, 1, "after").await;
    let after = proxy
        .metric("interop_proxy_cert_chain_not_after_seconds")
        .await;
    assert!(
        after > before + 3000.0,
        "the gauge shows the new chain: {before} -> {after}"
    );
}

/// A refused reload: the old material stays in force, the warning names the file.
async fn refused(proxy: &mut Proxy, break_it: impl FnOnce(&mut Proxy), file_and_reason: &[&str]) {
    let (mut old, old_key) = proxy.login(1).await;
    break_it(proxy);
    proxy.hangup();
    proxy.reloads_reach("error", 1.0, WAIT).await;
    assert_eq!(
        proxy
            .metric("interop_proxy_reloads_total{result=\"ok\"}")
            .await,
        0.0
    );
    let log = proxy.log();
    for needle in file_and_reason {
        assert!(log.contains(needle), "no {needle:?} in the log:\n{log}");
    }
    let (_fresh, key) = proxy.login(2).await;
    assert_eq!(key, old_key, "new sessions still get the old key");
    round_trip(&mut old, 1, "still").await;
}

#[tokio::test]
async fn an_invalid_chain_changes_nothing() {
    let mut proxy = Proxy::start(Layout::Plain).await;
    refused(
        &mut proxy,
        |p| std::fs::write(p.mounted().join("chain.b64"), "bm90IGEgY2hhaW4=").unwrap(),
        &["noise.cert_chain_file", "chain.b64"],
    )
    .await;
}

#[tokio::test]
async fn a_chain_for_another_key_changes_nothing() {
    let mut proxy = Proxy::start(Layout::Plain).await;
    refused(
        &mut proxy,
        |p| {
            let other = p.rotated("Example 1.0");
            let chain = base64::engine::general_purpose::STANDARD.encode(&other.chain);
            std::fs::write(p.mounted().join("chain.b64"), chain).unwrap();
        },
        &["noise.cert_chain_file", "check 6"],
    )
    .await;
}

#[tokio::test]
async fn an_unreadable_key_file_changes_nothing() {
    let mut proxy = Proxy::start(Layout::Plain).await;
    refused(
        &mut proxy,
        |p| std::fs::remove_file(p.mounted().join("static.key")).unwrap(),
        &["noise.static_key_file", "static.key"],
    )
    .await;
}

#[tokio::test]
async fn a_kubernetes_secret_swap_is_loaded_without_sighup() {
    let mut proxy = Proxy::start(Layout::Mounted).await;
    let (mut old, _) = proxy.login(1).await;
    let new = proxy.rotated("Example 1.0");
    let new_public = new.static_key.public;
    proxy.write_material(&new);
    // SPEC §9: noticed within 10 s.
    proxy
        .reloads_reach("ok", 1.0, Duration::from_secs(10))
        .await;
    let (_fresh, key) = proxy.login(2).await;
    assert_eq!(key, new_public);
    round_trip(&mut old, 1, "after").await;
}

#[tokio::test]
async fn a_capabilities_change_reaches_new_sessions_only() {
    let mut proxy = Proxy::start(Layout::Mounted).await;
    let (mut old, _) = proxy.login(1).await;
    let old_ver = proxy.advertised_ver(&mut old, 1, "p1").await;

    let same_key = Material {
        static_key: Keypair::from_secret(
            SecretKey::read_file(&proxy.mounted().join("static.key")).unwrap(),
        ),
        chain: base64::engine::general_purpose::STANDARD
            .decode(
                std::fs::read_to_string(proxy.mounted().join("chain.b64"))
                    .unwrap()
                    .trim(),
            )
            .unwrap(),
        caps_name: "Example 1.1",
    };
    proxy.write_material(&same_key);
    proxy
        .reloads_reach("ok", 1.0, Duration::from_secs(10))
        .await;

    let (mut fresh, _) = proxy.login(2).await;
    let new_ver = proxy.advertised_ver(&mut fresh, 2, "p2").await;
    assert_ne!(
        new_ver, old_ver,
        "the new session advertises the new profile"
    );
    assert_eq!(
        proxy.advertised_ver(&mut old, 1, "p3").await,
        old_ver,
        "the established session keeps its profile"
    );
}
