//! The image of `deploy/Dockerfile`, run with podman as the Kubernetes manifest runs the
//! sidecar: the image's own user (65532), a read-only root filesystem without scratch
//! tmpfs mounts, no capabilities, the key files of a Secret mounted read-only, settings
//! in `INTEROP_PROXY_*` variables. In front of the reference server on the host's
//! loopback (host networking), two reference clients log in through the container and
//! exchange stanzas both ways, and SIGTERM drains it to exit status 0.
//!
//! Opt-in: runs when `INTEROP_PROXY_IMAGE` names an image (`.ci/image-check` builds one
//! and sets it); otherwise it says so and passes. Needs rootful podman, whose uid 65532
//! is the host's, so that the host can give the key files to that user and read the
//! container process's credentials in `/proc`.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use interop_proxy::sim::{self, ClientOptions, SimClient};
use interop_proxy::stanza::{Opaque, Stanza};
use support::*;

const IMAGE_VAR: &str = "INTEROP_PROXY_IMAGE";
const BIN: &str = env!("CARGO_BIN_EXE_interop-proxy");
/// Where the manifest mounts the Secret `interop-proxy-keys`.
const SECRETS: &str = "/var/run/secrets/interop-proxy";
/// The image's user: distroless's `nonroot`.
const NONROOT: u32 = 65532;
/// Start-up includes the container runtime's own, so more than [`WAIT`].
const START: Duration = Duration::from_secs(30);

/// The test's podman container; removed however the test ends.
struct Container {
    name: String,
    admin_addr: SocketAddr,
}

impl Container {
    /// `podman inspect --format FORMAT` of this container.
    async fn inspect(&self, format: &str) -> String {
        podman(&["inspect", "--format", format, &self.name]).await
    }

    /// What the proxy logged so far (its stderr, then its stdout).
    async fn logs(&self) -> String {
        let out = tokio::process::Command::new("podman")
            .args(["logs", &self.name])
            .output()
            .await
            .expect("podman runs");
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
    }

    /// Polls the admin port until `path` answers `code`, failing early if the container
    /// exited.
    async fn wait_for(&self, path: &str, code: u16, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if http_get(self.admin_addr, path).await.map(|(s, _)| s) == Some(code) {
                return;
            }
            let status = self.inspect("{{.State.Status}}").await;
            assert!(
                Instant::now() < deadline && status != "exited",
                "{path} never answered {code} (container {status}); logs:\n{}",
                self.logs().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rm", "--force", "--time", "0", &self.name])
            .output();
    }
}

/// Runs podman and returns its trimmed stdout; fails the test when podman fails.
async fn podman(args: &[&str]) -> String {
    let out = tokio::process::Command::new("podman")
        .args(args)
        .output()
        .await
        .expect("podman runs (install it, or unset INTEROP_PROXY_IMAGE)");
    assert!(
        out.status.success(),
        "podman {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs the binary's key commands as an operator would; returns their stdout.
fn cli(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("binary runs");
    assert!(
        out.status.success(),
        "interop-proxy {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn public_key(base64_text: &str) -> [u8; 32] {
    base64::engine::general_purpose::STANDARD
        .decode(base64_text)
        .expect("keygen prints base64")
        .try_into()
        .expect("a 32-byte key")
}

/// The provider's keys, made with `interop-proxy keygen` and `issue-chain`: the root
/// stays outside the Secret directory, which holds what the manifest's Secret holds,
/// owned by the image's user and readable by it only.
struct Keys {
    _dir: tempfile::TempDir,
    secrets: PathBuf,
    provider_root: [u8; 32],
    proxy_static: [u8; 32],
}

impl Keys {
    fn issue() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets");
        std::fs::create_dir(&secrets).unwrap();
        let path = |p: &Path| p.to_str().unwrap().to_string();
        let root = path(&dir.path().join("root.key"));
        let static_key = path(&secrets.join("static.key"));
        let provider_root = public_key(&cli(&["keygen", "--out", &root]));
        let proxy_static = public_key(&cli(&["keygen", "--out", &static_key]));
        cli(&["keygen", "--out", &path(&secrets.join("upstream-seed.key"))]);
        cli(&[
            "issue-chain",
            "--root",
            &root,
            "--key",
            &static_key,
            "--days",
            "1",
            "--out",
            &path(&secrets.join("cert-chain.b64")),
        ]);
        for entry in std::fs::read_dir(&secrets).unwrap() {
            give_to_nonroot(&entry.unwrap().path(), 0o400);
        }
        give_to_nonroot(&secrets, 0o500);
        Keys {
            _dir: dir,
            secrets,
            provider_root,
            proxy_static,
        }
    }
}

fn give_to_nonroot(path: &Path, mode: u32) {
    std::os::unix::fs::chown(path, Some(NONROOT), Some(NONROOT)).unwrap_or_else(|e| {
        panic!(
            "chown {} to {NONROOT}: {e} (the test runs as root, with rootful podman)",
            path.display()
        )
    });
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A base64 `<enc>` payload of `n` raw bytes that differ from message to message.
fn payload(n: usize, seed: u8) -> Opaque {
    let raw: Vec<u8> = (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    Opaque::from_bytes(base64::engine::general_purpose::STANDARD.encode(raw))
}

fn enc(stanza: &Stanza) -> Option<&Opaque> {
    stanza.node().find("enc")?.opaque()
}

/// A `Name:\tvalue` line of `/proc/PID/status`.
fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name} in /proc/PID/status"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The per-mount options of the mount at `point` in `/proc/PID/mountinfo` (the last
/// one, which hides the others).
fn mount_options(mountinfo: &str, point: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            (fields.get(4) == Some(&point)).then(|| fields[5].to_string())
        })
        .next_back()
        .unwrap_or_else(|| panic!("no mount at {point}:\n{mountinfo}"))
        .split(',')
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_as_nonroot_read_only_and_relays_a_login_and_stanzas() {
    let Ok(image) = std::env::var(IMAGE_VAR) else {
        // Past libtest's capture, which would hide an eprintln! of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "tests/container.rs: NOT RUN: set {IMAGE_VAR} to an image of deploy/Dockerfile \
             (.ci/image-check builds one and runs this test with it)"
        );
        return;
    };

    // WhatsApp's side: a root of its own and the reference server on host loopback.
    let (whatsapp, server) = support::binary::whatsapp_server().await;
    let keys = Keys::issue();

    let proxy_addr = free_port();
    let admin_addr = free_port();
    let name = format!(
        "interop-proxy-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let env = [
        format!("INTEROP_PROXY_NOISE__STATIC_KEY_FILE={SECRETS}/static.key"),
        format!("INTEROP_PROXY_NOISE__CERT_CHAIN_FILE={SECRETS}/cert-chain.b64"),
        format!("INTEROP_PROXY_UPSTREAM__KEY_SEED_FILE={SECRETS}/upstream-seed.key"),
        format!("INTEROP_PROXY_LISTEN={proxy_addr}"),
        format!("INTEROP_PROXY_ADMIN__LISTEN={admin_addr}"),
        format!("INTEROP_PROXY_UPSTREAM__ADDR={}", server.addr()),
        format!(
            "INTEROP_PROXY_UPSTREAM__ROOT_KEY={}",
            base64::engine::general_purpose::STANDARD.encode(whatsapp.root.public)
        ),
        "INTEROP_PROXY_AUTH__MODE=none".to_string(),
        "INTEROP_PROXY_SHUTDOWN__GRACE=30s".to_string(),
    ];
    let volume = format!("{}:{SECRETS}:ro", keys.secrets.display());
    let mut args = vec![
        "run",
        "--detach",
        "--name",
        &name,
        "--network",
        "host",
        // readOnlyRootFilesystem: no tmpfs on /tmp, /run or /var/tmp either.
        "--read-only",
        "--read-only-tmpfs=false",
        "--cap-drop",
        "all",
        "--security-opt",
        "no-new-privileges",
        "--volume",
        &volume,
    ];
    for e in &env {
        args.extend(["--env", e.as_str()]);
    }
    // No --user: the image's USER is under test.
    args.push(&image);
    let container = Container {
        name: name.clone(),
        admin_addr,
    };
    podman(&args).await;
    container.wait_for("/ready", 200, START).await;
    println!("container {name} of {image} is ready on {admin_addr}");

    // Who runs, on what: podman's view, then the kernel's.
    let inspected = container
        .inspect("{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.State.Pid}}")
        .await;
    let fields: Vec<&str> = inspected.split(' ').collect();
    let [user, read_only, pid] = fields[..] else {
        panic!("podman inspect: {inspected}");
    };
    assert_eq!(user, "65532:65532", "the image's USER");
    assert_eq!(read_only, "true", "podman's ReadonlyRootfs");
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap();
    assert_eq!(
        cmdline, b"/usr/local/bin/interop-proxy\0",
        "the container's process is the image's ENTRYPOINT"
    );
    let status = std::fs::read_to_string(proc_dir.join("status")).unwrap();
    let ids = format!("{NONROOT} {NONROOT} {NONROOT} {NONROOT}");
    assert_eq!(
        status_field(&status, "Uid"),
        ids,
        "real, effective, saved, fs uid"
    );
    assert_eq!(
        status_field(&status, "Gid"),
        ids,
        "real, effective, saved, fs gid"
    );
    assert_eq!(status_field(&status, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    let mountinfo = std::fs::read_to_string(proc_dir.join("mountinfo")).unwrap();
    let root_options = mount_options(&mountinfo, "/");
    assert!(
        root_options.iter().any(|o| o == "ro"),
        "the root filesystem is mounted {root_options:?}"
    );
    let secret_options = mount_options(&mountinfo, SECRETS);
    assert!(
        secret_options.iter().any(|o| o == "ro"),
        "the key files are mounted {secret_options:?}"
    );
    for point in ["/tmp", "/run", "/var/tmp"] {
        assert!(
            !mountinfo
                .lines()
                .any(|l| l.split(' ').nth(4) == Some(point)),
            "a writable {point} is mounted:\n{mountinfo}"
        );
    }
    println!(
        "pid {pid}: uid/gid {NONROOT}, no capabilities, no_new_privs, / mounted {}, {SECRETS} {}",
        root_options.join(","),
        secret_options.join(",")
    );

    // Logins through the container, verifying the chain `issue-chain` made: account 1
    // with XX, account 2 with IK on the key `keygen` printed.
    let client = |account: u64, ik: bool| {
        let mut options = ClientOptions::new(account);
        options.root_key = Some(keys.provider_root);
        options.server_key = ik.then_some(keys.proxy_static);
        options
    };
    let login = |options: ClientOptions| async move {
        match SimClient::login(proxy_addr, &options).await {
            Ok(c) => c,
            Err(e) => panic!("login of {} failed: {e}", options.account),
        }
    };
    let mut a = login(client(1, false)).await;
    let mut b = login(client(2, true)).await;
    assert_eq!(
        server
            .state()
            .logins
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );

    // Client to server: each stanza reaches the server as the client wrote it, and the
    // recipient gets its payload byte for byte.
    let mut sent = Vec::new();
    for (i, size) in [1, 300, 4096, 48 * 1024].into_iter().enumerate() {
        let message = sim::message(2, &format!("a-{size}"), payload(size, i as u8));
        a.send(&message).await.unwrap();
        let got = recv_skip_acks(&mut b).await.expect("a message for 2");
        assert_eq!(attr(&got, "id"), attr(&message, "id"));
        assert_eq!(attr(&got, "from").as_deref(), Some(sim::jid(1).as_str()));
        assert_eq!(enc(&got), enc(&message), "payload of {size} bytes to 2");
        sent.push(message);
    }
    let at_server: Vec<Stanza> = server
        .received(1)
        .into_iter()
        .filter(|s| s.node().is_named("message"))
        .collect();
    assert_eq!(
        at_server.len(),
        sent.len(),
        "messages the server got from 1"
    );
    for (got, message) in at_server.iter().zip(&sent) {
        assert_eq!(
            got.to_body(),
            message.to_body(),
            "the server got it as sent"
        );
    }
    // The other way, and a keepalive.
    let back = sim::message(1, "b-back", payload(1000, 9));
    b.send(&back).await.unwrap();
    let got = recv_skip_acks(&mut a).await.expect("a message for 1");
    assert_eq!(enc(&got), enc(&back), "payload to 1");
    a.send(&sim::ping("keepalive")).await.unwrap();
    let pong = recv_skip_acks(&mut a).await.expect("a ping result");
    assert_eq!(attr(&pong, "id").as_deref(), Some("keepalive"));
    assert_eq!(attr(&pong, "type").as_deref(), Some("result"));
    // Server to client.
    let pushed = sim::message(1, "pushed", payload(2000, 7));
    assert!(server.push(1, pushed.clone()).await);
    let got = recv_skip_acks(&mut a).await.expect("the pushed message");
    assert_eq!(attr(&got, "id").as_deref(), Some("pushed"));
    assert_eq!(enc(&got), enc(&pushed), "pushed payload");
    let (code, metrics) = http_get(admin_addr, "/metrics").await.expect("/metrics");
    assert_eq!(code, 200);
    let active = metrics.lines().find_map(|l| {
        l.strip_prefix("interop_proxy_sessions_active ")?
            .parse::<f64>()
            .ok()
    });
    assert_eq!(active, Some(2.0), "sessions_active");
    println!(
        "2 logins (XX, IK) through the container; {} messages and a ping relayed byte for byte",
        sent.len() + 2
    );

    // SIGTERM with a session live: /ready turns 503, the session keeps relaying, and the
    // process exits 0 once it ends, long before shutdown.grace (30 s).
    b.close().await;
    podman(&["kill", "--signal", "TERM", &container.name]).await;
    container.wait_for("/ready", 503, WAIT).await;
    echo(&mut a, 1, "draining").await;
    a.close().await;
    let closed = Instant::now();
    loop {
        let state = container
            .inspect("{{.State.Status}} {{.State.ExitCode}}")
            .await;
        if state.starts_with("exited") {
            assert_eq!(state, "exited 0", "logs:\n{}", container.logs().await);
            break;
        }
        assert!(
            closed.elapsed() < WAIT,
            "still {state} {:?} after its last session ended; logs:\n{}",
            closed.elapsed(),
            container.logs().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "SIGTERM: drained, exit status 0 {:?} after the last session ended",
        closed.elapsed()
    );

    // The image's environment holds: JSON log lines, one per session at the end.
    let logs = container.logs().await;
    println!("the container's log:\n{logs}");
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }
    assert_eq!(logs.matches("session ended").count(), 2, "logs:\n{logs}");
}
