//! `interop-proxy-bench`: the same workloads four ways, on loopback, in one run
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
//!   failed attempts and the time until every device is relaying; then the same devices
//!   again through the same middle, as after a server restart, which the proxy has seen
//!   before: its CPU per returning login against the X25519 floor of 6 DH + 2 keygen;
//! - `idle`: the sessions of that wave, held idle with keepalives: the middle's memory
//!   per session, its own and the kernel's for its sockets;
//! - `scale`: with a hundred and with thousands of sessions held, CPU per login and CPU
//!   per stanza with all of them messaging at the fixed rate (the plain relay alongside
//!   as the control): per-unit cost must not grow with the number of sessions;
//! - `signals`: the proxy's CPU per login with the connection-level signals of SPEC §5
//!   (saved SYN, TCP_INFO) in its upstream PROXY v2 header, against the header alone;
//! - `slow`: a healthy client's login latency through the proxy, alone and while 1,000
//!   slow attackers (a valid intro header, then one byte a second) hold sessions in the
//!   handshake stage.
//!
//! It also measures the primitives' own speed on one core through snow's resolvers.

/// The proxy's allocator, as in the `interop-proxy` binary: the proxy measured here runs
/// in this binary's `child proxy`.
#[cfg(all(feature = "jemalloc", target_os = "linux"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod child;
mod driver;
mod fleet;
mod haproxy;
mod jwt;
mod memory;
mod pin;
mod plain_relay;
mod plan;
mod primitives;
mod ratios;
mod returning;
mod sections;
mod signals;
mod stats;
mod traffic;
mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use child::ChildArgs;
use stats::{fmt, num, Series, Stat, Table};
use traffic::Traffic;
use workload::{quantile, RelayPlan, Target};

/// `interop-proxy-bench`.
#[derive(clap::Args, Clone, Debug)]
struct BenchArgs {
    /// A reduced run of every workload (including the 9,000-device wave, of which 3,000
    /// return), under 4 minutes.
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
    /// primitives,handshake,relay,latency,signals,reconnect,idle,scale,slow).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Pin the measured middle process to one CPU and the server and clients to another
    /// (with `taskset`).
    #[arg(long)]
    pub pin: bool,
}

/// The benchmark's command line: a run, or one of its child processes.
#[derive(clap::Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    /// A process of the benchmark (server, relay or proxy); not for direct use.
    #[command(subcommand)]
    child: Option<Sub>,
    #[command(flatten)]
    args: BenchArgs,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// A child role.
    #[command(hide = true)]
    Child(ChildArgs),
}

fn main() -> std::process::ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    interop_proxy::app::init_tracing();
    let result = match cli.child {
        Some(Sub::Child(args)) => child::run_child(args),
        None => run(cli.args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

use fleet::*;
use plan::*;
use ratios::*;
use sections::*;

/// `interop-proxy-bench`.
fn run(args: BenchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let nofile = child::raise_nofile();
    let wants = |w: &str| args.only.is_empty() || args.only.iter().any(|o| o == w);
    let mut plan = Plan::new(&args);
    if !wants("reconnect") {
        plan.fleet.returning = 0;
    }
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
        "interop-proxy-bench{}: {} runs per figure, medians with min and max",
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
            "returning_devices": plan.fleet.returning.min(plan.fleet.high),
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
    if wants("signals") {
        let t = Instant::now();
        let section = signals::signals_section(&runtime, &lab, &plan, &mut table)?;
        out.insert("signals".into(), section);
        took("signals", t);
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
