//! `interop-proxy demo`: the proxy's main job, end to end, on loopback, with nothing to
//! configure. It starts the reference server, the proxy in front of it and a few
//! reference clients, exchanges messages, and checks that every `<enc>` payload arrived
//! byte-identical.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use rand::{Rng, RngCore};

use crate::app::App;
use crate::config::{AuthMode, Config, Version};
use crate::noise::{Keypair, SecretKey};
use crate::sim::{self, ClientOptions, Pki, ServerOptions, SimClient, SimServer};
use crate::stanza::{Encoding, Kind, Opaque};
use crate::transport::WireVersion;

/// The example capability file shipped in `config/`.
const EXAMPLE_CAPABILITIES: &str = include_str!("../config/capabilities.toml");

/// What the demo did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Client sessions through the proxy.
    pub sessions: usize,
    /// Messages sent by the clients.
    pub sent: u64,
    /// Messages received with a byte-identical payload.
    pub verified: u64,
    /// Messages received with a different payload, or never received.
    pub mismatched: u64,
    /// Payload bytes carried.
    pub payload_bytes: u64,
    /// Wall time of the exchange.
    pub elapsed: Duration,
    /// What the stanzas were encoded as.
    pub encoding: Encoding,
    /// Sessions whose client sent version 6.2 (dictionary 2); the others sent 6.3.
    pub sessions_dictionary_2: usize,
}

/// A whole deployment on loopback: reference server, proxy, keys.
pub struct Deployment {
    /// The reference server.
    pub server: SimServer,
    /// The proxy's client address.
    pub proxy_addr: SocketAddr,
    /// The proxy's admin address.
    pub admin_addr: SocketAddr,
    /// The provider's root, whose key clients pin.
    pub provider: Pki,
    /// The proxy's static public key, for clients that use IK.
    pub proxy_static: [u8; 32],
    /// Stops the proxy.
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// The proxy's task; ends after a drain.
    pub task: tokio::task::JoinHandle<()>,
    /// Key files live here until the deployment is dropped.
    pub dir: tempfile::TempDir,
    /// What the proxy, the server and [`Deployment::client`]s speak.
    pub encoding: Encoding,
}

impl Deployment {
    /// Starts a reference server and a proxy with `tune` applied to its configuration.
    pub async fn start(tune: impl FnOnce(&mut Config, &SimServer)) -> anyhow::Result<Self> {
        let whatsapp = Pki::generate();
        let server_key = Keypair::generate();
        let server = SimServer::start(ServerOptions {
            cert_chain: whatsapp.issue(&server_key.public, Duration::from_secs(86400)),
            static_key: server_key,
        })
        .await?;

        let dir = tempfile::tempdir()?;
        let (mut config, provider, proxy_key) =
            loopback_config(dir.path(), &server.addr().to_string(), whatsapp.root.public)?;
        tune(&mut config, &server);
        server.set_encoding(config.stanza.encoding);

        let app = App::bind(&config).await?;
        let proxy_addr = app.proxy_addr();
        let admin_addr = app.admin_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            server,
            proxy_addr,
            admin_addr,
            provider,
            proxy_static: proxy_key.public,
            stop,
            task,
            dir,
            encoding: config.stanza.encoding,
        })
    }

    /// Options for a client of `account` that verifies the proxy's chain.
    pub fn client(&self, account: u64) -> ClientOptions {
        let mut options = ClientOptions::new(account);
        options.root_key = Some(self.provider.root.public);
        options.encoding = self.encoding;
        options
    }
}

/// A proxy configuration on loopback ports in front of `upstream`, with fresh keys, a
/// chain from a fresh provider root and the shipped capability file, all written into
/// `dir`; authentication is off. Returns the configuration, the provider's root (which
/// clients pin) and the proxy's static key.
pub fn loopback_config(
    dir: &Path,
    upstream: &str,
    upstream_root: [u8; 32],
) -> anyhow::Result<(Config, Pki, Keypair)> {
    let provider = Pki::generate();
    let proxy_key = Keypair::generate();
    let static_key_file = dir.join("static.key");
    let seed_file = dir.join("seed.key");
    let chain_file = dir.join("chain.b64");
    let caps_file = dir.join("capabilities.toml");
    std::fs::write(&static_key_file, proxy_key.secret.to_file_text().as_bytes())?;
    std::fs::write(&seed_file, SecretKey::generate().to_file_text().as_bytes())?;
    let chain = provider.issue(&proxy_key.public, Duration::from_secs(86400));
    std::fs::write(
        &chain_file,
        base64::engine::general_purpose::STANDARD.encode(chain),
    )?;
    // The shipped capability file, so the proxy runs from any directory.
    std::fs::write(&caps_file, EXAMPLE_CAPABILITIES)?;

    let mut config = Config {
        listen: "127.0.0.1:0".parse()?,
        ..Config::default()
    };
    config.admin.listen = "127.0.0.1:0".parse()?;
    config.noise.static_key_file = Some(static_key_file);
    config.noise.cert_chain_file = Some(chain_file);
    config.upstream.key_seed_file = Some(seed_file);
    config.upstream.addr = Some(upstream.to_string());
    config.upstream.root_key = upstream_root;
    config.auth.mode = AuthMode::None;
    config.caps.file = caps_file;
    Ok((config, provider, proxy_key))
}

/// Runs the demo: `clients` sessions exchanging messages for `duration`, in
/// `encoding`. In binary, clients alternate between versions 6.3 and 6.2, so both token
/// dictionaries are in use at once.
pub async fn run(
    clients: usize,
    duration: Duration,
    encoding: Encoding,
) -> anyhow::Result<Summary> {
    let deployment = Deployment::start(|c, _| {
        c.stanza.encoding = encoding;
        c.client.versions = vec![Version::new(6, 3), Version::new(6, 2)];
    })
    .await?;
    let clients = clients.max(2);
    let mut summary_v2 = 0;
    let mut logged_in = Vec::new();
    for i in 0..clients {
        let mut options = deployment.client(1000 + i as u64);
        if i % 4 >= 2 {
            options.version = WireVersion { major: 6, minor: 2 };
            summary_v2 += 1;
        }
        // Half the clients pin the proxy's key and use IK; the rest use XX.
        if i % 2 == 1 {
            options.server_key = Some(deployment.proxy_static);
        }
        logged_in.push(SimClient::login(deployment.proxy_addr, &options).await?);
    }

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, client) in logged_in.into_iter().enumerate() {
        let to = 1000 + ((i + 1) % clients) as u64;
        tasks.push(tokio::spawn(exchange(client, i, to, duration, encoding)));
    }
    let mut summary = Summary {
        sessions: clients,
        encoding,
        sessions_dictionary_2: summary_v2,
        ..Summary::default()
    };
    let mut expected: HashMap<String, Opaque> = HashMap::new();
    let mut received: Vec<(String, Opaque)> = Vec::new();
    for task in tasks {
        let (sent, got, bytes) = task.await??;
        summary.sent += sent.len() as u64;
        summary.payload_bytes += bytes;
        expected.extend(sent);
        received.extend(got);
    }
    for (id, payload) in &received {
        match expected.remove(id) {
            Some(want) if &want == payload => summary.verified += 1,
            _ => summary.mismatched += 1,
        }
    }
    summary.mismatched += expected.len() as u64;
    summary.elapsed = started.elapsed();
    let _ = deployment.stop.send(());
    let _ = deployment.task.await;
    Ok(summary)
}

/// One client's part: send messages to `to` for `duration`, one at a time, and collect
/// what arrives; returns (sent id → payload, received, payload bytes sent).
async fn exchange(
    client: SimClient,
    index: usize,
    to: u64,
    duration: Duration,
    encoding: Encoding,
) -> anyhow::Result<(HashMap<String, Opaque>, Vec<(String, Opaque)>, u64)> {
    let (mut tx, mut rx) = client.into_split();
    let receiver = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Ok(Some(stanza)) = rx.recv().await {
            let root = stanza.node();
            if stanza.kind() != Kind::Message {
                continue;
            }
            let id = root.attr("id").unwrap_or_default().into_owned();
            if let Some(payload) = root.find("enc").and_then(|e| e.opaque()) {
                got.push((id, payload.clone()));
            }
        }
        got
    });
    let mut sent = HashMap::new();
    let mut bytes = 0u64;
    let deadline = Instant::now() + duration;
    let mut n = 0u64;
    while Instant::now() < deadline {
        let size = rand::thread_rng().gen_range(0..=4096);
        let mut raw = vec![0u8; size];
        rand::thread_rng().fill_bytes(&mut raw);
        // XML carries the ciphertext as base64 text, binary as raw bytes.
        let payload = match encoding {
            Encoding::Xml => base64::engine::general_purpose::STANDARD
                .encode(&raw)
                .into_bytes(),
            Encoding::Binary => raw,
        };
        bytes += payload.len() as u64;
        let id = format!("{index}-{n}");
        let payload = Opaque::from_bytes(payload);
        tx.send(&sim::message(to, &id, payload.clone())).await?;
        sent.insert(id, payload);
        n += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Let the last messages arrive, then close; the receiver ends when the proxy closes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    tx.close().await;
    let got = tokio::time::timeout(Duration::from_secs(10), receiver).await??;
    Ok((sent, got, bytes))
}
