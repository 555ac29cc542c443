//! `interop-proxy-bench --test`: every workload of the benchmark harness runs once at a
//! token size through real child processes and sockets, on all four paths, and the JSON
//! holds every figure the README's performance table and its targets are read from. The
//! figures themselves are not judged here (this is a debug build on a shared machine);
//! `bench` measures them.
//!
//! Needs `haproxy` (Debian package `haproxy`; `scripts/test` installs it), the fourth path.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_interop-proxy-bench");

/// The keys the harness promises, as `section.key`; each must be a finite number.
const REQUIRED: &[&str] = &[
    "handshake.proxy_cpu_us_per_session",
    "handshake.x25519_floor_us_per_session",
    "handshake.protocol_floor_us_per_login",
    "handshake.added_cpu_ratio_to_protocol_floor",
    "handshake.proxy_cpu_us_per_session_ratio_to_floor",
    "relay.proxy_cpu_ratio_to_plain",
    "relay.stanzas_per_s_per_core",
    "latency.p50_added_ratio_to_plain",
    "latency.p99_added_ratio_to_plain",
    "idle.proxy_bytes_per_session",
    "idle.sessions",
    "scale.handshake_cpu_ratio_high_to_low",
    "scale.relay_cpu_ratio_high_to_low",
    "slow.added_p50_ratio_to_handshake",
    "primitives.x25519_dh_per_s",
    "handshake.added_cpu_us_per_login",
    "handshake.patterns_floor_us_per_login",
    "relay.proxy_cpu_ratio_to_haproxy",
    "relay.fixed_rate_cpu_ratio_to_haproxy",
    "relay.fixed_rate_stanzas_per_s_per_core",
    "latency.p50_added_ratio_to_haproxy",
    "latency.p99_added_ratio_to_haproxy",
    "reconnect.failures",
    "reconnect.time_ratio_to_plain",
    "idle.kernel_bytes_per_session",
    "signals.on_cpu_us_per_login",
    "signals.off_cpu_us_per_login",
    "signals.added_cpu_ratio",
    "signals.added_cpu_us_per_login",
    "reconnect.returning_added_cpu_us_per_login",
    "reconnect.returning_floor_us_per_login",
    "reconnect.returning_ratio_to_floor",
    "reconnect.returning_time_ratio_to_plain",
    "reconnect.returning_hits",
];

#[test]
fn every_workload_runs_and_reports_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = Command::new(BIN)
        .args(["--test", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench --test failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The table names all three paths and prints the ratio rows with their targets.
    assert!(
        !stdout.contains("haproxy: not installed"),
        "haproxy is not installed: this test needs it for the bench's fourth path. \
         Install it with `apt-get install haproxy` (scripts/test does, as root)."
    );
    for needle in [
        "direct",
        "relay",
        "haproxy",
        "proxy",
        "ratios (medians)",
        "<= 1.25",
        ">= 150000",
    ] {
        assert!(stdout.contains(needle), "table lacks {needle:?}:\n{stdout}");
    }

    let figures: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|key| {
            let (section, name) = key.split_once('.').unwrap();
            !figures[section][name].as_f64().is_some_and(f64::is_finite)
        })
        .map(|key| format!("{key} = {}", lookup(&figures, key)))
        .collect();
    assert!(missing.is_empty(), "not finite numbers: {missing:?}");
    assert_eq!(figures["setup"]["test"], Value::Bool(true));
    // The proxy runs as deployed: tokens checked, the upstream by name.
    assert_eq!(figures["setup"]["proxy_upstream"], "localhost");
    // The signals workload compares a proxy that sends both signals with one that sends
    // the header alone.
    assert_eq!(
        figures["signals"]["on_tlvs_sent"],
        serde_json::json!(["syn", "rtt"]),
        "{}",
        figures["signals"]
    );
    assert_eq!(figures["signals"]["off_tlvs_sent"], serde_json::json!([]));
    assert_eq!(
        figures["reconnect"]["failures"], 0.0,
        "{}",
        figures["reconnect"]
    );
    // The returning wave's figure is that of cache hits: one per device that came back.
    assert_eq!(
        figures["reconnect"]["returning_hits"].as_f64(),
        figures["reconnect"]["returning_devices"].as_f64(),
        "{}",
        figures["reconnect"]
    );
    assert_eq!(figures["reconnect"]["returning_from_cache"], true);
}

fn lookup<'a>(figures: &'a Value, key: &str) -> &'a Value {
    let (section, name) = key.split_once('.').unwrap();
    &figures[section][name]
}
