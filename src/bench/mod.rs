//! `interop-proxy bench`: the same workloads four ways, on loopback, in one run
//! (DESIGN.md, "Peers the project is measured against"):
//!
//! - **direct**: reference clients straight to the reference server (the floor);
//! - **relay**: through a plain TCP relay (`copy_bidirectional`);
//! - **haproxy**: through HAProxy in `mode tcp`, when it is installed;
//! - **proxy**: through interop-proxy, as deployed: JWT authentication, `info` logging,
//!   the upstream given by host name.
//!
//! The reference server, the relays and the proxy each run in a child process (see
//! [`child`]), so the CPU time (`/proc/PID/stat` utime+stime), resident memory
//! (`/proc/PID/status` VmRSS) and socket memory ([`memory`]) read for a middle are its
//! alone. The clients run here and speak binary stanzas ([`traffic`]). Workloads:
//!
//! - `handshake`: logins per second (XX and IK from the client) and the middle's CPU
//!   per login, against the X25519 floor of the patterns the proxy runs, measured in
//!   thread CPU time beside it;
//! - `relay`: sessions messaging themselves (the server echoes; each echo is answered by
//!   a receipt) at full speed, and `latency`: the same at a fixed offered rate, each
//!   session's sends phased evenly over the interval: stanzas per second, the middle's
//!   CPU per million of them, echo round trips;
//! - `reconnect`: thousands of distinct devices connecting at once, as after a rollout:
//!   failed attempts and the time until every device is relaying;
//! - `idle`: the sessions of that wave, held idle with keepalives: the middle's memory
//!   per session, its own and the kernel's for its sockets;
//! - `scale`: with a hundred and with thousands of sessions held, CPU per login and CPU
//!   per stanza with all of them messaging at the fixed rate (the plain relay alongside
//!   as the control): per-unit cost must not grow with the number of sessions;
//! - `slow`: a healthy client's login latency through the proxy, alone and while 1,000
//!   slow attackers (a valid intro header, then one byte a second) hold sessions in the
//!   handshake stage.
//!
//! It also measures the primitives' own speed on one core through snow's resolvers.

mod child;
mod driver;
mod haproxy;
mod jwt;
mod memory;
mod pin;
mod plain_relay;
mod primitives;
mod stats;
mod traffic;
mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use child::{ChildArgs, Role};
use stats::{fmt, num, Series, Stat, Table};
use traffic::Traffic;
use workload::{quantile, RelayPlan, Target};

/// `interop-proxy bench`.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// A reduced run of every workload (including the 9,000-device wave), under 4 minutes.
    #[arg(long)]
    pub quick: bool,
    /// Every workload once at a token size, in seconds, to check that the harness works
    /// (as criterion's `--test`); the figures mean nothing.
    #[arg(long, conflicts_with = "quick")]
    pub test: bool,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Repetitions of each measurement (default: 3 with --quick, 5 without; at least 3).
    #[arg(long)]
    pub runs: Option<usize>,
    /// Offered rate of the fixed-rate relay and latency workload, messages per second.
    #[arg(long, default_value_t = 10_000.0)]
    pub rate: f64,
    /// Only these workloads (comma-separated:
    /// primitives,handshake,relay,latency,reconnect,idle,scale,slow).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Pin the measured middle process to one CPU and the server and clients to another
    /// (with `taskset`).
    #[arg(long)]
    pub pin: bool,
}

/// Runs a child role (the hidden `bench-child` subcommand).
pub fn run_child(args: ChildArgs) -> anyhow::Result<()> {
    child::run_child(args)
}

/// The sizes of the reconnect wave, and what is measured on the sessions it leaves.
#[derive(Clone, Debug)]
struct FleetPlan {
    /// Devices of the small fleet (the scale workload's low count), of a middle one
    /// (idle memory only), and of the wave.
    low: usize,
    mid: usize,
    high: usize,
    /// Wait after a wave before memory is read, for allocations to settle.
    settle: Duration,
    /// How long a device keeps trying.
    deadline: Duration,
    /// The fixed-rate phase at each size: messages in flight per session, warm-up and
    /// measured window.
    window: usize,
    warmup: Duration,
    duration: Duration,
}

/// The sizes of one bench run.
#[derive(Clone, Debug)]
struct Plan {
    runs: usize,
    primitive_time: Duration,
    /// Thread CPU time per X25519 operation for the floor measured beside each login run.
    floor_time: Duration,
    handshake_concurrency: usize,
    handshake_time: Duration,
    relay: RelayPlan,
    latency: RelayPlan,
    fleet: FleetPlan,
    slow_attackers: usize,
    slow_logins: usize,
}

impl Plan {
    fn new(args: &BenchArgs) -> Self {
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
    fn token(args: &BenchArgs) -> Self {
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
            relay,
            latency: RelayPlan {
                rate: Some(args.rate.min(1_000.0)),
                ..relay
            },
            fleet: FleetPlan {
                low: 10,
                mid: 30,
                high: 50,
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
enum Middle {
    Relay,
    Haproxy,
    Proxy,
}

impl Middle {
    fn name(self) -> &'static str {
        match self {
            Middle::Relay => "relay",
            Middle::Haproxy => "haproxy",
            Middle::Proxy => "proxy",
        }
    }
}

/// What every workload starts its processes from: the reference server (which outlives
/// the middles), the signing key, and how middles are launched.
struct Lab {
    server: child::Child,
    tokens: Arc<jwt::Tokens>,
    /// Configuration files and the middles' logs.
    dir: tempfile::TempDir,
    haproxy: Option<PathBuf>,
    pin: Option<pin::Pinning>,
    /// The server as the proxy dials it: by host name where `localhost` is the loopback
    /// address the server listens on.
    upstream: String,
    /// HAProxy's `maxconn`.
    maxconn: usize,
    /// Middles started so far, to name their logs.
    started: std::cell::Cell<usize>,
}

impl Lab {
    fn new(plan: &Plan, pin: Option<pin::Pinning>, nofile: u64) -> anyhow::Result<Self> {
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
    fn middles(&self) -> Vec<Middle> {
        let mut all = vec![Middle::Relay];
        if self.haproxy.is_some() {
            all.push(Middle::Haproxy);
        }
        all.push(Middle::Proxy);
        all
    }

    fn launch(&self, middle: Middle) -> child::Launch {
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
    fn start(&self, middle: Middle, extra: &[&str]) -> anyhow::Result<child::Child> {
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
                let jwks = self.tokens.jwks_file.to_string_lossy().into_owned();
                let mut args = vec![
                    "proxy",
                    "--upstream",
                    &self.upstream,
                    "--root",
                    self.server.field("root")?,
                    "--jwks",
                    &jwks,
                ];
                args.extend_from_slice(extra);
                child::Child::spawn(&args, &launch)
            }
        }
    }

    fn direct(&self) -> anyhow::Result<Target> {
        Ok(Target {
            name: "direct",
            addr: self.server.addr()?,
            root: self.server.key("root")?,
            responder_static: self.server.key("static")?,
            middle_pid: None,
            tokens: self.tokens.clone(),
        })
    }

    fn target(&self, middle: Middle, process: &child::Child) -> anyhow::Result<Target> {
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

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `interop-proxy bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let nofile = child::raise_nofile();
    let plan = Plan::new(&args);
    let wants = |w: &str| args.only.is_empty() || args.only.iter().any(|o| o == w);
    let machine_cores = cores();
    let pinning = if args.pin {
        let p = pin::Pinning::choose()?;
        p.pin_self()?;
        Some(p)
    } else {
        None
    };
    let mut table = Table::default();
    let mut out = BTreeMap::<String, Value>::new();
    println!(
        "interop-proxy bench{}: {} runs per figure, medians with min and max",
        if args.test {
            " --test (token sizes: the figures mean nothing)"
        } else if args.quick {
            " --quick"
        } else {
            ""
        },
        plan.runs
    );
    if let Some(asked) = args.runs.filter(|&r| r < plan.runs && !args.test) {
        println!(
            "note: --runs {asked} raised to {}: every figure is a median of at least 3",
            plan.runs
        );
    }
    if let Some(p) = pinning {
        println!(
            "pinned: the middle on CPU {}, the server and the clients on CPU {}",
            p.middle, p.peers
        );
    }

    // The primitives, on this thread (one core).
    if wants("primitives") {
        let t = Instant::now();
        out.insert("primitives".into(), primitives_section(&plan, &mut table));
        took("primitives", t);
    }

    let runtime = tokio::runtime::Runtime::new()?;
    let lab = Lab::new(&plan, pinning, nofile)?;
    let haproxy_version = lab.haproxy.as_deref().and_then(haproxy_version);
    match &haproxy_version {
        Some(v) => println!("haproxy: {v}"),
        None => println!(
            "haproxy: not installed (Debian package `haproxy`): its path is skipped, and \
             every ratio to it is left out"
        ),
    }
    let traffic = Arc::new(Traffic::new());
    out.insert(
        "setup".into(),
        json!({
            "quick": args.quick,
            "test": args.test,
            "runs": plan.runs,
            "cores": machine_cores,
            "pin": pinning.map(|p| json!({ "middle_cpu": p.middle, "peers_cpu": p.peers })),
            "nofile_limit": nofile,
            "haproxy": haproxy_version,
            "haproxy_maxconn": lab.maxconn,
            "proxy_auth": "jwt (EdDSA)",
            "proxy_log": "info",
            "proxy_upstream": lab.upstream.split(':').next(),
            "handshake_concurrency": plan.handshake_concurrency,
            "relay_sessions": plan.relay.sessions,
            "relay_window": plan.relay.window,
            "offered_messages_per_s": args.rate,
            "message_body_bytes": traffic.message_sizes(),
            "compressed_every": traffic::COMPRESSED_EVERY,
            "presence_every": traffic::PRESENCE_EVERY,
            "keepalive_s": [traffic::KEEPALIVE_SECS.start, traffic::KEEPALIVE_SECS.end],
            // message out, its ack, its echo, the receipt for it, and a presence every
            // PRESENCE_EVERY messages.
            "relayed_stanzas_per_message": 4.0 + 1.0 / traffic::PRESENCE_EVERY as f64,
            "reconnect_devices": plan.fleet.high,
        }),
    );

    let middles = lab.middles();
    if ["handshake", "relay", "latency"].iter().any(|w| wants(w)) {
        let processes: Vec<(Middle, child::Child)> = middles
            .iter()
            .map(|&m| Ok((m, lab.start(m, &[])?)))
            .collect::<anyhow::Result<_>>()?;
        let mut targets = vec![lab.direct()?];
        for (m, p) in &processes {
            targets.push(lab.target(*m, p)?);
        }
        if wants("handshake") {
            let t = Instant::now();
            let section = handshake_section(&runtime, &targets, &plan, &mut table)?;
            out.insert("handshake".into(), section);
            took("handshake", t);
        }
        if wants("relay") {
            let t = Instant::now();
            let section = relay_section(&runtime, &targets, &plan, &traffic, &mut table)?;
            out.insert("relay".into(), section);
            took("relay", t);
        }
        if wants("latency") {
            let t = Instant::now();
            let (section, fixed_rate) =
                latency_section(&runtime, &targets, &plan, &traffic, &mut table)?;
            out.insert("latency".into(), section);
            let relay = out.entry("relay".into()).or_insert_with(|| json!({}));
            for (k, v) in fixed_rate {
                relay[k] = v;
            }
            took("latency", t);
        }
    }
    if wants("slow") {
        let t = Instant::now();
        let section = slow_section(&runtime, &lab, &plan, &mut table)?;
        out.insert("slow".into(), section);
        took("slow", t);
    }
    if ["reconnect", "idle", "scale"].iter().any(|w| wants(w)) {
        let t = Instant::now();
        let sections = fleet_sections(&runtime, &lab, &plan, wants("scale"), &traffic, &mut table)?;
        for (name, section) in sections {
            if wants(name) {
                out.insert(name.into(), section);
            }
        }
        took("reconnect, idle and scale", t);
    }

    println!();
    table.print();
    println!();
    print_ratios(&out);
    out.insert("elapsed_s".into(), json!(started.elapsed().as_secs_f64()));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&out)? + "\n")?;
        println!("figures written to {}", path.display());
    }
    println!("bench took {:.0?}", started.elapsed());
    Ok(())
}

fn took(what: &str, since: Instant) {
    println!("{what}: {:.1} s", since.elapsed().as_secs_f64());
}

fn haproxy_version(binary: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new(binary).arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?;
    Some(line.split(" - ").next().unwrap_or(line).trim().to_string())
}

/// The primitives on one core through each resolver; the X25519 floor per
/// session (6 DH + 2 key generations at the fastest resolver, timed by wall clock).
fn primitives_section(plan: &Plan, table: &mut Table) -> Value {
    let mut runs: Vec<Vec<primitives::Speeds>> = Vec::new();
    for _ in 0..plan.runs {
        runs.push(primitives::measure(plan.primitive_time));
    }
    let mut resolvers = json!({});
    let mut best_dh = (f64::NAN, "");
    let mut best_keygen = (f64::NAN, "");
    let mut best_aes = (f64::NAN, "");
    for (i, first) in runs[0].iter().enumerate() {
        let pick = |f: fn(&primitives::Speeds) -> Option<f64>| -> Option<Stat> {
            let v: Vec<f64> = runs.iter().filter_map(|r| f(&r[i])).collect();
            (!v.is_empty()).then(|| Stat::of(&v))
        };
        let figures = [
            (
                "x25519 keygen/s",
                "x25519_keygen_per_s",
                pick(|s| s.x25519_keygen_per_s),
            ),
            (
                "x25519 dh/s",
                "x25519_dh_per_s",
                pick(|s| s.x25519_dh_per_s),
            ),
            (
                "aes-256-gcm seal 600 B: MB/s",
                "aesgcm_600_seal_mb_per_s",
                pick(|s| s.aesgcm_600_bytes_per_s.map(|b| b / 1e6)),
            ),
            (
                "aes-256-gcm open 600 B: MB/s",
                "aesgcm_600_open_mb_per_s",
                pick(|s| s.aesgcm_600_decrypt_bytes_per_s.map(|b| b / 1e6)),
            ),
            (
                "aes-256-gcm seal 16 KiB: MB/s",
                "aesgcm_16k_seal_mb_per_s",
                pick(|s| s.aesgcm_16k_bytes_per_s.map(|b| b / 1e6)),
            ),
        ];
        let mut entry = json!({});
        for (label, key, stat) in figures {
            match stat {
                Some(s) => {
                    table.add(&format!("{label} [{}]", short(first.resolver)), "1 core", s);
                    entry[key] = s.json();
                }
                None => entry[key] = Value::Null,
            }
        }
        resolvers[first.resolver] = entry;
        let better = |best: &mut (f64, &'static str), v: Option<Stat>| {
            if let Some(s) = v {
                if best.0.is_nan() || s.median > best.0 {
                    *best = (s.median, first.resolver);
                }
            }
        };
        better(&mut best_dh, pick(|s| s.x25519_dh_per_s));
        better(&mut best_keygen, pick(|s| s.x25519_keygen_per_s));
        better(&mut best_aes, pick(|s| s.aesgcm_600_bytes_per_s));
    }
    let floor = 6.0 * 1e6 / best_dh.0 + 2.0 * 1e6 / best_keygen.0;
    json!({
        "resolvers": resolvers,
        "fastest_x25519": best_dh.1,
        "fastest_aesgcm": best_aes.1,
        "x25519_dh_per_s": num(best_dh.0),
        "x25519_keygen_per_s": num(best_keygen.0),
        "aesgcm_600_bytes_per_s": num(best_aes.0),
        "x25519_floor_us_per_session": num(floor),
    })
}

fn short(resolver: &str) -> &str {
    resolver.split_whitespace().next().unwrap_or(resolver)
}

/// Logins on every path, each repetition beside a measurement of the X25519 floor in
/// this thread's CPU time.
fn handshake_section(
    runtime: &tokio::runtime::Runtime,
    targets: &[Target],
    plan: &Plan,
    table: &mut Table,
) -> anyhow::Result<Value> {
    let mut section = json!({});
    for (label, ik) in [("xx", false), ("ik", true)] {
        let mut s = Series::default();
        for _ in 0..plan.runs {
            let cost = primitives::x25519_thread_cpu(plan.floor_time)?;
            // 6 DH + 2 key generations: one side of a Noise XX or IK handshake, the
            // first floor. The proxy runs more: the client leg's responder (XX: 3 DH,
            // IK: 4), the upstream IK initiator (4 DH), two ephemeral keys, and the
            // public half of the per-device upstream static key.
            s.push("floor/issue", cost.floor(6, 2));
            s.push("floor/patterns", cost.floor(if ik { 8 } else { 7 }, 3));
            s.push("floor/dh", cost.dh_us);
            s.push("floor/keygen", cost.keygen_us);
            for target in targets {
                let h = runtime.block_on(workload::handshakes(
                    target,
                    ik,
                    plan.handshake_concurrency,
                    plan.handshake_time,
                ))?;
                s.push(&format!("rate/{}", target.name), h.sessions_per_s);
                s.push(&format!("cpu/{}", target.name), h.cpu_us_per_session);
                s.push(&format!("system/{}", target.name), h.system_us_per_session);
            }
        }
        let mut per = json!({});
        for target in targets {
            let n = target.name;
            let r = s.stat(&format!("rate/{n}"));
            table.add(&format!("handshake {label}: sessions/s"), n, r);
            per[n] = json!({ "sessions_per_s": r.json() });
            if target.middle_pid.is_some() {
                let c = s.stat(&format!("cpu/{n}"));
                table.add(&format!("handshake {label}: middle CPU us/session"), n, c);
                per[n]["cpu_us_per_session"] = c.json();
                let k = s.stat(&format!("system/{n}"));
                table.add(
                    &format!("handshake {label}: middle system CPU us/session"),
                    n,
                    k,
                );
                per[n]["system_cpu_us_per_session"] = k.json();
            }
        }
        // What the proxy spends beyond a plain relay on the same sockets and
        // connections, within each repetition: the part the handshake itself costs.
        let added = stats::pair(s.get("cpu/proxy"), s.get("cpu/relay"), |p, r| p - r);
        for a in added {
            s.push("added", a);
        }
        let floor = s.stat("floor/patterns");
        let added = s.stat("added");
        let added_ratio = s.ratio("added", "floor/patterns");
        table.add(
            &format!("handshake {label}: X25519 floor of its patterns, thread CPU us"),
            "1 core",
            floor,
        );
        table.add(
            &format!("handshake {label}: (proxy - plain relay) CPU us/login"),
            "proxy",
            added,
        );
        table.add(
            &format!("handshake {label}: (proxy - plain relay) / patterns floor"),
            "proxy",
            added_ratio,
        );
        section[label] = per;
        let suffix = if ik { "_ik" } else { "" };
        let key = format!("proxy_cpu_us_per_session{suffix}");
        section[&key] = num(s.stat("cpu/proxy").median);
        section[format!("{key}_ratio_to_floor")] = num(s.ratio("cpu/proxy", "floor/issue").median);
        section[format!("{key}_beyond_plain_ratio_to_floor")] =
            num(s.ratio("added", "floor/issue").median);
        section[format!("added_cpu_us_per_login{suffix}")] = num(added.median);
        section[format!("patterns_floor_us_per_login{suffix}")] = num(floor.median);
        section[format!("added_cpu_ratio_to_patterns_floor{suffix}")] = num(added_ratio.median);
        if !ik {
            section["x25519_floor_us_per_session"] = num(s.stat("floor/issue").median);
            section["floors_for_actual_patterns"] = json!({
                "measured_in": "thread CPU time, beside each repetition",
                "dh_us": num(s.stat("floor/dh").median),
                "keygen_us": num(s.stat("floor/keygen").median),
            });
        }
        section["floors_for_actual_patterns"][format!("client_{label}_upstream_ik_us")] =
            num(floor.median);
        for (other, name) in [
            ("direct", "direct"),
            ("relay", "plain"),
            ("haproxy", "haproxy"),
        ] {
            section[format!("sessions_per_s_ratio_to_{name}_{label}")] =
                num(s.ratio("rate/proxy", &format!("rate/{other}")).median);
        }
    }
    Ok(section)
}

/// Relay throughput at full speed.
fn relay_section(
    runtime: &tokio::runtime::Runtime,
    targets: &[Target],
    plan: &Plan,
    traffic: &Arc<Traffic>,
    table: &mut Table,
) -> anyhow::Result<Value> {
    let (mut rate, mut cpu, mut cores) = (Series::default(), Series::default(), Series::default());
    for _ in 0..plan.runs {
        for target in targets {
            let s = runtime.block_on(workload::relay(target, plan.relay, traffic))?;
            rate.push(target.name, s.stanzas_per_s);
            cpu.push(target.name, s.cpu_s_per_million);
            cores.push(target.name, s.cores);
        }
    }
    let mut section = json!({});
    let mut per = json!({});
    for target in targets {
        let r = rate.stat(target.name);
        table.add("relay full speed: stanzas/s", target.name, r);
        per[target.name] = json!({ "stanzas_per_s": r.json() });
        if target.middle_pid.is_some() {
            let c = cpu.stat(target.name);
            table.add("relay full speed: middle CPU s/1M stanzas", target.name, c);
            table.add(
                "relay full speed: middle CPU cores",
                target.name,
                cores.stat(target.name),
            );
            per[target.name]["cpu_s_per_million"] = c.json();
            per[target.name]["cores"] = cores.stat(target.name).json();
        }
    }
    let per_core: Vec<f64> = cpu.get("proxy").iter().map(|c| 1e6 / c).collect();
    section["full_speed"] = per;
    section["proxy_cpu_s_per_million"] = num(cpu.stat("proxy").median);
    section["plain_cpu_s_per_million"] = num(cpu.stat("relay").median);
    section["haproxy_cpu_s_per_million"] = num(cpu.stat("haproxy").median);
    section["proxy_cpu_ratio_to_plain"] = num(cpu.ratio("proxy", "relay").median);
    section["proxy_cpu_ratio_to_haproxy"] = num(cpu.ratio("proxy", "haproxy").median);
    section["stanzas_per_s_per_core"] = num(Stat::of(&per_core).median);
    section["stanzas_per_s_ratio_to_direct"] = num(rate.ratio("proxy", "direct").median);
    section["stanzas_per_s_ratio_to_plain"] = num(rate.ratio("proxy", "relay").median);
    section["stanzas_per_s_ratio_to_haproxy"] = num(rate.ratio("proxy", "haproxy").median);
    table.add(
        "relay full speed: proxy CPU/stanza / plain relay's",
        "proxy",
        cpu.ratio("proxy", "relay"),
    );
    table.add(
        "relay full speed: proxy CPU/stanza / haproxy's",
        "proxy",
        cpu.ratio("proxy", "haproxy"),
    );
    Ok(section)
}

/// Echo latency (and throughput, CPU) at the fixed offered rate; also the fixed-rate
/// figures that belong to the relay section.
fn latency_section(
    runtime: &tokio::runtime::Runtime,
    targets: &[Target],
    plan: &Plan,
    traffic: &Arc<Traffic>,
    table: &mut Table,
) -> anyhow::Result<(Value, Vec<(&'static str, Value)>)> {
    let qs = [("p50", 0.5), ("p99", 0.99), ("p999", 0.999)];
    let mut lat: [Series; 3] = Default::default();
    let (mut rate, mut cpu) = (Series::default(), Series::default());
    for _ in 0..plan.runs {
        for target in targets {
            let s = runtime.block_on(workload::relay(target, plan.latency, traffic))?;
            for (q, (_, at)) in qs.iter().enumerate() {
                lat[q].push(target.name, quantile(&s.latencies_us, *at));
            }
            rate.push(target.name, s.echoes_per_s);
            cpu.push(target.name, s.cpu_s_per_million);
        }
    }
    let offered = plan.latency.rate.unwrap_or(f64::NAN);
    let mut section =
        json!({ "offered_messages_per_s": offered, "sessions": plan.latency.sessions });
    let mut per = json!({});
    for target in targets {
        let mut entry = json!({});
        for (q, (name, _)) in qs.iter().enumerate() {
            let s = lat[q].stat(target.name);
            table.add(
                &format!("echo RTT {name} at {offered:.0} msg/s: us"),
                target.name,
                s,
            );
            entry[format!("{name}_us")] = s.json();
        }
        let r = rate.stat(target.name);
        table.add("fixed rate: echoed messages/s", target.name, r);
        entry["echoes_per_s"] = r.json();
        if target.middle_pid.is_some() {
            let c = cpu.stat(target.name);
            table.add("fixed rate: middle CPU s/1M stanzas", target.name, c);
            entry["cpu_s_per_million"] = c.json();
        }
        per[target.name] = entry;
    }
    section["targets"] = per;
    for (q, (name, _)) in qs.iter().enumerate() {
        // What a middle adds is taken against the direct run of the same repetition.
        let mut added = Series::default();
        for middle in ["relay", "haproxy", "proxy"] {
            for d in stats::pair(lat[q].get(middle), lat[q].get("direct"), |x, d| x - d) {
                added.push(middle, d);
            }
        }
        for (middle, label) in [
            ("relay", "plain"),
            ("haproxy", "haproxy"),
            ("proxy", "proxy"),
        ] {
            let a = added.stat(middle);
            section[format!("{name}_added_us_{label}")] = num(a.median);
            table.add(
                &format!("echo RTT {name} added (paired with direct): us"),
                middle,
                a,
            );
        }
        // The ratio is of those medians, not a median of per-repetition ratios: what a
        // relay adds can be near zero in one repetition, and a ratio to it says nothing.
        // Below 1 µs the ratio would say more about the noise than about the proxy.
        let ratio = |other: &str| {
            let by = added.stat(other).median;
            added.stat("proxy").median / if by.is_nan() { by } else { by.max(1.0) }
        };
        section[format!("{name}_added_ratio_to_plain")] = num(ratio("relay"));
        section[format!("{name}_added_ratio_to_haproxy")] = num(ratio("haproxy"));
    }
    let per_core: Vec<f64> = cpu.get("proxy").iter().map(|c| 1e6 / c).collect();
    let per_core = Stat::of(&per_core);
    let to_plain = cpu.ratio("proxy", "relay");
    let to_haproxy = cpu.ratio("proxy", "haproxy");
    section["proxy_cpu_ratio_to_plain_at_fixed_rate"] = num(to_plain.median);
    section["proxy_cpu_ratio_to_haproxy_at_fixed_rate"] = num(to_haproxy.median);
    table.add(
        "fixed rate: proxy CPU/stanza / plain relay's",
        "proxy",
        to_plain,
    );
    table.add(
        "fixed rate: proxy CPU/stanza / haproxy's",
        "proxy",
        to_haproxy,
    );
    table.add("fixed rate: proxy stanzas/s per core", "proxy", per_core);
    let relay = vec![
        ("fixed_rate_cpu_ratio_to_plain", num(to_plain.median)),
        ("fixed_rate_cpu_ratio_to_haproxy", num(to_haproxy.median)),
        ("fixed_rate_stanzas_per_s_per_core", num(per_core.median)),
    ];
    Ok((section, relay))
}

/// What one fleet (a wave of devices, then held) measured on one fresh middle.
#[derive(Default)]
struct FleetSample {
    wave: workload::WaveSample,
    rss_per_session: f64,
    kernel: memory::SocketMemory,
    kernel_per_session: f64,
    buffers_per_session: f64,
    objects_per_session: f64,
    keepalives_per_s: f64,
    handshake_cpu_us: f64,
    relay_cpu_s_per_million: f64,
    relay_stanzas_per_s: f64,
}

/// One fleet: a fresh `middle`, `count` devices connecting at once, then held idle with
/// keepalives while memory is read; with `scale`, the CPU per login while they are held
/// (the proxy) and the CPU per stanza with all of them messaging at the fixed rate (the
/// proxy and the plain relay).
#[allow(clippy::too_many_arguments)]
fn fleet(
    runtime: &tokio::runtime::Runtime,
    lab: &Lab,
    plan: &Plan,
    middle: Middle,
    devices: &[crate::sim::ClientOptions],
    scale: bool,
    objects: Option<u64>,
    traffic: &Arc<Traffic>,
) -> anyhow::Result<FleetSample> {
    let process = lab.start(middle, &[])?;
    let target = lab.target(middle, &process)?;
    let count = devices.len();
    std::thread::sleep(Duration::from_millis(200));
    let rss0 = process.rss_bytes()?;
    let kernel0 = memory::SocketMemory::of(process.pid, objects)?;
    let (wave, fleet) = runtime.block_on(workload::wave(
        &target,
        devices,
        traffic,
        plan.fleet.deadline,
    ))?;
    let relayed0 = fleet.relayed();
    let held = Instant::now();
    // A smaller fleet's allocations settle sooner.
    std::thread::sleep(if count >= plan.fleet.high {
        plan.fleet.settle
    } else {
        plan.fleet.settle / 3
    });
    let rss1 = process.rss_bytes()?;
    let kernel1 = memory::SocketMemory::of(process.pid, objects)?;
    let per = |a: f64, b: f64| (b - a) / count as f64;
    let mut sample = FleetSample {
        rss_per_session: per(rss0 as f64, rss1 as f64),
        kernel_per_session: per(kernel0.total() as f64, kernel1.total() as f64),
        buffers_per_session: per(
            kernel0.buffer_bytes.unwrap_or(0) as f64,
            kernel1.buffer_bytes.unwrap_or(0) as f64,
        ),
        objects_per_session: match (kernel0.object_bytes, kernel1.object_bytes) {
            (Some(a), Some(b)) => per(a as f64, b as f64),
            _ => f64::NAN,
        },
        kernel: kernel1,
        keepalives_per_s: (fleet.relayed() - relayed0) as f64 / held.elapsed().as_secs_f64(),
        handshake_cpu_us: f64::NAN,
        relay_cpu_s_per_million: f64::NAN,
        relay_stanzas_per_s: f64::NAN,
        wave,
    };
    if scale && middle == Middle::Proxy {
        let h = runtime.block_on(workload::handshakes(
            &target,
            false,
            plan.handshake_concurrency,
            plan.handshake_time,
        ))?;
        sample.handshake_cpu_us = h.cpu_us_per_session;
    }
    if scale && middle != Middle::Haproxy {
        // The offered rate of the latency workload spread over every session: the same
        // stanzas per second at every count, so only the number of sessions differs.
        let r = runtime.block_on(fleet.rate(
            &target,
            plan.latency.rate.unwrap_or(10_000.0),
            plan.fleet.window,
            plan.fleet.warmup,
            plan.fleet.duration,
        ))?;
        sample.relay_cpu_s_per_million = r.cpu_s_per_million;
        sample.relay_stanzas_per_s = r.stanzas_per_s;
    }
    runtime.block_on(async { fleet.drop_all() });
    drop(process);
    // Let the server see the closes before the next wave logs in.
    std::thread::sleep(Duration::from_millis(500));
    Ok(sample)
}

/// The reconnect wave, the idle memory of the sessions it leaves, and the scale
/// figures, all from the same fleets: per repetition, for each size, each middle.
fn fleet_sections(
    runtime: &tokio::runtime::Runtime,
    lab: &Lab,
    plan: &Plan,
    scale: bool,
    traffic: &Arc<Traffic>,
    table: &mut Table,
) -> anyhow::Result<Vec<(&'static str, Value)>> {
    let objects = memory::per_socket_object_bytes();
    if objects.is_none() {
        println!(
            "note: /proc/slabinfo is unreadable (it needs root): kernel memory per \
             session counts socket buffers only, not the sockets themselves"
        );
    }
    // (devices, whether the scale figures are taken on them)
    let mut sizes = vec![(plan.fleet.mid, false), (plan.fleet.high, scale)];
    if scale {
        sizes.insert(0, (plan.fleet.low, true));
    }
    let middles = lab.middles();
    // Distinct devices, made once: each middle is fresh, so to each they are all new.
    let devices = workload::devices(&lab.tokens, 2_000_000, plan.fleet.high);
    let mut s = Series::default();
    let key = |size: usize, m: Middle, what: &str| format!("{size}/{}/{what}", m.name());
    for _ in 0..plan.runs {
        for &(size, scale) in &sizes {
            for &m in &middles {
                // HAProxy is a peer of the wave and of idle memory at its full size.
                if m == Middle::Haproxy && size != plan.fleet.high {
                    continue;
                }
                let f = fleet(
                    runtime,
                    lab,
                    plan,
                    m,
                    &devices[..size],
                    scale,
                    objects,
                    traffic,
                )?;
                let k = |what: &str| key(size, m, what);
                s.push(&k("seconds"), f.wave.seconds);
                s.push(&k("median_seconds"), f.wave.median_seconds);
                s.push(&k("failures"), f.wave.failures() as f64);
                s.push(&k("connection_errors"), f.wave.connection_errors as f64);
                s.push(&k("timeouts"), f.wave.timeouts as f64);
                s.push(&k("refusals"), f.wave.refusals as f64);
                s.push(&k("listen_overflows"), f.wave.listen_overflows as f64);
                s.push(&k("relaying"), f.wave.relaying as f64);
                s.push(&k("rss"), f.rss_per_session);
                s.push(&k("kernel"), f.kernel_per_session);
                s.push(&k("buffers"), f.buffers_per_session);
                s.push(&k("objects"), f.objects_per_session);
                s.push(&k("total"), f.rss_per_session + f.kernel_per_session);
                s.push(&k("keepalives"), f.keepalives_per_s);
                s.push(&k("sockets"), f.kernel.sockets as f64);
                s.push(&k("handshake"), f.handshake_cpu_us);
                s.push(&k("relay_cpu"), f.relay_cpu_s_per_million);
                s.push(&k("relay_rate"), f.relay_stanzas_per_s);
            }
        }
    }
    let high = plan.fleet.high;
    let k = |m: Middle, what: &str| key(high, m, what);

    // reconnect
    let mut reconnect = json!({ "devices": high });
    let mut by = json!({});
    for &m in &middles {
        let n = m.name();
        table.add(
            &format!("reconnect {high}: seconds until all relaying"),
            n,
            s.stat(&k(m, "seconds")),
        );
        table.add(
            &format!("reconnect {high}: median seconds to relaying"),
            n,
            s.stat(&k(m, "median_seconds")),
        );
        table.add(
            &format!("reconnect {high}: failed attempts"),
            n,
            s.stat(&k(m, "failures")),
        );
        table.add(
            &format!("reconnect {high}: listen queue overflows"),
            n,
            s.stat(&k(m, "listen_overflows")),
        );
        let total = |what: &str| s.get(&k(m, what)).iter().sum::<f64>();
        by[n] = json!({
            "seconds": s.stat(&k(m, "seconds")).json(),
            "median_seconds": s.stat(&k(m, "median_seconds")).json(),
            "failures_total": total("failures"),
            "connection_errors_total": total("connection_errors"),
            "timeouts_total": total("timeouts"),
            "refusals_total": total("refusals"),
            "listen_overflows_total": total("listen_overflows"),
            "relaying": s.stat(&k(m, "relaying")).json(),
        });
    }
    let failures: f64 = s.get(&k(Middle::Proxy, "failures")).iter().sum();
    let to_plain = s.ratio(&k(Middle::Proxy, "seconds"), &k(Middle::Relay, "seconds"));
    let to_haproxy = s.ratio(&k(Middle::Proxy, "seconds"), &k(Middle::Haproxy, "seconds"));
    table.add(
        &format!("reconnect {high}: time / plain relay's"),
        "proxy",
        to_plain,
    );
    table.add(
        &format!("reconnect {high}: time / haproxy's"),
        "proxy",
        to_haproxy,
    );
    reconnect["by_path"] = by;
    // Every failed attempt through the proxy, over all repetitions: the target is none.
    reconnect["failures"] = json!(failures);
    reconnect["time_ratio_to_plain"] = num(to_plain.median);
    reconnect["time_ratio_to_haproxy"] = num(to_haproxy.median);
    reconnect["seconds_proxy"] = num(s.stat(&k(Middle::Proxy, "seconds")).median);
    reconnect["seconds_plain"] = num(s.stat(&k(Middle::Relay, "seconds")).median);

    // idle
    let mut idle = json!({});
    let mut by = json!({});
    for &(size, _) in &sizes {
        let mut entry = json!({});
        for &m in &middles {
            let kk = |what: &str| key(size, m, what);
            if s.get(&kk("rss")).is_empty() {
                continue;
            }
            let n = m.name();
            table.add(
                &format!("idle {size}: middle RSS bytes/session"),
                n,
                s.stat(&kk("rss")),
            );
            table.add(
                &format!("idle {size}: kernel socket bytes/session"),
                n,
                s.stat(&kk("kernel")),
            );
            table.add(
                &format!("idle {size}: RSS + kernel bytes/session"),
                n,
                s.stat(&kk("total")),
            );
            entry[n] = json!({
                "bytes_per_session": s.stat(&kk("rss")).json(),
                "kernel_bytes_per_session": s.stat(&kk("kernel")).json(),
                "kernel_buffer_bytes_per_session": s.stat(&kk("buffers")).json(),
                "kernel_object_bytes_per_session": s.stat(&kk("objects")).json(),
                "total_bytes_per_session": s.stat(&kk("total")).json(),
                "login_seconds": s.stat(&kk("seconds")).json(),
                "stanzas_per_s_while_idle": s.stat(&kk("keepalives")).json(),
                "sockets_held": s.stat(&kk("sockets")).json(),
            });
        }
        by[size.to_string()] = entry;
    }
    idle["by_sessions"] = by;
    idle["sessions"] = json!(high);
    idle["proxy_bytes_per_session"] = num(s.stat(&k(Middle::Proxy, "rss")).median);
    idle["kernel_bytes_per_session"] = num(s.stat(&k(Middle::Proxy, "kernel")).median);
    idle["proxy_total_bytes_per_session"] = num(s.stat(&k(Middle::Proxy, "total")).median);
    idle["kernel_objects_counted"] = json!(objects.is_some());
    idle["kernel_object_bytes_per_socket"] = json!(objects);

    let mut sections = vec![("reconnect", reconnect), ("idle", idle)];
    if scale {
        let low = plan.fleet.low;
        let mut section = json!({ "sessions_low": low, "sessions_high": high });
        for size in [low, high] {
            let kk = |m: Middle, what: &str| key(size, m, what);
            let h = s.stat(&kk(Middle::Proxy, "handshake"));
            let r = s.stat(&kk(Middle::Proxy, "relay_cpu"));
            let p = s.stat(&kk(Middle::Relay, "relay_cpu"));
            let rate = s.stat(&kk(Middle::Proxy, "relay_rate"));
            table.add(
                &format!("scale {size}: CPU us/login, sessions held"),
                "proxy",
                h,
            );
            table.add(&format!("scale {size}: CPU s/1M stanzas"), "proxy", r);
            table.add(&format!("scale {size}: CPU s/1M stanzas"), "relay", p);
            table.add(&format!("scale {size}: stanzas/s"), "proxy", rate);
            section[size.to_string()] = json!({
                "handshake_cpu_us_per_session": h.json(),
                "relay_cpu_s_per_million": r.json(),
                "plain_relay_cpu_s_per_million": p.json(),
                "relay_stanzas_per_s": rate.json(),
            });
        }
        let ratio = |m: Middle, what: &str| s.ratio(&key(high, m, what), &key(low, m, what));
        let (h, r, p) = (
            ratio(Middle::Proxy, "handshake"),
            ratio(Middle::Proxy, "relay_cpu"),
            ratio(Middle::Relay, "relay_cpu"),
        );
        table.add("scale: CPU/login, most sessions / fewest", "proxy", h);
        table.add("scale: CPU/stanza, most sessions / fewest", "proxy", r);
        table.add("scale: CPU/stanza, most sessions / fewest", "relay", p);
        section["handshake_cpu_ratio_high_to_low"] = num(h.median);
        section["relay_cpu_ratio_high_to_low"] = num(r.median);
        section["plain_relay_cpu_ratio_high_to_low"] = num(p.median);
        let per_core: Vec<f64> = s
            .get(&k(Middle::Proxy, "relay_cpu"))
            .iter()
            .map(|c| 1e6 / c)
            .collect();
        section["stanzas_per_s_per_core_high"] = num(Stat::of(&per_core).median);
        sections.push(("scale", section));
    }
    Ok(sections)
}

/// A healthy client's login latency through the proxy, alone and under a slow attack.
fn slow_section(
    runtime: &tokio::runtime::Runtime,
    lab: &Lab,
    plan: &Plan,
    table: &mut Table,
) -> anyhow::Result<Value> {
    // The attackers must outlast the measurement window: a handshake timeout well above it.
    let proxy = lab.start(Middle::Proxy, &["--handshake-timeout-s", "60"])?;
    let target = lab.target(Middle::Proxy, &proxy)?;
    let (attackers, logins) = (plan.slow_attackers, plan.slow_logins);
    let mut figures: [Vec<f64>; 4] = Default::default();
    let mut ratio = Vec::new();
    let mut window = Vec::new();
    let mut open = Vec::new();
    let mut held = Vec::new();
    let fds = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(f64::NAN, |d| d.count() as f64)
    };
    // Warm up, and let the proxy learn the server's key.
    runtime.block_on(workload::login_latencies(&target, 8))?;
    for _ in 0..plan.runs {
        let baseline = runtime.block_on(workload::login_latencies(&target, logins))?;
        let fds_before = fds(proxy.pid);
        let attack = runtime.block_on(workload::SlowAttack::open(&target, attackers))?;
        // Let every attacker be accepted and start its trickle.
        std::thread::sleep(Duration::from_millis(1500));
        // Sockets the proxy accepted for them (not merely queued in its backlog).
        held.push(fds(proxy.pid) - fds_before);
        let t = Instant::now();
        let under = runtime.block_on(workload::login_latencies(&target, logins))?;
        window.push(t.elapsed().as_secs_f64());
        open.push(runtime.block_on(attack.close())? as f64);
        // Let the proxy see the closes before the next baseline.
        std::thread::sleep(Duration::from_millis(500));
        let (b50, u50) = (quantile(&baseline, 0.5), quantile(&under, 0.5));
        figures[0].push(b50);
        figures[1].push(u50);
        figures[2].push(quantile(&baseline, 0.99));
        figures[3].push(quantile(&under, 0.99));
        ratio.push((u50 - b50) / b50);
    }
    drop(proxy);
    let names = [
        ("login p50 baseline: us", "login_us_p50_baseline"),
        ("login p50 under attack: us", "login_us_p50_under_attack"),
        ("login p99 baseline: us", "login_us_p99_baseline"),
        ("login p99 under attack: us", "login_us_p99_under_attack"),
    ];
    let mut section = json!({ "attackers": attackers, "logins_per_run": logins });
    let mut stats = json!({});
    for (values, (label, key)) in figures.iter().zip(names) {
        let s = Stat::of(values);
        table.add(&format!("slow {attackers}: {label}"), "proxy", s);
        section[key] = num(s.median);
        stats[key] = s.json();
    }
    let r = Stat::of(&ratio);
    table.add(
        &format!("slow {attackers}: added p50 / baseline p50"),
        "proxy",
        r,
    );
    table.add(
        &format!("slow {attackers}: attackers still open at end"),
        "proxy",
        Stat::of(&open),
    );
    table.add(
        &format!("slow {attackers}: proxy fds held by attackers"),
        "proxy",
        Stat::of(&held),
    );
    table.add(
        &format!("slow {attackers}: seconds under attack"),
        "proxy",
        Stat::of(&window),
    );
    section["added_p50_ratio_to_handshake"] = num(r.median);
    stats["added_p50_ratio_to_handshake"] = r.json();
    stats["attackers_open_at_end"] = Stat::of(&open).json();
    stats["proxy_fds_held_by_attackers"] = Stat::of(&held).json();
    stats["seconds_under_attack"] = Stat::of(&window).json();
    section["stats"] = stats;
    Ok(section)
}

/// The ratios the targets are stated in.
fn print_ratios(out: &BTreeMap<String, Value>) {
    let get = |section: &str, key: &str| -> f64 {
        out.get(section)
            .and_then(|s| s.get(key))
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    println!("{:<54} {:>10}   target", "ratios (medians)", "value");
    let rows = [
        (
            "handshake xx: proxy CPU / X25519 floor",
            get("handshake", "proxy_cpu_us_per_session_ratio_to_floor"),
            "<= 1.25",
        ),
        (
            "handshake xx: (proxy - plain relay) CPU, us/login",
            get("handshake", "added_cpu_us_per_login"),
            "",
        ),
        (
            "handshake xx: X25519 floor of its patterns, us",
            get("handshake", "patterns_floor_us_per_login"),
            "",
        ),
        (
            "handshake xx: (proxy - plain relay) / patterns floor",
            get("handshake", "added_cpu_ratio_to_patterns_floor"),
            "<= 1.25",
        ),
        (
            "handshake ik: (proxy - plain relay) / patterns floor",
            get("handshake", "added_cpu_ratio_to_patterns_floor_ik"),
            "<= 1.25",
        ),
        (
            "handshake xx: sessions/s proxy / direct",
            get("handshake", "sessions_per_s_ratio_to_direct_xx"),
            "",
        ),
        (
            "handshake xx: sessions/s proxy / plain relay",
            get("handshake", "sessions_per_s_ratio_to_plain_xx"),
            "",
        ),
        (
            "relay: proxy CPU per stanza / plain relay's",
            get("relay", "proxy_cpu_ratio_to_plain"),
            "<= 3",
        ),
        (
            "relay: proxy CPU per stanza / haproxy's",
            get("relay", "proxy_cpu_ratio_to_haproxy"),
            "<= 2",
        ),
        (
            "relay: proxy stanzas/s per core",
            get("relay", "stanzas_per_s_per_core"),
            ">= 150000",
        ),
        (
            "fixed rate: proxy CPU per stanza / haproxy's",
            get("relay", "fixed_rate_cpu_ratio_to_haproxy"),
            "<= 2.5",
        ),
        (
            "fixed rate: proxy stanzas/s per core",
            get("relay", "fixed_rate_stanzas_per_s_per_core"),
            ">= 100000",
        ),
        (
            "latency p50 added: proxy / plain relay",
            get("latency", "p50_added_ratio_to_plain"),
            "<= 2",
        ),
        (
            "latency p99 added: proxy / plain relay",
            get("latency", "p99_added_ratio_to_plain"),
            "<= 2",
        ),
        (
            "latency p50 added: proxy / haproxy",
            get("latency", "p50_added_ratio_to_haproxy"),
            "<= 1.5",
        ),
        (
            "latency p99 added: proxy / haproxy",
            get("latency", "p99_added_ratio_to_haproxy"),
            "<= 1.5",
        ),
        (
            "latency p50 added, us: proxy",
            get("latency", "p50_added_us_proxy"),
            "",
        ),
        (
            "latency p99 added, us: proxy",
            get("latency", "p99_added_us_proxy"),
            "",
        ),
        (
            "reconnect: failed attempts through the proxy",
            get("reconnect", "failures"),
            "0",
        ),
        (
            "reconnect: time until all relaying / plain relay's",
            get("reconnect", "time_ratio_to_plain"),
            "<= 1.3",
        ),
        (
            "scale: handshake CPU, most sessions / fewest",
            get("scale", "handshake_cpu_ratio_high_to_low"),
            "0.8 - 1.2",
        ),
        (
            "scale: relay CPU per stanza, most sessions / fewest",
            get("scale", "relay_cpu_ratio_high_to_low"),
            "0.8 - 1.2",
        ),
        (
            "scale: plain relay CPU/stanza, most / fewest",
            get("scale", "plain_relay_cpu_ratio_high_to_low"),
            "",
        ),
        (
            "slow: added login p50 / baseline login p50",
            get("slow", "added_p50_ratio_to_handshake"),
            "<= 1",
        ),
        (
            "idle: proxy RSS bytes/session (largest count)",
            get("idle", "proxy_bytes_per_session"),
            "<= 8192",
        ),
        (
            "idle: kernel socket bytes/session (largest count)",
            get("idle", "kernel_bytes_per_session"),
            "",
        ),
    ];
    for (label, value, target) in rows {
        println!("{label:<54} {:>10}   {target}", fmt(value));
    }
    if let Some(p) = out.get("primitives") {
        println!(
            "fastest X25519: {}; fastest AES-256-GCM: {}",
            p["fastest_x25519"].as_str().unwrap_or("-"),
            p["fastest_aesgcm"].as_str().unwrap_or("-")
        );
    }
}
