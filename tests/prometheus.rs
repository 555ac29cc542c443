//! End to end with a real Prometheus: it scrapes the proxy's admin endpoint while the
//! reference client sends traffic, and the SPEC §7 series show the traffic. Also lints a
//! real scrape with `promtool check metrics`.
//!
//! Needs the `prometheus` and `promtool` binaries (Debian package `prometheus`; CI installs
//! it through `.ci/deploy-check`). Without them the test fails: it never passes silently.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use interop_proxy::sim::{self, SimClient};
use interop_proxy::stanza::Opaque;
use support::*;

/// How long Prometheus gets to start and scrape; its first scrape comes a few seconds
/// after start.
const PROMETHEUS_WAIT: Duration = Duration::from_secs(60);

/// Finds a program on `PATH` or fails the test saying how to install it.
fn require(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{program}` not found on PATH: this test needs a real Prometheus. \
                 Install it with `apt-get install prometheus` (or run .ci/deploy-check, \
                 which installs it)."
            )
        })
}

/// A Prometheus server on loopback scraping one target every second.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: SocketAddr) -> Prometheus {
        let binary = require("prometheus");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: interop-proxy\n    \
                 static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let addr = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        Prometheus { child, addr, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The value of an instant query's first sample, if it has one.
    async fn query(&self, promql: &str) -> Option<f64> {
        let body = get_ok(
            self.addr,
            &format!("/api/v1/query?query={}", encode(promql)),
        )
        .await?;
        let json: serde_json::Value = serde_json::from_str(&body).ok()?;
        json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// Polls `promql` until its value satisfies `ok`.
    async fn wait_until(&self, promql: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + PROMETHEUS_WAIT;
        loop {
            if let Some(v) = self.query(promql).await.filter(|v| ok(*v)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "`{promql}` never held in {PROMETHEUS_WAIT:?} (last: {:?}); prometheus log:\n{}",
                self.query(promql).await,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The body of `GET path` when the status is 200.
async fn get_ok(addr: SocketAddr, path: &str) -> Option<String> {
    match http_get(addr, path).await? {
        (200, body) => Some(body),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_sessions_and_stanzas() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let prometheus = Prometheus::start(d.admin_addr);

    // Two clients stay logged in and keep sending while Prometheus comes up.
    let mut clients = Vec::new();
    for account in [21, 22] {
        clients.push(
            SimClient::login(d.proxy_addr, &d.client(account))
                .await
                .unwrap(),
        );
    }
    let payload = Opaque::from_bytes(b"aW50ZXJvcA==".to_vec());
    let traffic = tokio::spawn(async move {
        let mut n = 0u64;
        loop {
            for (i, client) in clients.iter_mut().enumerate() {
                let to = [22, 21][i];
                if client
                    .send(&sim::message(to, &format!("m{n}"), payload.clone()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            n += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    prometheus
        .wait_until("up{job=\"interop-proxy\"}", |v| v == 1.0)
        .await;
    let active = prometheus
        .wait_until("interop_proxy_sessions_active", |v| v >= 2.0)
        .await;
    assert!(active >= 2.0);
    prometheus
        .wait_until("interop_proxy_connections_accepted_total", |v| v >= 2.0)
        .await;
    prometheus
        .wait_until(
            "sum(interop_proxy_stanzas_total{direction=\"to_server\",kind=\"message\"})",
            |v| v >= 2.0,
        )
        .await;
    prometheus
        .wait_until(
            "sum(interop_proxy_handshakes_total{leg=\"upstream\",result=\"ok\"})",
            |v| v >= 2.0,
        )
        .await;
    // The counters rose between scrapes, not just once.
    prometheus
        .wait_until(
            "increase(interop_proxy_stanzas_total{direction=\"to_client\",kind=\"message\"}[10s])",
            |v| v > 0.0,
        )
        .await;
    prometheus
        .wait_until(
            "histogram_quantile(0.99, sum by (le) (rate(interop_proxy_relay_duration_seconds_bucket[10s])))",
            |v| v > 0.0,
        )
        .await;
    prometheus
        .wait_until("interop_proxy_sessions_max", |v| v >= 1.0)
        .await;
    prometheus
        .wait_until("interop_proxy_build_info", |v| v == 1.0)
        .await;

    traffic.abort();
    let _ = d.stop.send(());
}

#[tokio::test]
async fn promtool_finds_nothing_to_lint_in_a_real_scrape() {
    let promtool = require("promtool");
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let mut client = SimClient::login(d.proxy_addr, &d.client(31)).await.unwrap();
    client
        .send(&sim::message(
            31,
            "lint",
            Opaque::from_bytes(b"bGludA==".to_vec()),
        ))
        .await
        .unwrap();
    recv_skip_acks(&mut client).await.unwrap();
    let scrape = get_ok(d.admin_addr, "/metrics").await.expect("a scrape");
    assert!(scrape.contains("interop_proxy_stanzas_total"), "{scrape}");

    let mut lint = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        lint.stdin
            .take()
            .unwrap()
            .write_all(scrape.as_bytes())
            .unwrap();
    }
    let out = lint.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
}
