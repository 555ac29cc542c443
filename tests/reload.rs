//! SPEC §9 on the real binary: new keys, chain and files are loaded on SIGHUP or when
//! they change on disk (a Kubernetes `..data` swap included), all or nothing; sessions
//! started afterwards use them, established ones keep theirs and keep relaying; a
//! refused reload changes nothing, names the file, and is counted.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use interop_proxy::noise::{Keypair, SecretKey};
use interop_proxy::sim::SimClient;
use interop_proxy::stanza::{Element, Stanza};
use support::binary::{round_trip, Binary, Files};
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

/// The proxy's key, chain and capability profile name, as one version of the Secret.
struct Material {
    static_key: Keypair,
    chain: Vec<u8>,
    caps_name: &'static str,
}

/// The directory the configuration names the files in.
struct Mount {
    path: PathBuf,
    layout: Layout,
    /// Versions of the mounted Secret written so far.
    generation: u32,
}

impl Mount {
    /// Writes the key, chain and capability file. Plain: over the old files, in place.
    /// Mounted: as Kubernetes does, into a new directory, then one atomic rename of the
    /// `..data` symlink.
    fn write(&mut self, m: &Material) {
        let files = [
            ("static.key", m.static_key.secret.to_file_text().to_string()),
            (
                "chain.b64",
                base64::engine::general_purpose::STANDARD.encode(&m.chain),
            ),
            ("capabilities.toml", CAPS.replace("NAME", m.caps_name)),
        ];
        std::fs::create_dir_all(&self.path).unwrap();
        match self.layout {
            Layout::Plain => {
                for (name, text) in files {
                    std::fs::write(self.path.join(name), text).unwrap();
                }
            }
            Layout::Mounted => {
                self.generation += 1;
                let version = format!("..2026_12_02_{:02}", self.generation);
                std::fs::create_dir(self.path.join(&version)).unwrap();
                for (name, text) in files {
                    std::fs::write(self.path.join(&version).join(name), text).unwrap();
                    let link = self.path.join(name);
                    if std::fs::symlink_metadata(&link).is_err() {
                        std::os::unix::fs::symlink(Path::new("..data").join(name), &link).unwrap();
                    }
                }
                let tmp = self.path.join("..data_tmp");
                std::os::unix::fs::symlink(&version, &tmp).unwrap();
                std::fs::rename(&tmp, self.path.join("..data")).unwrap();
            }
        }
    }
}

/// The proxy binary with its files in a [`Mount`].
struct Proxy {
    bin: Binary,
    mount: Mount,
}

impl std::ops::Deref for Proxy {
    type Target = Binary;

    fn deref(&self) -> &Binary {
        &self.bin
    }
}

impl Proxy {
    async fn start(layout: Layout) -> Proxy {
        let mut mount = None;
        let bin = Binary::start(|dir, provider, key| {
            let mut m = Mount {
                path: dir.join("secret"),
                layout,
                generation: 0,
            };
            m.write(&Material {
                static_key: key.clone(),
                chain: provider.issue(&key.public, Duration::from_secs(3600)),
                caps_name: "Example 1.0",
            });
            let files = Files {
                static_key: m.path.join("static.key"),
                chain: m.path.join("chain.b64"),
                extra: format!("[caps]\nfile = {:?}\n", m.path.join("capabilities.toml")),
            };
            mount = Some(m);
            files
        })
        .await;
        Proxy {
            bin,
            mount: mount.expect("written"),
        }
    }

    /// The directory the configuration names the files in.
    fn mounted(&self) -> &Path {
        &self.mount.path
    }

    fn write_material(&mut self, m: &Material) {
        self.mount.write(m);
    }

    fn hangup(&self) {
        self.signal("HUP");
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

    /// The key and chain in force, with another capability profile.
    fn same_key(&self, caps_name: &'static str) -> Material {
        let static_key =
            Keypair::from_secret(SecretKey::read_file(&self.mounted().join("static.key")).unwrap());
        let chain = base64::engine::general_purpose::STANDARD
            .decode(
                std::fs::read_to_string(self.mounted().join("chain.b64"))
                    .unwrap()
                    .trim(),
            )
            .unwrap();
        Material {
            static_key,
            chain,
            caps_name,
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

    let same_key = proxy.same_key("Example 1.1");
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

/// What the proxy keeps of returning devices survives a reload that leaves the static
/// key and the seed alone, and is dropped by one that changes the key, since its
/// results were computed with the old one.
#[tokio::test]
async fn returning_devices_are_kept_over_a_reload_unless_the_key_changed() {
    let mut proxy = Proxy::start(Layout::Plain).await;
    let device = Keypair::generate();
    let series =
        |result: &str| format!("interop_proxy_returning_devices_total{{result=\"{result}\"}}");
    let (hit, miss) = (series("hit"), series("miss"));
    // Logs the device in and out; returns the key the proxy showed it.
    let log_in = |proxy: &Proxy| {
        let mut options = proxy.client(5);
        options.static_key = device.clone();
        let addr = proxy.proxy_addr;
        async move {
            let mut c = SimClient::login(addr, &options).await.expect("login");
            round_trip(&mut c, 5, "returning").await;
            let key = c.server_static.expect("XX shows the key");
            c.close().await;
            key
        }
    };
    log_in(&proxy).await;
    log_in(&proxy).await;
    assert_eq!(proxy.metric(&miss).await, 1.0);
    assert_eq!(proxy.metric(&hit).await, 1.0);

    // The same key and chain, another capability profile.
    let same_key = proxy.same_key("Example 1.1");
    proxy.write_material(&same_key);
    proxy.hangup();
    proxy.reloads_reach("ok", 1.0, WAIT).await;
    log_in(&proxy).await;
    assert_eq!(proxy.metric(&hit).await, 2.0, "kept over the reload");
    assert_eq!(proxy.metric(&miss).await, 1.0);

    // A new key: the first login that sees it computes everything again.
    let new = proxy.rotated("Example 1.1");
    proxy.write_material(&new);
    proxy.hangup();
    let deadline = Instant::now() + WAIT;
    loop {
        let (hits, misses) = (proxy.metric(&hit).await, proxy.metric(&miss).await);
        if log_in(&proxy).await == new.static_key.public {
            assert_eq!(proxy.metric(&hit).await, hits, "dropped with the old key");
            assert_eq!(proxy.metric(&miss).await, misses + 1.0);
            break;
        }
        assert!(Instant::now() < deadline, "the new key never took effect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
