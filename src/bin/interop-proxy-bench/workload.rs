//! The workloads, run by reference clients in the bench's own process against one
//! target: the reference server directly, a plain relay (ours or HAProxy), or the proxy.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::driver::{self, Mode, Samples, Shared, Slot};
use super::jwt::Tokens;
use super::traffic::Traffic;
use interop_proxy::sim::{ClientOptions, SimClient};

/// Where clients connect, and what they pin and verify there.
#[derive(Clone)]
pub struct Target {
    /// Label: direct, relay, haproxy or proxy.
    pub name: &'static str,
    /// Address clients dial.
    pub addr: SocketAddr,
    /// The root the responder's chain is issued from.
    pub root: [u8; 32],
    /// The responder's static key, for IK.
    pub responder_static: [u8; 32],
    /// The process in the middle, if any, whose CPU and memory are measured.
    pub middle_pid: Option<u32>,
    /// The clients' tokens.
    pub tokens: Arc<Tokens>,
}

impl Target {
    /// CPU seconds of the middle process so far (0 for the direct connection, which
    /// has none); an unreadable figure is an error.
    pub fn cpu(&self) -> anyhow::Result<f64> {
        let (user, system) = self.cpu_times()?;
        Ok(user + system)
    }

    /// User and system CPU seconds of the middle process so far.
    fn cpu_times(&self) -> anyhow::Result<(f64, f64)> {
        match self.middle_pid {
            Some(pid) => super::child::cpu_times(pid)
                .with_context(|| format!("{}: the middle's CPU time", self.name)),
            None => Ok((0.0, 0.0)),
        }
    }

    /// Client options for `account` against this target, with a fresh static key.
    pub fn client(&self, account: u64, ik: bool) -> ClientOptions {
        let mut options = ClientOptions::new(account);
        options.token = self.tokens.token(account);
        self.aim(&mut options, ik);
        options
    }

    /// Points a device's options at this target: its root, and its key for IK.
    fn aim(&self, options: &mut ClientOptions, ik: bool) {
        options.root_key = Some(self.root);
        options.server_key = ik.then_some(self.responder_static);
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
    tokio::time::sleep(Duration::from_millis(50)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let (user0, system0) = target.cpu_times()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let mut options = target.client(910_000 + i as u64, ik);
        let (stop, done, addr) = (stop.clone(), done.clone(), target.addr);
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // A new device each time: this is the first-login cost. A device the
                // proxy has seen logs in cheaper (the reconnect wave's returning figure).
                options.static_key = interop_proxy::noise::Keypair::generate();
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
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (user1, system1) = target.cpu_times()?;
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
    /// Stanzas crossing the middle per second (messages, receipts, presence and pings
    /// out; echoes, acks and answers back).
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

impl RelayPlan {
    /// The sessions' mode for this plan, with phases counted from a moment just ahead.
    fn mode(&self) -> Mode {
        match self.rate {
            Some(rate) => Mode::Rate {
                period: Duration::from_secs_f64(self.sessions as f64 / rate),
                origin: tokio::time::Instant::now() + Duration::from_millis(20),
                window: self.window,
            },
            None => Mode::Full {
                window: self.window,
            },
        }
    }
}

/// Sessions driven by [`driver::drive`] under one mode switch.
pub struct Sessions {
    modes: watch::Sender<Mode>,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<anyhow::Result<Samples>>>,
    name: &'static str,
}

impl Sessions {
    fn new(target: &Target, traffic: &Arc<Traffic>, mode: Mode) -> Self {
        Self {
            modes: watch::channel(mode).0,
            shared: Shared::new(traffic.clone()),
            tasks: Vec::new(),
            name: target.name,
        }
    }

    fn drive(&mut self, client: SimClient, slot: Slot) {
        let (shared, modes) = (self.shared.clone(), self.modes.subscribe());
        self.tasks
            .push(tokio::spawn(driver::drive(client, slot, shared, modes)));
    }

    /// Runs `mode` for `warmup`, then measures it for `duration`: stanzas relayed and
    /// the middle's CPU.
    async fn measure(
        &self,
        target: &Target,
        mode: Mode,
        warmup: Duration,
        duration: Duration,
    ) -> anyhow::Result<(RelaySample, std::ops::Range<u64>)> {
        self.modes.send_replace(mode);
        tokio::time::sleep(warmup).await;
        let counters = &self.shared.counters;
        let (relayed0, echoed0, cpu0) = (
            counters.relayed(),
            counters.echoed.load(Ordering::Relaxed),
            target.cpu()?,
        );
        let t0 = self.shared.base.elapsed();
        tokio::time::sleep(duration).await;
        let (relayed1, echoed1, cpu1) = (
            counters.relayed(),
            counters.echoed.load(Ordering::Relaxed),
            target.cpu()?,
        );
        let t1 = self.shared.base.elapsed();
        let secs = (t1 - t0).as_secs_f64();
        let relayed = (relayed1 - relayed0).max(1) as f64;
        let cpu = cpu1 - cpu0;
        let sample = RelaySample {
            stanzas_per_s: relayed / secs,
            echoes_per_s: (echoed1 - echoed0) as f64 / secs,
            cpu_s_per_million: cpu * 1e6 / relayed,
            cores: cpu / secs,
            latencies_us: Vec::new(),
        };
        Ok((sample, t0.as_nanos() as u64..t1.as_nanos() as u64))
    }

    /// Closes every session and waits for each to end; the echo round trips of
    /// messages sent in `window`, µs, sorted.
    async fn stop(self, window: std::ops::Range<u64>) -> anyhow::Result<Vec<u32>> {
        self.modes.send_replace(Mode::Stop);
        let mut latencies = Vec::new();
        for task in self.tasks {
            let samples = match tokio::time::timeout(Duration::from_secs(20), task).await {
                Ok(joined) => joined??,
                Err(_) => anyhow::bail!("{}: a session did not close", self.name),
            };
            latencies.extend(
                samples
                    .into_iter()
                    .filter(|(sent, _)| window.contains(sent))
                    .map(|(_, rtt)| rtt),
            );
        }
        latencies.sort_unstable();
        Ok(latencies)
    }
}

/// Sessions messaging themselves (the server echoes), at `plan.rate` or full speed.
pub async fn relay(
    target: &Target,
    plan: RelayPlan,
    traffic: &Arc<Traffic>,
) -> anyhow::Result<RelaySample> {
    let clients = login_many(target, 920_000, plan.sessions).await?;
    let mut sessions = Sessions::new(target, traffic, Mode::Idle);
    let of = clients.len();
    for (index, (account, client)) in clients.into_iter().enumerate() {
        sessions.drive(client, Slot { account, index, of });
    }
    let (mut sample, window) = sessions
        .measure(target, plan.mode(), plan.warmup, plan.duration)
        .await?;
    sample.latencies_us = sessions.stop(window).await?;
    Ok(sample)
}

/// The `q`-quantile of sorted samples.
pub fn quantile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    f64::from(sorted[i])
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

/// Distinct client devices (each its own static key, account and token), made before a
/// wave so that making them is not part of it.
pub fn devices(tokens: &Tokens, first: u64, count: usize) -> Vec<ClientOptions> {
    (0..count as u64)
        .map(|i| {
            let mut options = ClientOptions::new(first + i);
            options.token = tokens.token(first + i);
            options
        })
        .collect()
}

/// A device's give-up time for one login, as a phone's: past it, it counts a failure,
/// backs off and tries again.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(20);

/// How the wave went.
#[derive(Clone, Debug, Default)]
pub struct WaveSample {
    /// Devices relaying (their first message echoed) by the deadline.
    pub relaying: usize,
    /// Seconds from the start until the last device was relaying; NaN if some never were.
    pub seconds: f64,
    /// Median seconds for one device to be relaying.
    pub median_seconds: f64,
    /// Failed attempts: connections refused, reset or closed (a full accept backlog
    /// among the causes).
    pub connection_errors: u64,
    /// Failed attempts: a login or first echo that took longer than [`LOGIN_TIMEOUT`].
    pub timeouts: u64,
    /// Failed attempts: refused logins and protocol errors.
    pub refusals: u64,
    /// The kernel's count of connections dropped from full listen queues in the wave
    /// (`ListenOverflows`, machine-wide).
    pub listen_overflows: u64,
}

impl WaveSample {
    /// Every failed attempt.
    pub fn failures(&self) -> u64 {
        self.connection_errors + self.timeouts + self.refusals
    }
}

enum Failure {
    Connection,
    Timeout,
    Refused,
}

/// A wave's sessions, held open (idle, with keepalives) after it.
pub struct Fleet {
    sessions: Sessions,
    /// Sessions held.
    pub count: usize,
}

impl Fleet {
    /// Runs the fleet at `rate` messages per second over all its sessions (spread, at
    /// most `window` in flight each) for `warmup` and `duration`; back to idle after.
    pub async fn rate(
        &self,
        target: &Target,
        rate: f64,
        window: usize,
        warmup: Duration,
        duration: Duration,
    ) -> anyhow::Result<RelaySample> {
        let plan = RelayPlan {
            sessions: self.count,
            window,
            rate: Some(rate),
            warmup,
            duration,
        };
        let (sample, _) = self
            .sessions
            .measure(target, plan.mode(), warmup, duration)
            .await?;
        self.sessions.modes.send_replace(Mode::Idle);
        Ok(sample)
    }

    /// Stanzas the fleet has sent and received so far (keepalives and their answers
    /// while idle).
    pub fn relayed(&self) -> u64 {
        self.sessions.shared.counters.relayed()
    }

    /// Closes every session at once, as a phone's connection drops: nothing measured
    /// waits on the closes.
    pub fn drop_all(self) {
        for task in self.sessions.tasks {
            task.abort();
        }
    }
}

/// `devices` connect to `target` at once, as after a rollout, each logging in and
/// messaging itself until the echo comes back; a device whose attempt fails backs off
/// (0.5 to 1.5 s, like a phone) and tries again until `deadline`. Returns how the wave
/// went and its sessions, held idle with keepalives.
pub async fn wave(
    target: &Target,
    devices: &[ClientOptions],
    traffic: &Arc<Traffic>,
    deadline: Duration,
) -> anyhow::Result<(WaveSample, Fleet)> {
    let overflows0 = listen_overflows();
    let (go_tx, go) = watch::channel(None::<Instant>);
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let sessions = Sessions::new(target, traffic, Mode::Idle);
    let (mut waiting, count) = (Vec::with_capacity(devices.len()), devices.len());
    for (index, device) in devices.iter().enumerate() {
        let mut options = device.clone();
        target.aim(&mut options, false);
        let slot = Slot {
            account: options.account,
            index,
            of: count,
        };
        let (mut go, done, addr) = (go.clone(), done_tx.clone(), target.addr);
        let (shared, modes) = (sessions.shared.clone(), sessions.modes.subscribe());
        waiting.push(tokio::spawn(async move {
            let Ok(started) = go
                .wait_for(Option::is_some)
                .await
                .map(|t| t.unwrap_or_else(Instant::now))
            else {
                return Ok(Samples::new());
            };
            let mut failures = Vec::new();
            loop {
                let attempt = tokio::time::timeout(LOGIN_TIMEOUT, async {
                    let mut client = SimClient::login(addr, &options).await?;
                    driver::first_echo(&mut client, slot, &shared).await?;
                    Ok::<_, anyhow::Error>(client)
                })
                .await;
                let failure = match attempt {
                    Ok(Ok(client)) => {
                        let _ = done.send((failures, Some(started.elapsed())));
                        return driver::drive(client, slot, shared, modes).await;
                    }
                    Err(_) => Failure::Timeout,
                    Ok(Err(e)) if is_connection_error(&e) => Failure::Connection,
                    Ok(Err(_)) => Failure::Refused,
                };
                failures.push(failure);
                if started.elapsed() > deadline {
                    let _ = done.send((failures, None));
                    return Ok(Samples::new());
                }
                let backoff = rand::thread_rng().gen_range(0.5..1.5);
                tokio::time::sleep(Duration::from_secs_f64(backoff)).await;
            }
        }));
    }
    drop(done_tx);
    // Every device waits at the start line before the wave goes.
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    go_tx.send_replace(Some(Instant::now()));
    let mut sample = WaveSample::default();
    let mut times = Vec::with_capacity(count);
    let mut all = true;
    // Each device reports once; the senders stay alive in the sessions' tasks.
    let give_up = tokio::time::Instant::now() + deadline + LOGIN_TIMEOUT + Duration::from_secs(5);
    for _ in 0..count {
        let Ok(Some((failures, relaying))) = tokio::time::timeout_at(give_up, done.recv()).await
        else {
            anyhow::bail!(
                "{}: devices of the wave neither relayed nor gave up",
                target.name
            );
        };
        for f in failures {
            match f {
                Failure::Connection => sample.connection_errors += 1,
                Failure::Timeout => sample.timeouts += 1,
                Failure::Refused => sample.refusals += 1,
            }
        }
        match relaying {
            Some(t) => times.push(t.as_secs_f64()),
            None => all = false,
        }
    }
    times.sort_by(f64::total_cmp);
    sample.relaying = times.len();
    sample.seconds = match (all, times.last()) {
        (true, Some(&t)) => t,
        _ => f64::NAN,
    };
    sample.median_seconds = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    sample.listen_overflows = listen_overflows().saturating_sub(overflows0);
    let mut sessions = sessions;
    sessions.tasks = waiting;
    Ok((sample, Fleet { sessions, count }))
}

fn is_connection_error(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.is::<std::io::Error>())
}

/// `TcpExt: ListenOverflows` from `/proc/net/netstat`: connections the kernel dropped
/// because a listener's accept queue was full.
fn listen_overflows() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/net/netstat") else {
        return 0;
    };
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "ListenOverflows")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
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
