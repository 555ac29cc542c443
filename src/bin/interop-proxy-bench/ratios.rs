//! The ratios the targets are stated in, printed after the table.

use std::collections::BTreeMap;

use serde_json::Value;

#[allow(unused_imports)]
use super::*;

/// The ratios the targets are stated in.
pub(crate) fn print_ratios(out: &BTreeMap<String, Value>) {
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
            "handshake xx: proxy's handshake code alone, us",
            get("handshake", "protocol_floor_us_per_login"),
            "",
        ),
        (
            "handshake xx: (proxy - plain relay) / handshake code",
            get("handshake", "added_cpu_ratio_to_protocol_floor"),
            "",
        ),
        (
            "handshake ik: (proxy - plain relay) / handshake code",
            get("handshake", "added_cpu_ratio_to_protocol_floor_ik"),
            "",
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
            "signals: proxy CPU per login, on / off (paired)",
            get("signals", "added_cpu_ratio"),
            "",
        ),
        (
            "signals: (on - off) proxy CPU, us/login",
            get("signals", "added_cpu_us_per_login"),
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
            "reconnect returning: (proxy - plain) / 6 DH + 2 keygen",
            get("reconnect", "returning_ratio_to_floor"),
            "<= 1.25",
        ),
        (
            "reconnect returning: (proxy - plain relay) CPU, us",
            get("reconnect", "returning_added_cpu_us_per_login"),
            "",
        ),
        (
            "reconnect returning: X25519 floor, thread CPU us",
            get("reconnect", "returning_floor_us_per_login"),
            "",
        ),
        (
            "reconnect first: (proxy - plain relay) CPU, us",
            get("reconnect", "first_added_cpu_us_per_login"),
            "",
        ),
        (
            "reconnect returning: time / plain relay's",
            get("reconnect", "returning_time_ratio_to_plain"),
            "",
        ),
        (
            "reconnect returning: proxy cache hits",
            get("reconnect", "returning_hits"),
            "= devices",
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
