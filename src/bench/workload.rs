//! The workloads, run by reference clients in the bench's own process against one
//! target: the reference server directly, the plain relay, or the proxy.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngCore;
use tokio::sync::Semaphore;

use crate::sim::{self, ClientOptions, SimClient};
use crate::stanza::{Element, Opaque, Stanza};

/// Where clients connect, and what they pin and verify there.
#[derive(Clone, Debug)]
pub struct Target {
    /// Label: direct, relay or proxy.
    pub name: &'static str,
    /// Address clients dial.
    pub addr: std::net::SocketAddr,
    /// The root the responder's chain is issued from.
    pub root: [u8; 32],
    /// The responder's static key, for IK.
    pub responder_static: [u8; 32],
    /// The process in the middle, if any, whose CPU and memory are measured.
    pub middle_pid: Option<u32>,
}

impl Target {
    /// CPU seconds of the middle process so far (0 for the direct connection).
    fn cpu(&self) -> f64 {
        let (user, system) = self.cpu_times();
        user + system
    }

    /// User and system CPU seconds of the middle process so far.
    fn cpu_times(&self) -> (f64, f64) {
        self.middle_pid
            .and_then(super::child::cpu_times)
            .unwrap_or((0.0, 0.0))
    }

    /// Client options for `account` against this target.
    fn client(&self, account: u64, ik: bool) -> ClientOptions {
        let mut options = ClientOptions::new(account);
        options.root_key = Some(self.root);
        if ik {
            options.server_key = Some(self.responder_static);
        }
        options
    }
}

/// One measurement of the handshake workload.
#[derive(Clone, Debug)]
pub struct HandshakeSample {
    /// Completed logins per second.
    pub sessions_per_s: f64,
    /// Middle process CPU per session, in µs.
    pub cpu_us_per_session: f64,
    /// The part of it the kernel ran (system calls, loopback TCP), in µs.
    pub system_us_per_session: f64,
}

/// New sessions, each a full login then a close, from `concurrency` loops for `duration`.
pub async fn handshakes(
    target: &Target,
    ik: bool,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<HandshakeSample> {
    // Warm up, and let the proxy learn the server's key as it would in production.
    let warm = target.client(900_000, ik);
    for _ in 0..8 {
        SimClient::login(target.addr, &warm).await?.close().await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let (user0, system0) = target.cpu_times();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let options = target.client(910_000 + i as u64, ik);
        let (stop, done, addr) = (stop.clone(), done.clone(), target.addr);
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let client = SimClient::login(addr, &options).await?;
                done.fetch_add(1, Ordering::Relaxed);
                client.close().await;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    tokio::time::sleep(duration).await;
    let in_window = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await??;
    }
    // Let the last sessions' teardown land in the CPU figure too.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (user1, system1) = target.cpu_times();
    let total = done.load(Ordering::Relaxed).max(1) as f64;
    Ok(HandshakeSample {
        sessions_per_s: in_window as f64 / elapsed.as_secs_f64(),
        cpu_us_per_session: (user1 - user0 + system1 - system0) * 1e6 / total,
        system_us_per_session: (system1 - system0) * 1e6 / total,
    })
}

/// One measurement of the relay workload.
#[derive(Clone, Debug, Default)]
pub struct RelaySample {
    /// Stanzas crossing the middle per second (messages out, echoes back, acks back).
    pub stanzas_per_s: f64,
    /// Echoed messages per second.
    pub echoes_per_s: f64,
    /// Middle process CPU per million relayed stanzas, in seconds.
    pub cpu_s_per_million: f64,
    /// Middle process CPU use, in cores.
    pub cores: f64,
    /// Echo round-trip latencies in the window, µs, sorted.
    pub latencies_us: Vec<u32>,
}

/// The relay workload's shape.
#[derive(Clone, Copy, Debug)]
pub struct RelayPlan {
    /// Sessions.
    pub sessions: usize,
    /// Messages each session may have awaiting their echo. The reference server queues
    /// at most 64 stanzas per connection and blocks when that queue is full, so a
    /// client messaging itself must stay well below it.
    pub window: usize,
    /// Offered messages per second over all sessions; `None` for full speed.
    pub rate: Option<f64>,
    /// Warm-up before the measured window.
    pub warmup: Duration,
    /// Measured window.
    pub duration: Duration,
}

/// Counters the sessions share.
#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    echoed: AtomicU64,
    acks: AtomicU64,
}

impl Counters {
    fn relayed(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
            + self.echoed.load(Ordering::Relaxed)
            + self.acks.load(Ordering::Relaxed)
    }
}

/// The `<message>` every session sends: about 600 bytes with a 300-byte `<enc>`.
pub struct MessageShape {
    enc: Opaque,
    identity: Opaque,
    notify: String,
}

impl MessageShape {
    /// Builds payloads and pads `notify` so that the stanza is `size` bytes.
    pub fn new(size: usize) -> Self {
        let mut raw = vec![0u8; 225];
        rand::thread_rng().fill_bytes(&mut raw);
        let enc = base64::engine::general_purpose::STANDARD.encode(&raw);
        debug_assert_eq!(enc.len(), 300);
        let mut raw = vec![0u8; 60];
        rand::thread_rng().fill_bytes(&mut raw);
        let identity = base64::engine::general_purpose::STANDARD.encode(&raw);
        let mut shape = Self {
            enc: Opaque::from_bytes(enc.into_bytes()),
            identity: Opaque::from_bytes(identity.into_bytes()),
            notify: String::new(),
        };
        let base = shape.build(1_000_000, "1234567890123").wire_len();
        shape.notify = "n".repeat(size.saturating_sub(base));
        shape
    }

    /// The stanza to `to` with `id`.
    pub fn build(&self, to: u64, id: &str) -> Stanza {
        Stanza::from_element(
            Element::new("message")
                .with_attr("to", &sim::jid(to))
                .with_attr("id", id)
                .with_attr("type", "text")
                .with_attr("t", "1718000000")
                .with_attr("notify", &self.notify)
                .with_attr("addressing_mode", "pn")
                .with_child(
                    Element::new("enc")
                        .with_attr("v", "2")
                        .with_attr("type", "pkmsg")
                        .with_opaque(self.enc.clone()),
                )
                .with_child(Element::new("device-identity").with_opaque(self.identity.clone()))
                .with_child(Element::new("meta").with_attr("decrypt-fail", "hide")),
        )
    }
}

/// Sessions messaging themselves (the server echoes), at `plan.rate` or full speed.
pub async fn relay(
    target: &Target,
    plan: RelayPlan,
    shape: &Arc<MessageShape>,
) -> anyhow::Result<RelaySample> {
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let base = Instant::now();
    let clients = login_many(target, 920_000, plan.sessions).await?;
    let period = plan
        .rate
        .map(|r| Duration::from_secs_f64(plan.sessions as f64 / r));
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (account, client) in clients {
        let (mut tx, mut rx) = client.into_split();
        let window = Arc::new(Semaphore::new(plan.window));
        let credit = window.clone();
        let (stop, tx_counters, shape) = (stop.clone(), counters.clone(), shape.clone());
        senders.push(tokio::spawn(async move {
            let mut ticker = period.map(|p| {
                let mut t = tokio::time::interval(p);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                t
            });
            while !stop.load(Ordering::Relaxed) {
                if let Some(t) = ticker.as_mut() {
                    t.tick().await;
                }
                window.acquire().await?.forget();
                let id = base.elapsed().as_nanos().to_string();
                tx.send(&shape.build(account, &id)).await?;
                tx_counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            tx.close().await;
            Ok::<_, anyhow::Error>(())
        }));
        let counters = counters.clone();
        receivers.push(tokio::spawn(async move {
            // (send time in ns after base, round trip in µs)
            let mut samples: Vec<(u64, u32)> = Vec::new();
            while let Ok(Some(stanza)) = rx.recv().await {
                match stanza.node().name().as_ref() {
                    "message" => {
                        let now = base.elapsed().as_nanos() as u64;
                        counters.echoed.fetch_add(1, Ordering::Relaxed);
                        credit.add_permits(1);
                        if let Some(sent) = stanza.node().attr("id").and_then(|s| s.parse().ok()) {
                            let sent: u64 = sent;
                            samples.push((sent, (now.saturating_sub(sent) / 1000) as u32));
                        }
                    }
                    "ack" => {
                        counters.acks.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
            samples
        }));
    }

    tokio::time::sleep(plan.warmup).await;
    let (relayed0, echoed0, cpu0) = (
        counters.relayed(),
        counters.echoed.load(Ordering::Relaxed),
        target.cpu(),
    );
    let t0 = base.elapsed();
    tokio::time::sleep(plan.duration).await;
    let (relayed1, echoed1, cpu1) = (
        counters.relayed(),
        counters.echoed.load(Ordering::Relaxed),
        target.cpu(),
    );
    let t1 = base.elapsed();
    stop.store(true, Ordering::Relaxed);

    for sender in senders {
        match tokio::time::timeout(Duration::from_secs(10), sender).await {
            Ok(joined) => joined??,
            Err(_) => anyhow::bail!("{}: a sender stalled", target.name),
        }
    }
    let (from, to) = (t0.as_nanos() as u64, t1.as_nanos() as u64);
    let mut latencies = Vec::new();
    for receiver in receivers {
        let samples = match tokio::time::timeout(Duration::from_secs(10), receiver).await {
            Ok(joined) => joined?,
            Err(_) => anyhow::bail!("{}: a session did not close", target.name),
        };
        latencies.extend(
            samples
                .into_iter()
                .filter(|(sent, _)| (from..to).contains(sent))
                .map(|(_, rtt)| rtt),
        );
    }
    latencies.sort_unstable();
    let secs = (t1 - t0).as_secs_f64();
    let relayed = (relayed1 - relayed0).max(1) as f64;
    let cpu = cpu1 - cpu0;
    Ok(RelaySample {
        stanzas_per_s: relayed / secs,
        echoes_per_s: (echoed1 - echoed0) as f64 / secs,
        cpu_s_per_million: cpu * 1e6 / relayed,
        cores: cpu / secs,
        latencies_us: latencies,
    })
}

/// The `q`-quantile of sorted samples.
pub fn quantile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    f64::from(sorted[i])
}

/// Logs in `count` sessions through `target` and keeps them open; returns them.
pub async fn open_idle(target: &Target, count: usize) -> anyhow::Result<Vec<SimClient>> {
    Ok(login_many(target, 1_000_000, count)
        .await?
        .into_iter()
        .map(|(_, client)| client)
        .collect())
}

/// Logs in accounts `first..first + count` (XX), 32 at a time; returns each with its
/// account, in no particular order.
async fn login_many(
    target: &Target,
    first: u64,
    count: usize,
) -> anyhow::Result<Vec<(u64, SimClient)>> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (next, target) = (next.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count as u64 {
                    return Ok::<_, anyhow::Error>(mine);
                }
                let account = first + i;
                let options = target.client(account, false);
                mine.push((account, SimClient::login(target.addr, &options).await?));
            }
        }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

/// Full logins (XX) to `target` one after another: each one's latency, µs, sorted.
pub async fn login_latencies(target: &Target, count: usize) -> anyhow::Result<Vec<u32>> {
    let options = target.client(930_000, false);
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let client = SimClient::login(target.addr, &options).await?;
        latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        client.close().await;
    }
    latencies.sort_unstable();
    Ok(latencies)
}

/// A valid intro header: `WA`, version 6.3.
const INTRO: [u8; 4] = [0x57, 0x41, 0x06, 0x03];

/// What each slow attacker sends after the intro header, one byte a second: a frame
/// header announcing 48 bytes, then junk that never completes it in the window.
const TRICKLE: [u8; 3] = [0x00, 0x00, 0x30];

/// Connections that sent a valid intro header and trickle a frame one byte a second.
pub struct SlowAttack {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<bool>>,
}

impl SlowAttack {
    /// Opens `count` slow connections to `target`; returns once all have sent the header.
    pub async fn open(target: &Target, count: usize) -> anyhow::Result<Self> {
        use tokio::io::AsyncWriteExt;
        let (stop, watch) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::with_capacity(count);
        for i in 0..count {
            let mut stream = tokio::net::TcpStream::connect(target.addr).await?;
            stream.set_nodelay(true)?;
            stream.write_all(&INTRO).await?;
            let mut stop = watch.clone();
            // Spread the attackers' bytes over each second.
            let offset = Duration::from_secs(1).mul_f64(i as f64 / count as f64);
            tasks.push(tokio::spawn(async move {
                let first = tokio::time::Instant::now() + offset;
                let mut tick = tokio::time::interval_at(first, Duration::from_secs(1));
                let mut sent = 0usize;
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tick.tick() => {
                            let byte = TRICKLE.get(sent).copied().unwrap_or(0x5a);
                            sent += 1;
                            if stream.write_all(&[byte]).await.is_err() {
                                return false;
                            }
                        }
                    }
                }
                // Still open if the proxy has neither closed it nor written to it.
                let mut buf = [0u8; 64];
                matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            }));
        }
        Ok(Self { stop, tasks })
    }

    /// Closes every connection; returns how many the proxy still held open.
    pub async fn close(self) -> anyhow::Result<usize> {
        let _ = self.stop.send(true);
        let mut open = 0;
        for task in self.tasks {
            open += usize::from(task.await?);
        }
        Ok(open)
    }
}
