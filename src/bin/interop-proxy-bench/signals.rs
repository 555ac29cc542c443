//! The `signals` workload: what the connection-level signals of SPEC §5 (the client's
//! saved SYN, read after accept, and its RTT from `TCP_INFO`, read when dialling) cost
//! the proxy per login. Both proxies send a PROXY v2 header upstream, so the difference
//! is the signals alone, not the header.
//!
//! The reference server tells a PROXY v2 header from a preamble by its signature, so the
//! shared server serves these proxies and the relays (which send none) alike.
//!
//! Part of the cost is not the proxy's process's: the kernel copies the SYN as it
//! delivers it, which on loopback mostly runs in the client's `connect` and is charged to
//! the bench process. What is measured is what the proxy's process pays, as for every
//! other middle.
//!
//! The cost sought (a dozen `getsockopt` calls, two TLVs) is far below what one login's
//! CPU varies by on a shared machine; two identical proxies measured this way differ by
//! a few per cent. The figure therefore bounds the cost more than it resolves it.

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use interop_proxy::noise::Keypair;
use interop_proxy::sim::{Pki, ServerOptions, SimClient, SimServer};
use interop_proxy::transport::signals::{TLV_RTT, TLV_SYN};

#[allow(unused_imports)]
use super::*;

/// Windows of each side per repetition, interleaved (see the order in
/// [`signals_section`]): one window each would pair slices seconds apart.
const SLICES: usize = 4;

/// Per-login figures summed over the slices of one repetition.
#[derive(Clone, Copy, Default)]
struct Sample {
    cpu: f64,
    system: f64,
    rate: f64,
}

impl Sample {
    fn add(&mut self, h: &workload::HandshakeSample) {
        self.cpu += h.cpu_us_per_session;
        self.system += h.system_us_per_session;
        self.rate += h.sessions_per_s;
    }
}

/// Proxy arguments: PROXY v2 upstream with the signals, and without them.
const ON: &[&str] = &["--upstream-proxy-protocol"];
const OFF: &[&str] = &["--upstream-proxy-protocol", "--no-connection-signals"];

/// The proxy's CPU per XX login with the signals on and off, paired in each repetition.
pub(crate) fn signals_section(
    runtime: &tokio::runtime::Runtime,
    lab: &Lab,
    plan: &Plan,
    table: &mut Table,
) -> anyhow::Result<Value> {
    // Checked first: a proxy that sent no signals would make the figures compare nothing.
    let on_tlvs = tlvs_sent(runtime, lab, ON)?;
    let off_tlvs = tlvs_sent(runtime, lab, OFF)?;
    anyhow::ensure!(
        off_tlvs.is_empty(),
        "with upstream.connection_signals = false the proxy sent TLVs {off_tlvs:?}"
    );
    if !on_tlvs.contains(&"syn") || !on_tlvs.contains(&"rtt") {
        println!(
            "note: the proxy sent only {on_tlvs:?} of the signals here (the kernel gave no \
             saved SYN or no RTT): the signals figures measure the reads, not both TLVs"
        );
    }

    let sides = [
        ("on", lab.start(Middle::Proxy, ON)?),
        ("off", lab.start(Middle::Proxy, OFF)?),
    ];
    let targets = sides
        .iter()
        .map(|(side, p)| Ok((*side, lab.target(Middle::Proxy, p)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut s = Series::default();
    let slice = plan.signals_time.div_f64(SLICES as f64);
    for run in 0..plan.runs {
        // Short slices, on and off in the Thue-Morse order ABBABAAB (BAABABBA in every
        // other repetition): a drift within the repetition (the machine warming, another
        // tenant), linear or quadratic, then falls on both sides alike, rather than on
        // whichever ran second.
        let mut sums = [Sample::default(); 2];
        for k in 0..SLICES {
            let first = (run + k.count_ones() as usize) % 2;
            for i in [first, 1 - first] {
                let h = runtime.block_on(workload::handshakes(
                    &targets[i].1,
                    false,
                    plan.handshake_concurrency,
                    slice,
                ))?;
                sums[i].add(&h);
            }
        }
        for (i, (side, _)) in targets.iter().enumerate() {
            let n = SLICES as f64;
            s.push(&format!("cpu/{side}"), sums[i].cpu / n);
            s.push(&format!("system/{side}"), sums[i].system / n);
            s.push(&format!("rate/{side}"), sums[i].rate / n);
        }
    }

    let mut section = json!({
        "pattern": "xx",
        "window_s_per_side": plan.signals_time.as_secs_f64(),
        "slices_per_side": SLICES,
        "upstream_proxy_protocol": true,
        "on_tlvs_sent": on_tlvs,
        "off_tlvs_sent": off_tlvs,
    });
    for side in ["on", "off"] {
        let cpu = s.stat(&format!("cpu/{side}"));
        let system = s.stat(&format!("system/{side}"));
        let rate = s.stat(&format!("rate/{side}"));
        table.add(
            &format!("signals {side}: proxy CPU us/login (PROXY v2 upstream)"),
            "proxy",
            cpu,
        );
        table.add(
            &format!("signals {side}: proxy system CPU us/login"),
            "proxy",
            system,
        );
        table.add(&format!("signals {side}: logins/s"), "proxy", rate);
        section[format!("{side}_cpu_us_per_login")] = num(cpu.median);
        section[format!("{side}_system_cpu_us_per_login")] = num(system.median);
        section[format!("{side}_logins_per_s")] = num(rate.median);
    }
    let ratio = s.ratio("cpu/on", "cpu/off");
    let added = s.paired("cpu/on", "cpu/off", |on, off| on - off);
    table.add("signals: proxy CPU/login on / off (paired)", "proxy", ratio);
    table.add("signals: (on - off) proxy CPU us/login", "proxy", added);
    section["added_cpu_ratio"] = num(ratio.median);
    section["added_cpu_us_per_login"] = num(added.median);
    section["added_cpu_us_per_login_min"] = num(added.min);
    section["added_cpu_us_per_login_max"] = num(added.max);
    Ok(section)
}

/// Which signal TLVs a proxy started with `extra` puts in its upstream header, seen by a
/// reference server in this process (the shared one's observations stay in its child).
fn tlvs_sent(
    runtime: &tokio::runtime::Runtime,
    lab: &Lab,
    extra: &[&str],
) -> anyhow::Result<Vec<&'static str>> {
    let whatsapp = Pki::generate();
    let key = Keypair::generate();
    let options = ServerOptions {
        cert_chain: whatsapp.issue(&key.public, Duration::from_secs(86400)),
        static_key: key,
    };
    let server = runtime.block_on(SimServer::start(options))?;
    let root = base64::engine::general_purpose::STANDARD.encode(whatsapp.root.public);
    let proxy = lab.start_proxy_to(&server.addr().to_string(), &root, extra)?;
    let target = lab.target(Middle::Proxy, &proxy)?;
    runtime.block_on(async {
        SimClient::login(target.addr, &target.client(950_000, false))
            .await?
            .close()
            .await;
        anyhow::Ok(())
    })?;
    let headers = server.proxy_tlvs();
    anyhow::ensure!(
        headers.len() == 1,
        "proxy {extra:?}: the server got {} PROXY headers for one login",
        headers.len()
    );
    Ok(headers[0]
        .iter()
        .map(|(kind, _)| match *kind {
            TLV_SYN => "syn",
            TLV_RTT => "rtt",
            _ => "other",
        })
        .collect())
}
