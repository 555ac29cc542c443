//! `interop-proxy bench`: the same workloads three ways, on loopback, in one run
//! (DESIGN.md, "Peers the project is measured against"):
//!
//! - **direct**: reference clients straight to the reference server (the floor);
//! - **relay**: through a plain TCP relay (`copy_bidirectional`);
//! - **proxy**: through interop-proxy.
//!
//! The reference server, the relay and the proxy each run in a child process (see
//! [`child`]), so the CPU time (`/proc/PID/stat` utime+stime) and resident memory
//! (`/proc/PID/status` VmRSS) read for the relay and the proxy are theirs alone. The
//! clients run here. Workloads:
//!
//! - `handshake`: logins per second (XX and IK from the client) and the middle's CPU
//!   per session;
//! - `relay`: sessions messaging themselves with ~600-byte `<message>` stanzas (300-byte
//!   `<enc>`), which the server echoes, at full speed and at a fixed offered rate: the
//!   stanzas crossing the middle per second (message out, echo back, ack back) and the
//!   middle's CPU per million of them; echo round-trip latency at the fixed rate;
//! - `idle`: thousands of logged-in idle sessions: the middle's RSS per session;
//! - `scale`: CPU per login with 100 and with 9,000 sessions held open, and CPU per
//!   stanza with 100 and with 9,000 sessions all relaying at the fixed offered rate (the
//!   plain relay alongside as the control): per-unit cost must not grow with the number
//!   of sessions;
//! - `slow`: a healthy client's login latency through the proxy, alone and while 1,000
//!   slow attackers (a valid intro header, then one byte a second) hold sessions in the
//!   handshake stage.
//!
//! It also measures the primitives' own speed on one core through snow's resolvers.

mod child;
mod plain_relay;
mod primitives;
mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use child::{ChildArgs, Role};
use workload::{quantile, MessageShape, RelayPlan, Target};

/// `interop-proxy bench`.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// A reduced run of every workload (including 9,000 idle sessions), under 3 minutes.
    #[arg(long)]
    pub quick: bool,
    /// Every workload once at a token size, in seconds, to check that the harness works
    /// (as criterion's `--test`); the figures mean nothing.
    #[arg(long, conflicts_with = "quick")]
    pub test: bool,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Repetitions of each measurement (default: 3 with --quick, 5 without).
    #[arg(long)]
    pub runs: Option<usize>,
    /// Offered rate of the fixed-rate relay and latency workload, messages per second.
    #[arg(long, default_value_t = 10_000.0)]
    pub rate: f64,
    /// Only these workloads (comma-separated:
    /// primitives,handshake,relay,latency,idle,scale,slow).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

/// Runs a child role (the hidden `bench-child` subcommand).
pub fn run_child(args: ChildArgs) -> anyhow::Result<()> {
    child::run_child(args)
}

/// The sizes of one bench run.
#[derive(Clone, Debug)]
struct Plan {
    runs: usize,
    primitive_time: Duration,
    handshake_concurrency: usize,
    handshake_time: Duration,
    relay: RelayPlan,
    latency: RelayPlan,
    idle: Vec<(usize, usize)>,
    /// Session counts of the scale workload, and its repetitions.
    scale: (Vec<usize>, usize),
    slow_attackers: usize,
    slow_logins: usize,
}

impl Plan {
    fn new(args: &BenchArgs) -> Self {
        if args.test {
            return Self::token(args);
        }
        let runs = args.runs.unwrap_or(if args.quick { 3 } else { 5 }).max(1);
        let (secs, sessions) = if args.quick { (2.0, 16) } else { (5.0, 64) };
        let relay = RelayPlan {
            sessions,
            window: 16,
            rate: None,
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs_f64(secs),
        };
        Self {
            runs,
            primitive_time: Duration::from_millis(if args.quick { 200 } else { 500 }),
            handshake_concurrency: 8,
            handshake_time: Duration::from_secs_f64(if args.quick { 1.5 } else { 4.0 }),
            relay,
            latency: RelayPlan {
                rate: Some(args.rate),
                window: 32,
                ..relay
            },
            // (sessions, repetitions)
            idle: if args.quick {
                vec![(1000, 2), (9000, 1)]
            } else {
                vec![(1000, runs.min(3)), (9000, runs.min(3))]
            },
            scale: (vec![100, 9000], if args.quick { 1 } else { runs.min(3) }),
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
            handshake_concurrency: 2,
            handshake_time: Duration::from_millis(300),
            relay,
            latency: RelayPlan {
                rate: Some(args.rate.min(1_000.0)),
                ..relay
            },
            idle: vec![(50, 1)],
            scale: (vec![10, 50], 1),
            slow_attackers: 20,
            slow_logins: 10,
        }
    }
}

/// Median, min and max of repeated measurements.
#[derive(Clone, Copy, Debug)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

impl Stat {
    fn of(values: &[f64]) -> Self {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Self {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Self {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }

    fn json(&self) -> Value {
        json!({ "median": num(self.median), "min": num(self.min), "max": num(self.max) })
    }
}

/// A JSON number, or null where a figure could not be taken.
fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// Rows of the printed table, in order.
#[derive(Default)]
struct Table {
    rows: Vec<(String, &'static str, Stat)>,
}

impl Table {
    fn add(&mut self, metric: &str, target: &'static str, stat: Stat) {
        self.rows.push((metric.to_string(), target, stat));
    }

    fn print(&self) {
        println!(
            "{:<46} {:<7} {:>13} {:>13} {:>13}",
            "metric", "target", "median", "min", "max"
        );
        for (metric, target, s) in &self.rows {
            println!(
                "{:<46} {:<7} {:>13} {:>13} {:>13}",
                metric,
                target,
                fmt(s.median),
                fmt(s.min),
                fmt(s.max)
            );
        }
    }
}

fn fmt(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// The three targets with their processes. The server outlives the others.
struct Peers {
    server: child::Child,
    relay: child::Child,
    proxy: child::Child,
}

impl Peers {
    fn start_server() -> anyhow::Result<child::Child> {
        child::Child::spawn(&["server"])
    }

    fn start_relay(server: &child::Child) -> anyhow::Result<child::Child> {
        child::Child::spawn(&["relay", "--upstream", server.field("addr")?])
    }

    fn start_proxy(server: &child::Child) -> anyhow::Result<child::Child> {
        Self::start_proxy_with(server, &[])
    }

    fn start_proxy_with(server: &child::Child, extra: &[&str]) -> anyhow::Result<child::Child> {
        let mut args = vec![
            "proxy",
            "--upstream",
            server.field("addr")?,
            "--root",
            server.field("root")?,
        ];
        args.extend_from_slice(extra);
        child::Child::spawn(&args)
    }

    fn direct(&self) -> anyhow::Result<Target> {
        Ok(Target {
            name: "direct",
            addr: self.server.addr()?,
            root: self.server.key("root")?,
            responder_static: self.server.key("static")?,
            middle_pid: None,
        })
    }

    fn relay_target(server: &child::Child, relay: &child::Child) -> anyhow::Result<Target> {
        Ok(Target {
            name: "relay",
            addr: relay.addr()?,
            root: server.key("root")?,
            responder_static: server.key("static")?,
            middle_pid: Some(relay.pid),
        })
    }

    fn proxy_target(proxy: &child::Child) -> anyhow::Result<Target> {
        Ok(Target {
            name: "proxy",
            addr: proxy.addr()?,
            root: proxy.key("root")?,
            responder_static: proxy.key("static")?,
            middle_pid: Some(proxy.pid),
        })
    }

    fn targets(&self) -> anyhow::Result<[Target; 3]> {
        Ok([
            self.direct()?,
            Self::relay_target(&self.server, &self.relay)?,
            Self::proxy_target(&self.proxy)?,
        ])
    }
}

/// `interop-proxy bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let nofile = child::raise_nofile();
    let plan = Plan::new(&args);
    let wants = |w: &str| args.only.is_empty() || args.only.iter().any(|o| o == w);
    let mut table = Table::default();
    let mut out = BTreeMap::<String, Value>::new();
    out.insert(
        "setup".into(),
        json!({
            "quick": args.quick,
            "test": args.test,
            "runs": plan.runs,
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "nofile_limit": nofile,
            "handshake_concurrency": plan.handshake_concurrency,
            "relay_sessions": plan.relay.sessions,
            "relay_window": plan.relay.window,
            "offered_messages_per_s": args.rate,
            "relayed_stanzas_per_message": 3,
        }),
    );
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

    // The primitives, on this thread (one core).
    let mut floor_us = f64::NAN;
    let mut floors = json!({});
    if wants("primitives") {
        let (value, floor, actual) = primitives_section(&plan, &mut table);
        out.insert("primitives".into(), value);
        floor_us = floor;
        floors = actual;
    }

    let runtime = tokio::runtime::Runtime::new()?;
    let server = Peers::start_server()?;
    let peers = Peers {
        relay: Peers::start_relay(&server)?,
        proxy: Peers::start_proxy(&server)?,
        server,
    };
    let targets = peers.targets()?;

    if wants("handshake") {
        let mut section = json!({ "x25519_floor_us_per_session": num(floor_us) });
        for (label, ik) in [("xx", false), ("ik", true)] {
            let mut rate: [Vec<f64>; 3] = Default::default();
            let mut cpu: [Vec<f64>; 3] = Default::default();
            let mut system: [Vec<f64>; 3] = Default::default();
            for _ in 0..plan.runs {
                for (i, target) in targets.iter().enumerate() {
                    let s = runtime.block_on(workload::handshakes(
                        target,
                        ik,
                        plan.handshake_concurrency,
                        plan.handshake_time,
                    ))?;
                    rate[i].push(s.sessions_per_s);
                    cpu[i].push(s.cpu_us_per_session);
                    system[i].push(s.system_us_per_session);
                }
            }
            let mut per = json!({});
            for (i, target) in targets.iter().enumerate() {
                let r = Stat::of(&rate[i]);
                table.add(&format!("handshake {label}: sessions/s"), target.name, r);
                per[target.name] = json!({ "sessions_per_s": r.json() });
                if target.middle_pid.is_some() {
                    let c = Stat::of(&cpu[i]);
                    table.add(
                        &format!("handshake {label}: middle CPU us/session"),
                        target.name,
                        c,
                    );
                    per[target.name]["cpu_us_per_session"] = c.json();
                    let k = Stat::of(&system[i]);
                    table.add(
                        &format!("handshake {label}: middle system CPU us/session"),
                        target.name,
                        k,
                    );
                    per[target.name]["system_cpu_us_per_session"] = k.json();
                }
            }
            let proxy_cpu = Stat::of(&cpu[2]).median;
            let plain_cpu = Stat::of(&cpu[1]).median;
            section[label] = per;
            let key = if ik {
                "proxy_cpu_us_per_session_ik"
            } else {
                "proxy_cpu_us_per_session"
            };
            section[key] = num(proxy_cpu);
            section[format!("{key}_ratio_to_floor")] = num(proxy_cpu / floor_us);
            // What the proxy spends beyond a plain relay on the same sockets and
            // connections, against the floor: the part a faster handshake could move.
            section[format!("{key}_beyond_plain_ratio_to_floor")] =
                num((proxy_cpu - plain_cpu) / floor_us);
            section[format!("sessions_per_s_ratio_to_direct_{label}")] =
                num(Stat::of(&rate[2]).median / Stat::of(&rate[0]).median);
            section[format!("sessions_per_s_ratio_to_plain_{label}")] =
                num(Stat::of(&rate[2]).median / Stat::of(&rate[1]).median);
        }
        section["floors_for_actual_patterns"] = floors;
        out.insert("handshake".into(), section);
    }

    let shape = Arc::new(MessageShape::new(600));
    if wants("relay") {
        let section = relay_section(
            &runtime, &targets, plan.runs, plan.relay, &shape, &mut table,
        )?;
        out.insert("relay".into(), section);
    }
    if wants("latency") {
        let section = latency_section(&runtime, &targets, &plan, &shape, &mut table)?;
        out.insert("latency".into(), section);
    }
    if wants("slow") {
        let section = slow_section(&runtime, &peers.server, &plan, &mut table)?;
        out.insert("slow".into(), section);
    }
    if wants("scale") {
        let section = scale_section(&runtime, &peers.server, &plan, &shape, &mut table)?;
        out.insert("scale".into(), section);
    }
    if wants("idle") {
        let Peers {
            server,
            relay,
            proxy,
        } = peers;
        drop((relay, proxy));
        let section = idle_section(&runtime, &server, &plan, &mut table)?;
        out.insert("idle".into(), section);
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

/// The primitives; returns the section, the X25519 floor per session (6 DH + 2
/// key generations at the fastest resolver), and the floors of the patterns the proxy
/// actually runs.
fn primitives_section(plan: &Plan, table: &mut Table) -> (Value, f64, Value) {
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
    let dh_us = 1e6 / best_dh.0;
    let keygen_us = 1e6 / best_keygen.0;
    let floor = 6.0 * dh_us + 2.0 * keygen_us;
    // What the proxy runs per session once it knows the server's key (upstream IK): the
    // client-leg responder (XX: e, ee, es... 3 DH; IK: 4 DH), the upstream IK initiator
    // (4 DH), two ephemeral key generations, and one more fixed-base multiplication for
    // the public half of the per-device upstream static key.
    let actual = json!({
        "client_xx_upstream_ik_us": num(7.0 * dh_us + 3.0 * keygen_us),
        "client_ik_upstream_ik_us": num(8.0 * dh_us + 3.0 * keygen_us),
        "dh_us": num(dh_us),
        "keygen_us": num(keygen_us),
    });
    let value = json!({
        "resolvers": resolvers,
        "fastest_x25519": best_dh.1,
        "fastest_aesgcm": best_aes.1,
        "x25519_dh_per_s": num(best_dh.0),
        "x25519_keygen_per_s": num(best_keygen.0),
        "aesgcm_600_bytes_per_s": num(best_aes.0),
        "x25519_floor_us_per_session": num(floor),
    });
    (value, floor, actual)
}

fn short(resolver: &str) -> &str {
    resolver.split_whitespace().next().unwrap_or(resolver)
}

/// Relay throughput at full speed and at the fixed rate.
fn relay_section(
    runtime: &tokio::runtime::Runtime,
    targets: &[Target; 3],
    runs: usize,
    plan: RelayPlan,
    shape: &Arc<MessageShape>,
    table: &mut Table,
) -> anyhow::Result<Value> {
    let mut rate: [Vec<f64>; 3] = Default::default();
    let mut cpu: [Vec<f64>; 3] = Default::default();
    let mut cores: [Vec<f64>; 3] = Default::default();
    for _ in 0..runs {
        for (i, target) in targets.iter().enumerate() {
            let s = runtime.block_on(workload::relay(target, plan, shape))?;
            rate[i].push(s.stanzas_per_s);
            cpu[i].push(s.cpu_s_per_million);
            cores[i].push(s.cores);
        }
    }
    let mut section = json!({});
    let mut per = json!({});
    for (i, target) in targets.iter().enumerate() {
        let r = Stat::of(&rate[i]);
        table.add("relay full speed: stanzas/s", target.name, r);
        per[target.name] = json!({ "stanzas_per_s": r.json() });
        if target.middle_pid.is_some() {
            let c = Stat::of(&cpu[i]);
            table.add("relay full speed: middle CPU s/1M stanzas", target.name, c);
            table.add(
                "relay full speed: middle CPU cores",
                target.name,
                Stat::of(&cores[i]),
            );
            per[target.name]["cpu_s_per_million"] = c.json();
            per[target.name]["cores"] = Stat::of(&cores[i]).json();
        }
    }
    let proxy_cpu = Stat::of(&cpu[2]).median;
    let plain_cpu = Stat::of(&cpu[1]).median;
    section["full_speed"] = per;
    section["proxy_cpu_s_per_million"] = num(proxy_cpu);
    section["plain_cpu_s_per_million"] = num(plain_cpu);
    section["proxy_cpu_ratio_to_plain"] = num(proxy_cpu / plain_cpu);
    section["stanzas_per_s_per_core"] = num(1e6 / proxy_cpu);
    section["stanzas_per_s_ratio_to_direct"] =
        num(Stat::of(&rate[2]).median / Stat::of(&rate[0]).median);
    section["stanzas_per_s_ratio_to_plain"] =
        num(Stat::of(&rate[2]).median / Stat::of(&rate[1]).median);
    Ok(section)
}

/// Echo latency (and throughput, CPU) at the fixed offered rate.
fn latency_section(
    runtime: &tokio::runtime::Runtime,
    targets: &[Target; 3],
    plan: &Plan,
    shape: &Arc<MessageShape>,
    table: &mut Table,
) -> anyhow::Result<Value> {
    let qs = [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)];
    let mut lat: [[Vec<f64>; 3]; 3] = Default::default();
    let mut rate: [Vec<f64>; 3] = Default::default();
    let mut cpu: [Vec<f64>; 3] = Default::default();
    for _ in 0..plan.runs {
        for (i, target) in targets.iter().enumerate() {
            let s = runtime.block_on(workload::relay(target, plan.latency, shape))?;
            for (q, (_, at)) in qs.iter().enumerate() {
                lat[i][q].push(quantile(&s.latencies_us, *at));
            }
            rate[i].push(s.echoes_per_s);
            cpu[i].push(s.cpu_s_per_million);
        }
    }
    let offered = plan.latency.rate.unwrap_or(f64::NAN);
    let mut section = json!({ "offered_messages_per_s": offered });
    let mut per = json!({});
    for (i, target) in targets.iter().enumerate() {
        let mut entry = json!({});
        for (q, (name, _)) in qs.iter().enumerate() {
            let s = Stat::of(&lat[i][q]);
            table.add(
                &format!("echo RTT {name} at {offered:.0} msg/s: us"),
                target.name,
                s,
            );
            entry[format!("{}_us", name.replace('.', ""))] = s.json();
        }
        let r = Stat::of(&rate[i]);
        table.add("fixed rate: echoed messages/s", target.name, r);
        entry["echoes_per_s"] = r.json();
        if target.middle_pid.is_some() {
            let c = Stat::of(&cpu[i]);
            table.add("fixed rate: middle CPU s/1M stanzas", target.name, c);
            entry["cpu_s_per_million"] = c.json();
        }
        per[target.name] = entry;
    }
    section["targets"] = per;
    for (q, (name, _)) in qs.iter().enumerate() {
        // What a middle adds is taken within each repetition, against the direct run
        // measured just before it, and the median taken over repetitions: the machine's
        // slow drifts then cancel, where a difference of separate medians can pair a
        // quiet direct run with a noisy relayed one (and even come out negative).
        let added = |i: usize| {
            let diffs: Vec<f64> = lat[i][q]
                .iter()
                .zip(&lat[0][q])
                .map(|(x, d)| x - d)
                .collect();
            Stat::of(&diffs).median
        };
        let added_proxy = added(2);
        let added_plain = added(1);
        let key = name.replace('.', "");
        section[format!("{key}_added_us_proxy")] = num(added_proxy);
        section[format!("{key}_added_us_plain")] = num(added_plain);
        // A plain relay adds a few µs, within the noise of a shared machine; below 1 µs
        // the ratio would say more about the noise than about the proxy.
        section[format!("{key}_added_ratio_to_plain")] = num(added_proxy / added_plain.max(1.0));
    }
    let c = |i: usize| Stat::of(&cpu[i]).median;
    section["proxy_cpu_ratio_to_plain_at_fixed_rate"] = num(c(2) / c(1));
    Ok(section)
}

/// Resident memory of idle sessions, each measured on a fresh middle process.
fn idle_section(
    runtime: &tokio::runtime::Runtime,
    server: &child::Child,
    plan: &Plan,
    table: &mut Table,
) -> anyhow::Result<Value> {
    let mut section = json!({});
    let mut by = json!({});
    let mut last = (0usize, f64::NAN);
    for &(sessions, reps) in &plan.idle {
        let mut entry = json!({});
        for name in ["relay", "proxy"] {
            let mut per_session = Vec::new();
            let mut seconds = Vec::new();
            for _ in 0..reps {
                let middle = if name == "relay" {
                    Peers::start_relay(server)?
                } else {
                    Peers::start_proxy(server)?
                };
                let target = if name == "relay" {
                    Peers::relay_target(server, &middle)?
                } else {
                    Peers::proxy_target(&middle)?
                };
                std::thread::sleep(Duration::from_millis(200));
                let before = middle.rss_bytes();
                let t = Instant::now();
                let clients = runtime.block_on(workload::open_idle(&target, sessions))?;
                seconds.push(t.elapsed().as_secs_f64());
                std::thread::sleep(Duration::from_millis(500));
                let after = middle.rss_bytes();
                per_session.push((after as f64 - before as f64) / sessions as f64);
                runtime.block_on(async {
                    for client in clients {
                        drop(client);
                    }
                });
                drop(middle);
                // Let the server see the closes before the next batch logs in.
                std::thread::sleep(Duration::from_millis(500));
            }
            let s = Stat::of(&per_session);
            table.add(
                &format!("idle {sessions}: middle RSS bytes/session"),
                name,
                s,
            );
            table.add(
                &format!("idle {sessions}: seconds to log in all"),
                name,
                Stat::of(&seconds),
            );
            entry[name] = json!({ "bytes_per_session": s.json(), "login_seconds": Stat::of(&seconds).json() });
            if name == "proxy" {
                last = (sessions, s.median);
            }
        }
        by[sessions.to_string()] = entry;
    }
    section["by_sessions"] = by;
    section["sessions"] = json!(last.0);
    section["proxy_bytes_per_session"] = num(last.1);
    Ok(section)
}

/// Whether per-unit costs stay flat as sessions grow: on a fresh proxy per count, the CPU
/// per login while that many sessions are held open, then the CPU per stanza with that
/// many sessions all messaging at the fixed offered rate (the same stanzas per second at
/// every count), and the same for a plain relay as the control.
fn scale_section(
    runtime: &tokio::runtime::Runtime,
    server: &child::Child,
    plan: &Plan,
    shape: &Arc<MessageShape>,
    table: &mut Table,
) -> anyhow::Result<Value> {
    let (counts, reps) = &plan.scale;
    let mut section = json!({});
    let mut figures = Vec::new();
    // The offered rate of the latency workload, spread over every session: the same
    // stanzas per second at every count, so only the number of sessions differs.
    let relay_plan = |sessions| RelayPlan {
        sessions,
        window: 2,
        ..plan.latency
    };
    for &sessions in counts {
        let mut handshake = Vec::new();
        let mut relay = Vec::new();
        let mut plain = Vec::new();
        let mut rate = Vec::new();
        for _ in 0..*reps {
            let middle = Peers::start_proxy(server)?;
            let target = Peers::proxy_target(&middle)?;
            let held = runtime.block_on(workload::open_idle(&target, sessions))?;
            let h = runtime.block_on(workload::handshakes(
                &target,
                false,
                plan.handshake_concurrency,
                plan.handshake_time,
            ))?;
            handshake.push(h.cpu_us_per_session);
            runtime.block_on(async { drop(held) });
            // Let the proxy and the server see the closes before the next logins.
            std::thread::sleep(Duration::from_millis(1000));
            let r = runtime.block_on(workload::relay(&target, relay_plan(sessions), shape))?;
            relay.push(r.cpu_s_per_million);
            rate.push(r.stanzas_per_s);
            drop(middle);
            std::thread::sleep(Duration::from_millis(500));
            // The control: a plain relay under the same load, to tell the proxy's own
            // growth from the machine's.
            let middle = Peers::start_relay(server)?;
            let target = Peers::relay_target(server, &middle)?;
            let r = runtime.block_on(workload::relay(&target, relay_plan(sessions), shape))?;
            plain.push(r.cpu_s_per_million);
            drop(middle);
            std::thread::sleep(Duration::from_millis(500));
        }
        let (h, r, p, rate) = (
            Stat::of(&handshake),
            Stat::of(&relay),
            Stat::of(&plain),
            Stat::of(&rate),
        );
        table.add(
            &format!("scale {sessions}: CPU us/login, sessions held"),
            "proxy",
            h,
        );
        table.add(&format!("scale {sessions}: CPU s/1M stanzas"), "proxy", r);
        table.add(&format!("scale {sessions}: CPU s/1M stanzas"), "relay", p);
        table.add(&format!("scale {sessions}: stanzas/s"), "proxy", rate);
        section[sessions.to_string()] = json!({
            "handshake_cpu_us_per_session": h.json(),
            "relay_cpu_s_per_million": r.json(),
            "plain_relay_cpu_s_per_million": p.json(),
            "relay_stanzas_per_s": rate.json(),
        });
        figures.push((sessions, h.median, r.median, p.median));
    }
    if let (Some(low), Some(high)) = (figures.first(), figures.last()) {
        section["sessions_low"] = json!(low.0);
        section["sessions_high"] = json!(high.0);
        section["handshake_cpu_ratio_high_to_low"] = num(high.1 / low.1);
        section["relay_cpu_ratio_high_to_low"] = num(high.2 / low.2);
        section["plain_relay_cpu_ratio_high_to_low"] = num(high.3 / low.3);
    }
    Ok(section)
}

/// A healthy client's login latency through the proxy, alone and under a slow attack.
fn slow_section(
    runtime: &tokio::runtime::Runtime,
    server: &child::Child,
    plan: &Plan,
    table: &mut Table,
) -> anyhow::Result<Value> {
    // The attackers must outlast the measurement window: a handshake timeout well above it.
    let proxy = Peers::start_proxy_with(server, &["--handshake-timeout-s", "60"])?;
    let target = Peers::proxy_target(&proxy)?;
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
    println!("ratios (medians)                                         value   target");
    let rows = [
        (
            "handshake xx: proxy CPU / X25519 floor",
            get("handshake", "proxy_cpu_us_per_session_ratio_to_floor"),
            "<= 1.25",
        ),
        (
            "handshake xx: (proxy - plain relay) CPU / floor",
            get(
                "handshake",
                "proxy_cpu_us_per_session_beyond_plain_ratio_to_floor",
            ),
            "",
        ),
        (
            "handshake ik: proxy CPU / X25519 floor",
            get("handshake", "proxy_cpu_us_per_session_ik_ratio_to_floor"),
            "",
        ),
        (
            "handshake xx: sessions/s (c)/(a)",
            get("handshake", "sessions_per_s_ratio_to_direct_xx"),
            "",
        ),
        (
            "handshake xx: sessions/s (c)/(b)",
            get("handshake", "sessions_per_s_ratio_to_plain_xx"),
            "",
        ),
        (
            "handshake ik: sessions/s (c)/(a)",
            get("handshake", "sessions_per_s_ratio_to_direct_ik"),
            "",
        ),
        (
            "handshake ik: sessions/s (c)/(b)",
            get("handshake", "sessions_per_s_ratio_to_plain_ik"),
            "",
        ),
        (
            "relay: proxy CPU per stanza / plain relay's",
            get("relay", "proxy_cpu_ratio_to_plain"),
            "<= 3",
        ),
        (
            "relay: proxy stanzas/s per core",
            get("relay", "stanzas_per_s_per_core"),
            ">= 150000",
        ),
        (
            "relay full speed: stanzas/s (c)/(a)",
            get("relay", "stanzas_per_s_ratio_to_direct"),
            "",
        ),
        (
            "relay full speed: stanzas/s (c)/(b)",
            get("relay", "stanzas_per_s_ratio_to_plain"),
            "",
        ),
        (
            "fixed rate: proxy CPU per stanza / plain's",
            get("latency", "proxy_cpu_ratio_to_plain_at_fixed_rate"),
            "",
        ),
        (
            "latency p50 added: proxy / plain",
            get("latency", "p50_added_ratio_to_plain"),
            "<= 2",
        ),
        (
            "latency p99 added: proxy / plain",
            get("latency", "p99_added_ratio_to_plain"),
            "<= 2",
        ),
        (
            "latency p99.9 added: proxy / plain",
            get("latency", "p999_added_ratio_to_plain"),
            "",
        ),
        (
            "latency p50 added, us: proxy",
            get("latency", "p50_added_us_proxy"),
            "",
        ),
        (
            "latency p50 added, us: plain",
            get("latency", "p50_added_us_plain"),
            "",
        ),
        (
            "latency p99 added, us: proxy",
            get("latency", "p99_added_us_proxy"),
            "",
        ),
        (
            "latency p99 added, us: plain",
            get("latency", "p99_added_us_plain"),
            "",
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
    ];
    for (label, value, target) in rows {
        println!("{label:<52} {:>10}   {target}", fmt(value));
    }
    if let Some(p) = out.get("primitives") {
        println!(
            "fastest X25519: {}; fastest AES-256-GCM: {}",
            p["fastest_x25519"].as_str().unwrap_or("-"),
            p["fastest_aesgcm"].as_str().unwrap_or("-")
        );
    }
}
