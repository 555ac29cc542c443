//! One logged-in session as a phone drives it, in one task: it reads whatever arrives
//! (echoes of its own messages, acks, answers to its pings) and, depending on the mode
//! the workload sets, sends messages at full speed, at a fixed rate, or only keepalives.
//!
//! One task rather than a reader and a writer, because a compressed frame can only be
//! sent through the whole client; reads are cancel-safe (frames are buffered), so waiting
//! for a tick and for a frame in one `select!` loses nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

use super::traffic::{self, Outgoing, Traffic};
use interop_proxy::sim::SimClient;
use interop_proxy::stanza::Kind;

/// What the sessions of a workload do; the workload changes it for all at once.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Logged in, sending only keepalives.
    Idle,
    /// Messages to itself back to back, at most `window` awaiting their echo.
    Full {
        /// Messages in flight per session.
        window: usize,
    },
    /// One message per `period`, the `i`-th of `n` sessions starting `i/n` of a period
    /// after `origin`, so that the sessions' sends spread evenly over each period.
    Rate {
        /// Interval between one session's messages.
        period: Duration,
        /// Where every session's phase is counted from.
        origin: tokio::time::Instant,
        /// Messages in flight per session, beyond which a tick waits.
        window: usize,
    },
    /// Close the connection and read what is left until the peer closes.
    Stop,
}

/// Counters all sessions of a workload share.
#[derive(Default)]
pub struct Counters {
    /// Stanzas sent: messages, receipts, presence, pings.
    pub sent: AtomicU64,
    /// Messages received back (the server's echo).
    pub echoed: AtomicU64,
    /// `<ack>`s received.
    pub acks: AtomicU64,
    /// Other stanzas received (answers to pings).
    pub other: AtomicU64,
}

impl Counters {
    /// Stanzas that crossed the middle either way.
    pub fn relayed(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
            + self.echoed.load(Ordering::Relaxed)
            + self.acks.load(Ordering::Relaxed)
            + self.other.load(Ordering::Relaxed)
    }
}

/// What the sessions of a workload share.
pub struct Shared {
    /// The stanzas.
    pub traffic: Arc<Traffic>,
    /// The counters.
    pub counters: Counters,
    /// Time zero of the message ids, which carry their send time.
    pub base: Instant,
}

impl Shared {
    /// Fresh counters over `traffic`.
    pub fn new(traffic: Arc<Traffic>) -> Arc<Self> {
        Arc::new(Self {
            traffic,
            counters: Counters::default(),
            base: Instant::now(),
        })
    }

    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

/// A session's place among its workload's, for its phase.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    /// This session's account, which it messages.
    pub account: u64,
    /// Its index.
    pub index: usize,
    /// How many sessions there are.
    pub of: usize,
}

/// Echo round trips: (send time in ns after [`Shared::base`], round trip in µs).
pub type Samples = Vec<(u64, u32)>;

/// Sends one outgoing stanza.
async fn send(client: &mut SimClient, outgoing: Outgoing) -> anyhow::Result<()> {
    match outgoing {
        Outgoing::Stanza(s) => client.send(&s).await?,
        Outgoing::Frame(f) => client.send_plaintext(&f).await?,
    }
    Ok(())
}

/// Sends a message to itself and waits for its echo: the session is relaying.
pub async fn first_echo(client: &mut SimClient, slot: Slot, shared: &Shared) -> anyhow::Result<()> {
    let id = shared.now_ns();
    send(client, shared.traffic.outgoing_message(slot.account, id, 0)).await?;
    shared.counters.sent.fetch_add(1, Ordering::Relaxed);
    loop {
        let Some(stanza) = client.recv().await? else {
            anyhow::bail!("closed before the first echo");
        };
        match stanza.kind() {
            Kind::Message => {
                shared.counters.echoed.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Kind::Ack => shared.counters.acks.fetch_add(1, Ordering::Relaxed),
            _ => shared.counters.other.fetch_add(1, Ordering::Relaxed),
        };
    }
}

fn ticker(mode: Mode, slot: Slot) -> Option<Interval> {
    let Mode::Rate { period, origin, .. } = mode else {
        return None;
    };
    let phase = period.mul_f64(slot.index as f64 / slot.of.max(1) as f64);
    let mut t = tokio::time::interval_at(origin + phase, period);
    // An open-loop sender: ticks missed while the window was full are sent as soon as
    // it opens, so the offered rate holds.
    t.set_missed_tick_behavior(MissedTickBehavior::Burst);
    Some(t)
}

async fn next_tick(ticker: &mut Option<Interval>) {
    if let Some(t) = ticker {
        t.tick().await;
    }
}

fn keepalive_delay(first: bool) -> Duration {
    let secs = rand::thread_rng().gen_range(traffic::KEEPALIVE_SECS);
    // The first ping comes anywhere in one interval, so that a fleet logged in at once
    // does not ping at once.
    let secs = if first {
        secs * rand::thread_rng().gen::<f64>()
    } else {
        secs
    };
    Duration::from_secs_f64(secs)
}

/// Drives `client` in the modes `modes` gives until [`Mode::Stop`] (or the sender of
/// `modes` goes away) and the peer has closed; returns the echo round trips.
pub async fn drive(
    mut client: SimClient,
    slot: Slot,
    shared: Arc<Shared>,
    mut modes: watch::Receiver<Mode>,
) -> anyhow::Result<Samples> {
    let mut mode = *modes.borrow_and_update();
    let mut tick = ticker(mode, slot);
    let keepalive = tokio::time::sleep(keepalive_delay(true));
    tokio::pin!(keepalive);
    let (mut in_flight, mut seq, mut pings) = (0usize, 0u64, 0u64);
    let mut samples = Samples::new();
    let mut closing = false;
    let counters = &shared.counters;
    loop {
        if matches!(mode, Mode::Stop) && !closing {
            closing = true;
            client.sink.shutdown().await;
        }
        let window = match mode {
            Mode::Full { window } | Mode::Rate { window, .. } => window,
            Mode::Idle | Mode::Stop => 0,
        };
        let may_send = !closing && in_flight < window;
        let idle = !closing && matches!(mode, Mode::Idle);
        tokio::select! {
            biased;
            changed = modes.changed(), if !closing => {
                mode = if changed.is_ok() { *modes.borrow_and_update() } else { Mode::Stop };
                tick = ticker(mode, slot);
            }
            incoming = client.recv() => {
                let Some(stanza) = incoming? else { break };
                match stanza.kind() {
                    Kind::Message => {
                        counters.echoed.fetch_add(1, Ordering::Relaxed);
                        in_flight = in_flight.saturating_sub(1);
                        let id = stanza.node().attr("id").unwrap_or_default().into_owned();
                        if let Some(sent) = traffic::parse_message_id(&id) {
                            let rtt = shared.now_ns().saturating_sub(sent) / 1000;
                            samples.push((sent, u32::try_from(rtt).unwrap_or(u32::MAX)));
                        }
                        // A phone confirms delivery of every message it receives.
                        if !closing {
                            let read = sent_parity(&id);
                            client.send(&shared.traffic.receipt(slot.account, &id, read)).await?;
                            counters.sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Kind::Ack => { counters.acks.fetch_add(1, Ordering::Relaxed); }
                    _ => { counters.other.fetch_add(1, Ordering::Relaxed); }
                }
            }
            () = next_tick(&mut tick), if may_send => {
                let id = shared.now_ns();
                send(&mut client, shared.traffic.outgoing_message(slot.account, id, seq)).await?;
                in_flight += 1;
                seq += 1;
                let mut sent = 1;
                if seq.is_multiple_of(traffic::PRESENCE_EVERY) {
                    client.send(&shared.traffic.presence(seq)).await?;
                    sent += 1;
                }
                counters.sent.fetch_add(sent, Ordering::Relaxed);
            }
            () = &mut keepalive, if idle => {
                client.send(&shared.traffic.ping(pings)).await?;
                pings += 1;
                counters.sent.fetch_add(1, Ordering::Relaxed);
                keepalive.as_mut().reset(tokio::time::Instant::now() + keepalive_delay(false));
            }
        }
    }
    Ok(samples)
}

/// Every other receipt is a read receipt.
fn sent_parity(id: &str) -> bool {
    id.as_bytes().last().is_some_and(|b| b % 2 == 1)
}
