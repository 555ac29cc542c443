//! The returning wave: the reconnect wave's devices, their sessions closed, connect again
//! at once to the same middle process, as after a server restart or a network blip that
//! the proxy itself survived. The proxy then still holds what each device's last login
//! computed (`src/session/devices.rs`), so a returning login should cost it 6 X25519 DH
//! and 2 key generations, where a first one costs 7 and 3 (XX client, IK upstream).
//!
//! The figure is taken as the handshake workload takes its own: the middle's CPU over the
//! wave per device, less the plain relay's in the same repetition (the sockets, the
//! connections, the first echo), against the floor measured in thread CPU beside it.
//! The proxy's own count of cache hits over the wave, read from its `/metrics`, shows
//! that the figure is that of returning devices and not of a cache that missed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use interop_proxy::sim::ClientOptions;

#[allow(unused_imports)]
use super::*;

/// One middle's returning wave.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReturningSample {
    pub(crate) wave: workload::WaveSample,
    pub(crate) cpu_us_per_login: f64,
    /// Cache hits and misses the proxy counted over the wave; NaN for a relay, which has
    /// no cache.
    pub(crate) hits: f64,
    pub(crate) misses: f64,
}

/// [`workload::wave`] with the middle's CPU over it, per device: a failed attempt's cost
/// is part of what the wave cost.
pub(crate) fn measured_wave(
    runtime: &tokio::runtime::Runtime,
    target: &Target,
    devices: &[ClientOptions],
    traffic: &Arc<Traffic>,
    deadline: Duration,
) -> anyhow::Result<(workload::WaveSample, workload::Fleet, f64)> {
    let cpu0 = target.cpu()?;
    let (wave, fleet) = runtime.block_on(workload::wave(target, devices, traffic, deadline))?;
    let cpu = target.cpu()? - cpu0;
    Ok((wave, fleet, cpu * 1e6 / devices.len().max(1) as f64))
}

/// The X25519 floors of a returning and of a first login, in this thread's CPU time,
/// beside each repetition's waves as the handshake workload measures its own: a floor
/// taken a section apart would pair the wave with another moment's machine.
pub(crate) fn floors(plan: &Plan, s: &mut Series) -> anyhow::Result<()> {
    let cost = primitives::x25519_thread_cpu(plan.floor_time)?;
    s.push("floor/returning", cost.floor(6, 2));
    s.push("floor/first", cost.floor(7, 3));
    s.push("floor/dh", cost.dh_us);
    s.push("floor/keygen", cost.keygen_us);
    Ok(())
}

/// Open file descriptors of a process: its sockets, to tell when its sessions are gone.
pub(crate) fn fds(pid: u32) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// The devices of a wave, whose sessions `middle` has just been told to close, connect
/// again through it. Waits first until the middle holds no more descriptors than
/// `idle_fds` (what it held before the first wave) and a few: the teardown of the
/// first wave's sessions must not be charged to the returning one.
pub(crate) fn wave_again(
    runtime: &tokio::runtime::Runtime,
    plan: &Plan,
    middle: &child::Child,
    target: &Target,
    devices: &[ClientOptions],
    traffic: &Arc<Traffic>,
    idle_fds: usize,
) -> anyhow::Result<ReturningSample> {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let held = fds(middle.pid)?;
        if held <= idle_fds + 16 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < give_up,
            "{}: {held} descriptors still open 30 s after the wave's sessions closed \
             ({idle_fds} before the wave)",
            target.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The server's side of those sessions closes once it has read the middle's close.
    std::thread::sleep(Duration::from_millis(300));
    let admin = middle.fields.get("admin").map(|a| a.parse()).transpose()?;
    let before = admin.map(cache_counts).transpose()?;
    let (wave, fleet, cpu_us_per_login) =
        measured_wave(runtime, target, devices, traffic, plan.fleet.deadline)?;
    let after = admin.map(cache_counts).transpose()?;
    runtime.block_on(async { fleet.drop_all() });
    let (hits, misses) = match (before, after) {
        (Some((h0, m0)), Some((h1, m1))) => (h1 - h0, m1 - m0),
        _ => (f64::NAN, f64::NAN),
    };
    Ok(ReturningSample {
        wave,
        cpu_us_per_login,
        hits,
        misses,
    })
}

/// `interop_proxy_returning_devices_total` from the proxy's `/metrics`: hits and misses
/// so far. A series the proxy does not publish counts as none.
fn cache_counts(admin: SocketAddr) -> anyhow::Result<(f64, f64)> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&admin, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    anyhow::ensure!(
        text.starts_with("HTTP/1.1 200"),
        "GET /metrics on {admin}: {:?}",
        text.lines().next().unwrap_or_default()
    );
    let count = |result: &str| {
        let series = format!(
            "{}{{result=\"{result}\"}} ",
            interop_proxy::metrics::RETURNING_DEVICES
        );
        text.lines()
            .find_map(|line| line.strip_prefix(&series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Ok((count("hit"), count("miss")))
}

/// The returning wave's figures in the reconnect section: `s` holds, per repetition,
/// `k(middle, what)` for the first wave's `cpu` and the returning wave's `returning_*`,
/// and the [`floors`]; the first wave had `high` devices, of which `devices` returned.
pub(crate) fn publish(
    s: &Series,
    k: impl Fn(Middle, &str) -> String,
    high: usize,
    devices: usize,
    reconnect: &mut Value,
    table: &mut Table,
) {
    let (proxy, relay) = (Middle::Proxy, Middle::Relay);
    let mut p = Series::default();
    for (name, what) in [("returning", "returning_cpu"), ("first", "cpu")] {
        for d in stats::pair(s.get(&k(proxy, what)), s.get(&k(relay, what)), |p, r| p - r) {
            p.push(name, d);
        }
    }
    for (name, floor) in [("returning", "floor/returning"), ("first", "floor/first")] {
        for &f in s.get(floor) {
            p.push(&format!("floor/{name}"), f);
        }
    }
    let hits = s.stat(&k(proxy, "returning_hits"));
    let misses = s.stat(&k(proxy, "returning_misses"));
    // A repetition without a single hit measured a cache that did not work, not
    // returning devices: its ratio to their floor would claim what was not measured.
    let from_cache = s.get(&k(proxy, "returning_hits")).iter().all(|&h| h > 0.0);
    let every_device = s
        .get(&k(proxy, "returning_hits"))
        .iter()
        .all(|&h| h >= devices as f64);
    if !from_cache || !every_device {
        println!(
            "WARNING: the proxy counted {} cache hits (median; fewest {}) for {devices} \
             returning devices: {}",
            fmt(hits.median),
            fmt(hits.min),
            if from_cache {
                "some logins recomputed what returning devices reuse"
            } else {
                "the returning figures are not those of returning devices, and their \
                 ratio to the floor is left out"
            }
        );
    }

    let label = |what: &str| format!("returning {devices}: {what}");
    for m in [relay, proxy] {
        table.add(
            &label("seconds until all relaying"),
            m.name(),
            s.stat(&k(m, "returning_seconds")),
        );
        table.add(
            &label("middle CPU us/device"),
            m.name(),
            s.stat(&k(m, "returning_cpu")),
        );
    }
    let added = p.stat("returning");
    let floor = p.stat("floor/returning");
    let ratio = p.ratio("returning", "floor/returning");
    let first = p.stat("first");
    let first_floor = p.stat("floor/first");
    let first_ratio = p.ratio("first", "floor/first");
    let to_first = p.ratio("returning", "first");
    let time = s.ratio(
        &k(proxy, "returning_seconds"),
        &k(relay, "returning_seconds"),
    );
    table.add(&label("(proxy - plain relay) CPU us/login"), "proxy", added);
    table.add(
        &label("X25519 floor 6 DH + 2 keygen, thread CPU us"),
        "1 core",
        floor,
    );
    table.add(&label("(proxy - plain relay) / floor"), "proxy", ratio);
    table.add(
        &label("(proxy - plain relay) / first wave's"),
        "proxy",
        to_first,
    );
    table.add(&label("time / plain relay's"), "proxy", time);
    table.add(&label("proxy cache hits"), "proxy", hits);
    table.add(&label("proxy cache misses"), "proxy", misses);
    let first_label = |what: &str| format!("reconnect {high}: {what}");
    table.add(
        &first_label("(proxy - plain relay) CPU us/login"),
        "proxy",
        first,
    );
    table.add(
        &first_label("X25519 floor 7 DH + 3 keygen, thread CPU us"),
        "1 core",
        first_floor,
    );
    table.add(
        &first_label("(proxy - plain relay) / floor"),
        "proxy",
        first_ratio,
    );

    let failures: f64 = s.get(&k(proxy, "returning_failures")).iter().sum();
    reconnect["returning_devices"] = json!(devices);
    reconnect["returning_added_cpu_us_per_login"] = num(added.median);
    reconnect["returning_floor_us_per_login"] = num(floor.median);
    reconnect["returning_ratio_to_floor"] = if from_cache {
        num(ratio.median)
    } else {
        Value::Null
    };
    reconnect["returning_time_ratio_to_plain"] = num(time.median);
    reconnect["returning_hits"] = num(hits.median);
    reconnect["returning_misses"] = num(misses.median);
    reconnect["returning_from_cache"] = json!(from_cache && every_device);
    reconnect["returning_failures"] = json!(failures);
    reconnect["returning_seconds_proxy"] = num(s.stat(&k(proxy, "returning_seconds")).median);
    reconnect["returning_seconds_plain"] = num(s.stat(&k(relay, "returning_seconds")).median);
    reconnect["returning_added_ratio_to_first"] = num(to_first.median);
    reconnect["first_added_cpu_us_per_login"] = num(first.median);
    reconnect["first_floor_us_per_login"] = num(first_floor.median);
    reconnect["first_ratio_to_floor"] = num(first_ratio.median);
    reconnect["returning_stats"] = json!({
        "floor_measured_in": "thread CPU time, beside each repetition",
        "dh_us": s.stat("floor/dh").json(),
        "keygen_us": s.stat("floor/keygen").json(),
        "added_cpu_us_per_login": added.json(),
        "floor_us_per_login": floor.json(),
        "ratio_to_floor": ratio.json(),
        "time_ratio_to_plain": time.json(),
        "hits": hits.json(),
        "misses": misses.json(),
        "proxy_cpu_us_per_login": s.stat(&k(proxy, "returning_cpu")).json(),
        "plain_cpu_us_per_login": s.stat(&k(relay, "returning_cpu")).json(),
        "first_added_cpu_us_per_login": first.json(),
        "first_ratio_to_floor": first_ratio.json(),
    });
}
