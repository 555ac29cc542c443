//! The processes of a bench run other than the clients: the reference server, the plain
//! TCP relay and the proxy each run in a child process (this binary, re-executed with the
//! hidden `bench-child` subcommand), so that their CPU time and resident memory can be
//! read from `/proc` apart from the clients', and so that each has its own open-file
//! limit.
//!
//! A child prints one line `READY key=value ...` on stdout once it listens, and exits
//! when its stdin reaches end of file (the parent closed it, or died).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;

use crate::app::App;
use crate::noise::{keys, Keypair};
use crate::sim::{Pki, ServerOptions, SimServer};

/// The hidden `bench-child` subcommand.
#[derive(clap::Args, Clone, Debug)]
pub struct ChildArgs {
    /// Which process to be.
    #[command(subcommand)]
    pub role: Role,
}

/// The processes a bench run starts.
#[derive(clap::Subcommand, Clone, Debug)]
pub enum Role {
    /// The reference WhatsApp-side server, with fresh keys.
    Server,
    /// A plain TCP relay (`copy_bidirectional`) in front of `upstream`.
    Relay {
        /// The reference server's address.
        #[arg(long)]
        upstream: SocketAddr,
    },
    /// interop-proxy in front of `upstream`, with fresh keys and `auth.mode = "none"`.
    Proxy {
        /// The reference server's address.
        #[arg(long)]
        upstream: SocketAddr,
        /// The root key the server's chain is issued from, base64.
        #[arg(long)]
        root: String,
        /// `limits.handshake_timeout`, in seconds, instead of the default.
        #[arg(long)]
        handshake_timeout_s: Option<u64>,
    },
}

/// Runs one child role until stdin closes.
pub fn run_child(args: ChildArgs) -> anyhow::Result<()> {
    raise_nofile();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let stdin_closed = stdin_closed();
        match args.role {
            Role::Server => {
                let whatsapp = Pki::generate();
                let key = Keypair::generate();
                let server = SimServer::start(ServerOptions {
                    cert_chain: whatsapp.issue(&key.public, Duration::from_secs(86400)),
                    static_key: key.clone(),
                })
                .await?;
                ready(&[
                    ("addr", server.addr().to_string()),
                    ("root", b64(&whatsapp.root.public)),
                    ("static", b64(&key.public)),
                ]);
                stdin_closed.await;
                drop(server);
            }
            Role::Relay { upstream } => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                ready(&[("addr", listener.local_addr()?.to_string())]);
                tokio::select! {
                    _ = super::plain_relay::serve(listener, upstream) => {}
                    _ = stdin_closed => {}
                }
            }
            Role::Proxy {
                upstream,
                root,
                handshake_timeout_s,
            } => {
                let root = keys::public_key_from_base64(&root).map_err(anyhow::Error::msg)?;
                let dir = tempfile::tempdir()?;
                let (mut config, provider, proxy_key) =
                    crate::demo::loopback_config(dir.path(), &upstream.to_string(), root)?;
                config.shutdown.grace = Duration::from_millis(100);
                if let Some(secs) = handshake_timeout_s {
                    config.limits.handshake_timeout = Duration::from_secs(secs);
                }
                let app = App::bind(&config).await?;
                ready(&[
                    ("addr", app.proxy_addr().to_string()),
                    ("root", b64(&provider.root.public)),
                    ("static", b64(&proxy_key.public)),
                    ("max_sessions", config.effective_max_sessions().to_string()),
                ]);
                app.run(stdin_closed).await;
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    // Sessions may still be open; nothing in them needs an orderly end.
    std::process::exit(0)
}

/// Raises the soft open-file limit to the hard one; each proxied session holds two sockets.
pub fn raise_nofile() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Prints the `READY` line.
fn ready(fields: &[(&str, String)]) {
    use std::io::Write;
    let line: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "READY {}", line.join(" "));
    let _ = out.flush();
}

/// Resolves when stdin reaches end of file.
fn stdin_closed() -> impl std::future::Future<Output = ()> + Send + 'static {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = tx.send(());
    });
    async move {
        let _ = rx.await;
    }
}

/// A running child process; killed when dropped.
pub struct Child {
    /// The process.
    process: std::process::Child,
    /// Its pid, for `/proc`.
    pub pid: u32,
    /// The fields of its `READY` line.
    pub fields: HashMap<String, String>,
    /// Whether a profiler wraps it.
    wrapped: bool,
}

impl Child {
    /// Starts `bench-child ARGS...` and waits for its `READY` line.
    pub fn spawn(args: &[&str]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        // A profiler can wrap one role, e.g. INTEROP_PROXY_BENCH_WRAP_PROXY="valgrind
        // --tool=callgrind"; the wrapper must exec the program in the same process (as
        // valgrind does) for /proc figures to stay meaningful.
        let wrapper = std::env::var(format!(
            "INTEROP_PROXY_BENCH_WRAP_{}",
            args.first().copied().unwrap_or_default().to_uppercase()
        ))
        .ok();
        let wrapped = wrapper.is_some();
        let mut command = match wrapper.as_deref().map(str::split_whitespace) {
            Some(mut words) => {
                let mut command = Command::new(words.next().unwrap_or_default());
                command.args(words).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        let mut process = command
            .arg("bench-child")
            .args(args)
            .env("INTEROP_PROXY_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let pid = process.id();
        let stdout = process.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(rest) = line.trim().strip_prefix("READY ") else {
            let _ = process.kill();
            let _ = process.wait();
            anyhow::bail!("bench child {args:?} did not start: {line:?}");
        };
        let fields = rest
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(Self {
            process,
            pid,
            fields,
            wrapped,
        })
    }

    /// A field of the `READY` line.
    pub fn field(&self, key: &str) -> anyhow::Result<&str> {
        self.fields
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| anyhow::anyhow!("child gave no {key}"))
    }

    /// The listening address.
    pub fn addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.field("addr")?.parse()?)
    }

    /// A base64 key of the `READY` line.
    pub fn key(&self, key: &str) -> anyhow::Result<[u8; 32]> {
        keys::public_key_from_base64(self.field(key)?).map_err(anyhow::Error::msg)
    }

    /// Resident set size, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        rss_bytes(self.pid).unwrap_or(0)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // End of stdin asks the child to exit, which lets a profiler wrapping it write
        // its data; a child that does not go in time is killed.
        drop(self.process.stdin.take());
        let patience = if self.wrapped {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(1)
        };
        let deadline = std::time::Instant::now() + patience;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.process.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Clock ticks per second of `/proc/PID/stat`; Linux reports in USER_HZ, which is 100
/// on every architecture it runs this on.
const USER_HZ: f64 = 100.0;

/// utime and stime of a process, in seconds, from `/proc/PID/stat`: what it ran itself,
/// and what the kernel ran for it (system calls, and on loopback most of TCP).
pub fn cpu_times(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is index 0 here, so utime (14) and stime (15) are 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime / USER_HZ, stime / USER_HZ))
}

/// VmRSS of a process, in bytes, from `/proc/PID/status`.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_and_rss() {
        let pid = std::process::id();
        let (user, system) = cpu_times(pid).unwrap();
        assert!(user >= 0.0 && system >= 0.0);
        assert!(rss_bytes(pid).unwrap() > 0);
    }
}
