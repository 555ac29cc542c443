//! The primitives, handshake, relay and latency workloads, each as a section of the report.

use std::sync::Arc;

use serde_json::{json, Value};

#[allow(unused_imports)]
use super::*;

/// The primitives on one core through each resolver; the X25519 floor per
/// session (6 DH + 2 key generations at the fastest resolver, timed by wall clock).
pub(crate) fn primitives_section(plan: &Plan, table: &mut Table) -> Value {
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

pub(crate) fn short(resolver: &str) -> &str {
    resolver.split_whitespace().next().unwrap_or(resolver)
}

/// Logins on every path, each repetition beside a measurement of the X25519 floor in
/// this thread's CPU time.
pub(crate) fn handshake_section(
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
            s.push(
                "floor/protocol",
                primitives::proxy_handshake_thread_cpu(plan.floor_time, ik, &cost)?,
            );
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
        let protocol = s.stat("floor/protocol");
        let protocol_ratio = s.ratio("added", "floor/protocol");
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
        table.add(
            &format!("handshake {label}: proxy's handshake code, no sockets, thread CPU us"),
            "1 core",
            protocol,
        );
        table.add(
            &format!("handshake {label}: (proxy - plain relay) / handshake code"),
            "proxy",
            protocol_ratio,
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
        section[format!("protocol_floor_us_per_login{suffix}")] = num(protocol.median);
        section[format!("added_cpu_ratio_to_protocol_floor{suffix}")] = num(protocol_ratio.median);
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
pub(crate) fn relay_section(
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
pub(crate) fn latency_section(
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
