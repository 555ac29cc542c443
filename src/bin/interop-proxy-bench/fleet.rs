//! The reconnect wave, the idle and scale figures of the sessions it leaves, and the
//! slow-attack workload.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[allow(unused_imports)]
use super::*;

/// What one fleet (a wave of devices, then held) measured on one fresh middle.
#[derive(Default)]
pub(crate) struct FleetSample {
    pub(crate) wave: workload::WaveSample,
    pub(crate) rss_per_session: f64,
    pub(crate) kernel: memory::SocketMemory,
    pub(crate) kernel_per_session: f64,
    pub(crate) buffers_per_session: f64,
    pub(crate) objects_per_session: f64,
    pub(crate) keepalives_per_s: f64,
    pub(crate) handshake_cpu_us: f64,
    pub(crate) relay_cpu_s_per_million: f64,
    pub(crate) relay_stanzas_per_s: f64,
    /// The middle's CPU over the wave, per device.
    pub(crate) wave_cpu_us: f64,
    /// The same devices again, on the wave of the largest size (relay and proxy).
    pub(crate) returning: Option<returning::ReturningSample>,
}

/// One fleet: a fresh `middle`, `count` devices connecting at once, then held idle with
/// keepalives while memory is read; with `scale`, the CPU per login while they are held
/// (the proxy) and the CPU per stanza with all of them messaging at the fixed rate (the
/// proxy and the plain relay); at the wave's size, the returning wave after.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fleet(
    runtime: &tokio::runtime::Runtime,
    lab: &Lab,
    plan: &Plan,
    middle: Middle,
    devices: &[interop_proxy::sim::ClientOptions],
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
    let fds0 = returning::fds(process.pid)?;
    let (wave, fleet, wave_cpu_us) =
        returning::measured_wave(runtime, &target, devices, traffic, plan.fleet.deadline)?;
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
        wave_cpu_us,
        returning: None,
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
    if count == plan.fleet.high && middle != Middle::Haproxy && plan.fleet.returning > 0 {
        // The wave's last devices: the proxy's cache holds one device per session it
        // may hold, and the scale logins made beside the fleet evict the fleet's
        // oldest, which a returning figure must not count as misses the product would
        // not have. Taking the newest keeps the bench proxy's cache at its deployed
        // size, whose memory the idle figure counts.
        let again = &devices[count - plan.fleet.returning.min(count)..];
        sample.returning = Some(returning::wave_again(
            runtime, plan, &process, &target, again, traffic, fds0,
        )?);
    }
    drop(process);
    // Let the server see the closes before the next wave logs in.
    std::thread::sleep(Duration::from_millis(500));
    Ok(sample)
}

/// The reconnect wave, the idle memory of the sessions it leaves, and the scale
/// figures, all from the same fleets: per repetition, for each size, each middle.
pub(crate) fn fleet_sections(
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
        returning::floors(plan, &mut s)?;
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
                s.push(&k("cpu"), f.wave_cpu_us);
                if let Some(r) = &f.returning {
                    s.push(&k("returning_seconds"), r.wave.seconds);
                    s.push(&k("returning_failures"), r.wave.failures() as f64);
                    s.push(&k("returning_cpu"), r.cpu_us_per_login);
                    s.push(&k("returning_hits"), r.hits);
                    s.push(&k("returning_misses"), r.misses);
                }
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
        table.add(
            &format!("reconnect {high}: middle CPU us/device"),
            n,
            s.stat(&k(m, "cpu")),
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
            "cpu_us_per_device": s.stat(&k(m, "cpu")).json(),
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
    // What the wave cannot beat on this machine: the plain relay's time plus the X25519
    // floor of every login the proxy adds (7 DH + 3 keygen each), spread over every core
    // with nothing else running. The peers log in on the same cores, so the bound is
    // generous to the proxy; `time_ratio_to_plain` below 1 + this excess is arithmetic,
    // not engineering.
    let plain = s.get(&k(Middle::Relay, "seconds"));
    let cores = crate::plan::cores() as f64;
    let bound = stats::pair(plain, s.get("floor/first"), |plain, floor_us| {
        plain + high as f64 * floor_us / 1e6 / cores
    });
    let to_bound = stats::Stat::of(&stats::pair(
        s.get(&k(Middle::Proxy, "seconds")),
        &bound,
        |proxy, bound| proxy / bound,
    ));
    let bound_to_plain = stats::Stat::of(&stats::pair(&bound, plain, |b, p| b / p));
    table.add(
        &format!("reconnect {high}: CPU-bound floor / plain relay's time"),
        "proxy",
        bound_to_plain,
    );
    table.add(
        &format!("reconnect {high}: time / CPU-bound floor"),
        "proxy",
        to_bound,
    );
    reconnect["time_floor_seconds"] = num(stats::Stat::of(&bound).median);
    reconnect["time_floor_ratio_to_plain"] = num(bound_to_plain.median);
    reconnect["time_ratio_to_floor"] = num(to_bound.median);
    reconnect["by_path"] = by;
    // Every failed attempt through the proxy, over all repetitions: the target is none.
    reconnect["failures"] = json!(failures);
    reconnect["time_ratio_to_plain"] = num(to_plain.median);
    reconnect["time_ratio_to_haproxy"] = num(to_haproxy.median);
    reconnect["seconds_proxy"] = num(s.stat(&k(Middle::Proxy, "seconds")).median);
    reconnect["seconds_plain"] = num(s.stat(&k(Middle::Relay, "seconds")).median);
    if plan.fleet.returning > 0 {
        let devices = plan.fleet.returning.min(high);
        returning::publish(&s, k, high, devices, &mut reconnect, table);
    }

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
pub(crate) fn slow_section(
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
