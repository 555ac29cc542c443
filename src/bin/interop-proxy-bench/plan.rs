//! What a run measures and the processes it measures them in.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[allow(unused_imports)]
use super::*;

/// The sizes of the reconnect wave, and what is measured on the sessions it leaves.
#[derive(Clone, Debug)]
pub(crate) struct FleetPlan {
    /// Devices of the small fleet (the scale workload's low count), of a middle one
    /// (idle memory only), and of the wave.
    pub(crate) low: usize,
    pub(crate) mid: usize,
    pub(crate) high: usize,
    /// Devices of the wave that connect again, through the same middle, once its
    /// sessions are closed (0: none). `--quick` takes a third of the wave: the CPU per
    /// returning login is what is sought, and 9,000 more logins through each of two
    /// middles would take it past its 4 minutes.
    pub(crate) returning: usize,
    /// Wait after a wave before memory is read, for allocations to settle.
    pub(crate) settle: Duration,
    /// How long a device keeps trying.
    pub(crate) deadline: Duration,
    /// The fixed-rate phase at each size: messages in flight per session, warm-up and
    /// measured window.
    pub(crate) window: usize,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
}

/// The sizes of one bench run.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) runs: usize,
    pub(crate) primitive_time: Duration,
    /// Thread CPU time per X25519 operation for the floor measured beside each login run.
    pub(crate) floor_time: Duration,
    pub(crate) handshake_concurrency: usize,
    pub(crate) handshake_time: Duration,
    /// Longer than `handshake_time`: the difference sought is a few µs in ~600, and the
    /// CPU clock of `/proc` ticks every 10 ms, so the window must hold enough ticks.
    pub(crate) signals_time: Duration,
    pub(crate) relay: RelayPlan,
    pub(crate) latency: RelayPlan,
    pub(crate) fleet: FleetPlan,
    pub(crate) slow_attackers: usize,
    pub(crate) slow_logins: usize,
}

impl Plan {
    pub(crate) fn new(args: &BenchArgs) -> Self {
        if args.test {
            return Self::token(args);
        }
        let runs = args.runs.unwrap_or(if args.quick { 3 } else { 5 }).max(3);
        let (secs, sessions) = if args.quick { (1.0, 16) } else { (5.0, 64) };
        let relay = RelayPlan {
            sessions,
            window: 16,
            rate: None,
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs_f64(secs),
        };
        Self {
            runs,
            primitive_time: Duration::from_millis(if args.quick { 100 } else { 500 }),
            floor_time: Duration::from_millis(if args.quick { 60 } else { 200 }),
            handshake_concurrency: 8,
            handshake_time: Duration::from_secs_f64(if args.quick { 0.8 } else { 4.0 }),
            signals_time: Duration::from_secs_f64(if args.quick { 2.0 } else { 5.0 }),
            relay,
            latency: RelayPlan {
                rate: Some(args.rate),
                window: 32,
                ..relay
            },
            fleet: FleetPlan {
                low: 100,
                mid: 1000,
                high: 9000,
                returning: if args.quick { 3000 } else { 9000 },
                settle: Duration::from_millis(if args.quick { 1000 } else { 3000 }),
                deadline: Duration::from_secs(60),
                window: 2,
                warmup: Duration::from_millis(500),
                duration: Duration::from_secs_f64(if args.quick { 1.0 } else { 4.0 }),
            },
            slow_attackers: 1000,
            slow_logins: if args.quick { 100 } else { 200 },
        }
    }

    /// `--test`: each workload runs once, just long enough to produce every figure.
    pub(crate) fn token(args: &BenchArgs) -> Self {
        let relay = RelayPlan {
            sessions: 4,
            window: 4,
            rate: None,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(300),
        };
        Self {
            runs: 1,
            primitive_time: Duration::from_millis(20),
            floor_time: Duration::from_millis(20),
            handshake_concurrency: 2,
            handshake_time: Duration::from_millis(300),
            signals_time: Duration::from_millis(300),
            relay,
            latency: RelayPlan {
                rate: Some(args.rate.min(1_000.0)),
                ..relay
            },
            fleet: FleetPlan {
                low: 10,
                mid: 30,
                high: 50,
                returning: 50,
                settle: Duration::from_millis(300),
                deadline: Duration::from_secs(20),
                window: 2,
                warmup: Duration::from_millis(100),
                duration: Duration::from_millis(300),
            },
            slow_attackers: 20,
            slow_logins: 10,
        }
    }
}

/// The middles a run compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Middle {
    Relay,
    Haproxy,
    Proxy,
}

impl Middle {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Middle::Relay => "relay",
            Middle::Haproxy => "haproxy",
            Middle::Proxy => "proxy",
        }
    }
}

/// What every workload starts its processes from: the reference server (which outlives
/// the middles), the signing key, and how middles are launched.
pub(crate) struct Lab {
    pub(crate) server: child::Child,
    pub(crate) tokens: Arc<jwt::Tokens>,
    /// Configuration files and the middles' logs.
    pub(crate) dir: tempfile::TempDir,
    pub(crate) haproxy: Option<PathBuf>,
    pub(crate) pin: Option<pin::Pinning>,
    /// The server as the proxy dials it: by host name where `localhost` is the loopback
    /// address the server listens on.
    pub(crate) upstream: String,
    /// HAProxy's `maxconn`.
    pub(crate) maxconn: usize,
    /// Middles started so far, to name their logs.
    pub(crate) started: std::cell::Cell<usize>,
}

impl Lab {
    pub(crate) fn new(plan: &Plan, pin: Option<pin::Pinning>, nofile: u64) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let tokens = Arc::new(jwt::Tokens::new(dir.path())?);
        let server = child::Child::spawn(&["server"], &child::Launch::default())?;
        let addr = server.addr()?;
        let by_name = format!("localhost:{}", addr.port());
        let resolves = std::net::ToSocketAddrs::to_socket_addrs(&by_name.as_str())
            .ok()
            .and_then(|mut a| a.next())
            == Some(addr);
        let upstream = if resolves {
            by_name
        } else {
            println!("note: localhost does not resolve to {addr} first here; the proxy dials the address");
            addr.to_string()
        };
        let need = plan.fleet.high + 4 * plan.handshake_concurrency + 64;
        let maxconn = need.min((nofile as usize / 2).saturating_sub(100).max(1024));
        Ok(Self {
            server,
            tokens,
            dir,
            haproxy: haproxy::find(),
            pin,
            upstream,
            maxconn,
            started: std::cell::Cell::new(0),
        })
    }

    /// The middles there are: HAProxy only where it is installed.
    pub(crate) fn middles(&self) -> Vec<Middle> {
        let mut all = vec![Middle::Relay];
        if self.haproxy.is_some() {
            all.push(Middle::Haproxy);
        }
        all.push(Middle::Proxy);
        all
    }

    pub(crate) fn launch(&self, middle: Middle) -> child::Launch {
        let n = self.started.get() + 1;
        self.started.set(n);
        child::Launch {
            cpu: self.pin.map(|p| p.middle),
            log: Some(self.dir.path().join(format!("{}-{n}.log", middle.name()))),
            log_level: Some(if middle == Middle::Proxy {
                "info"
            } else {
                "warn"
            }),
        }
    }

    /// Starts a fresh `middle`; `extra` are further proxy arguments.
    pub(crate) fn start(&self, middle: Middle, extra: &[&str]) -> anyhow::Result<child::Child> {
        let launch = self.launch(middle);
        match middle {
            Middle::Relay => child::Child::spawn(
                &["relay", "--upstream", self.server.field("addr")?],
                &launch,
            ),
            Middle::Haproxy => {
                let binary = self
                    .haproxy
                    .as_deref()
                    .ok_or_else(|| anyhow::anyhow!("haproxy is not installed"))?;
                // One thread per CPU it may use, as HAProxy itself would choose.
                let threads = if self.pin.is_some() { 1 } else { cores() };
                haproxy::start(
                    binary,
                    self.dir.path(),
                    self.server.addr()?,
                    threads,
                    self.maxconn,
                    &launch,
                )
            }
            Middle::Proxy => {
                self.spawn_proxy(&self.upstream, self.server.field("root")?, extra, &launch)
            }
        }
    }

    /// A proxy in front of any reference server, `root` its chain's root in base64: the
    /// signals workload checks what the proxy sends against a server of its own.
    pub(crate) fn start_proxy_to(
        &self,
        upstream: &str,
        root: &str,
        extra: &[&str],
    ) -> anyhow::Result<child::Child> {
        self.spawn_proxy(upstream, root, extra, &self.launch(Middle::Proxy))
    }

    fn spawn_proxy(
        &self,
        upstream: &str,
        root: &str,
        extra: &[&str],
        launch: &child::Launch,
    ) -> anyhow::Result<child::Child> {
        let jwks = self.tokens.jwks_file.to_string_lossy().into_owned();
        let mut args = vec![
            "proxy",
            "--upstream",
            upstream,
            "--root",
            root,
            "--jwks",
            &jwks,
        ];
        args.extend_from_slice(extra);
        child::Child::spawn(&args, launch)
    }

    pub(crate) fn direct(&self) -> anyhow::Result<Target> {
        Ok(Target {
            name: "direct",
            addr: self.server.addr()?,
            root: self.server.key("root")?,
            responder_static: self.server.key("static")?,
            middle_pid: None,
            tokens: self.tokens.clone(),
        })
    }

    pub(crate) fn target(&self, middle: Middle, process: &child::Child) -> anyhow::Result<Target> {
        // A plain relay passes the server's handshake through; the proxy presents its own.
        let keys = if middle == Middle::Proxy {
            process
        } else {
            &self.server
        };
        Ok(Target {
            name: middle.name(),
            addr: process.addr()?,
            root: keys.key("root")?,
            responder_static: keys.key("static")?,
            middle_pid: Some(process.pid),
            tokens: self.tokens.clone(),
        })
    }
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
