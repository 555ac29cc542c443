//! The processes of a bench run other than the clients: the reference server, the plain
//! TCP relay and the proxy each run in a child process (this binary, re-executed with the
//! hidden `child` subcommand), and HAProxy in its own, so that their CPU time and
//! memory can be read from `/proc` apart from the clients', and so that each has its own
//! open-file limit.
//!
//! A `child` prints one line `READY key=value ...` on stdout once it listens, and
//! exits when its stdin reaches end of file (the parent closed it, or died). Every figure
//! read from `/proc` is checked to come from the process that owns the listening socket:
//! a wrapper that forks (rather than execs) would otherwise be measured in its place.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;

use interop_proxy::app::App;
use interop_proxy::config::AuthMode;
use interop_proxy::noise::{keys, Keypair};
use interop_proxy::sim::{Pki, ServerOptions, SimServer};

/// The hidden `child` subcommand.
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
    /// interop-proxy in front of `upstream`, with fresh keys.
    Proxy {
        /// The reference server, `host:port`: a host name is resolved per session, as in
        /// a deployment.
        #[arg(long)]
        upstream: String,
        /// The root key the server's chain is issued from, base64.
        #[arg(long)]
        root: String,
        /// `limits.handshake_timeout`, in seconds, instead of the default.
        #[arg(long)]
        handshake_timeout_s: Option<u64>,
        /// `auth.jwks_file`: with it, `auth.mode = "jwt"`; without, `"none"`.
        #[arg(long)]
        jwks: Option<PathBuf>,
        /// `auth.issuer`.
        #[arg(long, default_value = super::jwt::ISSUER)]
        issuer: String,
        /// `auth.audience`.
        #[arg(long, default_value = super::jwt::AUDIENCE)]
        audience: String,
        /// `upstream.proxy_protocol = true`.
        #[arg(long)]
        upstream_proxy_protocol: bool,
        /// `upstream.connection_signals = false`.
        #[arg(long)]
        no_connection_signals: bool,
    },
}

/// The reference server's listen backlog; the kernel caps it at `net.core.somaxconn`.
const SERVER_BACKLOG: u32 = 65_535;

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
                // The reference server stands for WhatsApp's, whose accept queue is not
                // what is measured: as deep as the kernel allows, so that a reconnect
                // wave overflows the middles' queues, not the server's.
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind((std::net::Ipv4Addr::LOCALHOST, 0).into())?;
                let server = SimServer::with_listener(
                    socket.listen(SERVER_BACKLOG)?,
                    ServerOptions {
                        cert_chain: whatsapp.issue(&key.public, Duration::from_secs(86400)),
                        static_key: key.clone(),
                    },
                );
                ready(&[
                    ("addr", server.addr().to_string()),
                    ("root", b64(&whatsapp.root.public)),
                    ("static", b64(&key.public)),
                ]);
                stdin_closed.await;
                drop(server);
            }
            Role::Relay { upstream } => {
                // The proxy's own listener (accept queue, TCP_NODELAY), so that a
                // reconnect wave compares relaying, not the depth of two queues.
                let listener =
                    interop_proxy::transport::bind_listener("127.0.0.1:0".parse()?, false)?;
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
                jwks,
                issuer,
                audience,
                upstream_proxy_protocol,
                no_connection_signals,
            } => {
                let root = keys::public_key_from_base64(&root).map_err(anyhow::Error::msg)?;
                let dir = tempfile::tempdir()?;
                let (mut config, provider, proxy_key) =
                    interop_proxy::demo::loopback_config(dir.path(), &upstream, root)?;
                config.shutdown.grace = Duration::from_millis(100);
                if let Some(secs) = handshake_timeout_s {
                    config.limits.handshake_timeout = Duration::from_secs(secs);
                }
                if let Some(jwks) = jwks {
                    config.auth.mode = AuthMode::Jwt;
                    config.auth.jwks_file = Some(jwks);
                    config.auth.issuer = Some(issuer);
                    config.auth.audience = Some(audience);
                }
                config.upstream.proxy_protocol = upstream_proxy_protocol;
                config.upstream.connection_signals = !no_connection_signals;
                let app = App::bind(&config).await?;
                ready(&[
                    ("addr", app.proxy_addr().to_string()),
                    ("root", b64(&provider.root.public)),
                    ("static", b64(&proxy_key.public)),
                    ("max_sessions", config.effective_max_sessions().to_string()),
                    ("admin", app.admin_addr().to_string()),
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

/// How a child is started.
#[derive(Clone, Debug, Default)]
pub struct Launch {
    /// The one CPU it may run on (`--pin`), through `taskset`, which execs it.
    pub cpu: Option<usize>,
    /// Where its stderr goes; inherited when `None`.
    pub log: Option<PathBuf>,
    /// `INTEROP_PROXY_LOG` for a `child`.
    pub log_level: Option<&'static str>,
}

/// A running child process; killed when dropped.
pub struct Child {
    /// The process.
    process: std::process::Child,
    /// Its pid, for `/proc`.
    pub pid: u32,
    /// The fields of its `READY` line (for HAProxy: `addr`).
    pub fields: HashMap<String, String>,
    /// Whether a profiler wraps it.
    wrapped: bool,
    /// Its stderr, when it goes to a file.
    log: Option<PathBuf>,
    /// Whether it exits by itself when its stdin closes (a `child` does).
    exits_on_eof: bool,
}

impl Child {
    /// Starts `child ARGS...` and waits for its `READY` line.
    pub fn spawn(args: &[&str], launch: &Launch) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let role = args.first().copied().unwrap_or_default();
        let mut all = vec!["child"];
        all.extend_from_slice(args);
        let (mut command, wrapped) = command(role, &exe, &all, launch)?;
        command.env("INTEROP_PROXY_LOG", launch.log_level.unwrap_or("warn"));
        command.stdout(Stdio::piped());
        let mut process = command
            .spawn()
            .with_context(|| format!("starting bench child {role}"))?;
        let pid = process.id();
        let stdout = process.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(rest) = line.trim().strip_prefix("READY ") else {
            let _ = process.kill();
            let _ = process.wait();
            anyhow::bail!(
                "bench child {args:?} did not start: {line:?}{}",
                log_tail(launch.log.as_deref())
            );
        };
        let fields = rest
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = Self {
            process,
            pid,
            fields,
            wrapped,
            log: launch.log.clone(),
            exits_on_eof: true,
        };
        child.check_owns_listener()?;
        Ok(child)
    }

    /// Starts `program ARGS...`, which listens on `addr` once it is up (HAProxy), and
    /// waits for that.
    pub fn spawn_listening(
        role: &str,
        program: &Path,
        args: &[&str],
        addr: SocketAddr,
        launch: &Launch,
    ) -> anyhow::Result<Self> {
        let (mut command, wrapped) = command(role, program, args, launch)?;
        command.stdout(Stdio::null());
        let process = command
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pid = process.id();
        let mut child = Self {
            process,
            pid,
            fields: HashMap::from([("addr".to_string(), addr.to_string())]),
            wrapped,
            log: launch.log.clone(),
            exits_on_eof: false,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while listener_inode(addr.port()).is_none() {
            if let Ok(Some(status)) = child.process.try_wait() {
                anyhow::bail!(
                    "{role} exited with {status} before listening{}",
                    log_tail(child.log.as_deref())
                );
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!(
                    "{role} did not listen on {addr} within 10 s{}",
                    log_tail(child.log.as_deref())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.check_owns_listener()?;
        Ok(child)
    }

    /// Fails unless this process holds its own listening socket: a wrapper that forks
    /// would have its CPU and memory read instead of the role's.
    fn check_owns_listener(&self) -> anyhow::Result<()> {
        let port = self.addr()?.port();
        let inode = listener_inode(port)
            .ok_or_else(|| anyhow::anyhow!("nothing listens on port {port}"))?;
        let target = format!("socket:[{inode}]");
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .with_context(|| format!("reading the fds of pid {}", self.pid))?;
        let owns = fds
            .filter_map(Result::ok)
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(|link| link.as_os_str() == target.as_str());
        anyhow::ensure!(
            owns,
            "pid {} does not hold the socket listening on port {port}: a wrapper that \
             forks would be measured instead of the role; use one that execs",
            self.pid
        );
        Ok(())
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
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        rss_bytes(self.pid)
    }
}

/// The command for `program ARGS`, behind `taskset` when pinned and behind the profiler
/// named by `INTEROP_PROXY_BENCH_WRAP_<ROLE>` if set; whether a profiler wraps it.
fn command(
    role: &str,
    program: &Path,
    args: &[&str],
    launch: &Launch,
) -> anyhow::Result<(Command, bool)> {
    // A profiler can wrap one role, e.g. INTEROP_PROXY_BENCH_WRAP_PROXY="valgrind
    // --tool=callgrind"; it must exec the program in the same process, as valgrind
    // does, or the /proc figures would be its own (checked once the child listens).
    let wrapper = std::env::var(format!("INTEROP_PROXY_BENCH_WRAP_{}", role.to_uppercase())).ok();
    let mut words: Vec<String> = Vec::new();
    if let Some(cpu) = launch.cpu {
        words.extend(super::pin::taskset(cpu));
    }
    words.extend(
        wrapper
            .iter()
            .flat_map(|w| w.split_whitespace().map(String::from)),
    );
    let mut command = match words.split_first() {
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
        None => Command::new(program),
    };
    command.args(args).stdin(Stdio::piped());
    match &launch.log {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            command.stderr(file);
        }
        None => {
            command.stderr(Stdio::inherit());
        }
    }
    Ok((command, wrapper.is_some()))
}

/// The last lines of a child's log, for an error message.
fn log_tail(log: Option<&Path>) -> String {
    let Some(text) = log.and_then(|p| std::fs::read_to_string(p).ok()) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    format!("; its log ends:\n{tail}")
}

impl Drop for Child {
    fn drop(&mut self) {
        // End of stdin asks a bench child to exit, which lets a profiler wrapping it
        // write its data; a child that does not go in time is killed.
        drop(self.process.stdin.take());
        if !self.exits_on_eof {
            // HAProxy stops on SIGTERM; `kill` spares this crate an unsafe call.
            let _ = Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
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

/// The inode of the IPv4 or IPv6 TCP socket listening on `port`, from `/proc/net`.
fn listener_inode(port: u16) -> Option<u64> {
    let want = format!(":{port:04X}");
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address, rem_address, st (0A = LISTEN), ..., inode (field 9).
            if f.len() > 9 && f[1].ends_with(&want) && f[3] == "0A" {
                return f[9].parse().ok();
            }
        }
    }
    None
}

/// Clock ticks per second of `/proc/PID/stat`; Linux reports in USER_HZ, which is 100
/// on every architecture it runs this on.
const USER_HZ: f64 = 100.0;

/// utime and stime of a process, in seconds, from `/proc/PID/stat`: what it ran itself,
/// and what the kernel ran for it (system calls, and on loopback most of TCP). A process
/// that cannot be read or has exited is an error: a figure of 0 would pass any target.
pub fn cpu_times(pid: u32) -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading the CPU time of pid {pid}"))?;
    let parse = || -> Option<(char, f64, f64)> {
        // The command name may hold spaces and parentheses; fields resume after the
        // last ')'.
        let rest = stat.get(stat.rfind(')')? + 2..)?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // Field 3 (state) is index 0 here, so utime (14) and stime (15) are 11 and 12.
        let state = fields.first()?.chars().next()?;
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((state, utime, stime))
    };
    let (state, utime, stime) =
        parse().ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat: {stat:?}"))?;
    anyhow::ensure!(
        !matches!(state, 'Z' | 'X'),
        "pid {pid} has exited: its CPU time is no longer the workload's"
    );
    Ok((utime / USER_HZ, stime / USER_HZ))
}

/// VmRSS of a process, in bytes, from `/proc/PID/status`.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading the memory of pid {pid}"))?;
    let kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for pid {pid}"))?;
    Ok(kib * 1024)
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

    #[test]
    fn a_missing_process_is_an_error_not_zero() {
        assert!(cpu_times(u32::MAX).is_err());
        assert!(rss_bytes(u32::MAX).is_err());
    }

    #[test]
    fn finds_a_listener_and_its_owner() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inode = listener_inode(port).expect("listed in /proc/net/tcp");
        let target = format!("socket:[{inode}]");
        let owned = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(|link| link.as_os_str() == target.as_str());
        assert!(owned);
    }
}
