//! A reference WhatsApp-side server and client, written only from the SPEC, for tests,
//! the demo and the benchmarks. They share the wire pieces (frames, Noise, stanzas) with
//! the proxy but none of its session logic.

pub mod client;
pub mod pki;
pub mod server;
mod source;
mod wire;

pub use client::{message, ping, ClientOptions, SimClient, SimError, SimReceiver, SimSender};
pub use pki::Pki;
pub use server::{ServerOptions, SimServer};

/// The JID the reference server gives an account.
pub fn jid(account: u64) -> String {
    format!("{account}@s.whatsapp.net")
}

/// The account a JID names, if it is one of the reference server's.
pub fn account_of(jid: &str) -> Option<u64> {
    jid.split('@')
        .next()?
        .split(['.', ':'])
        .next()?
        .parse()
        .ok()
}
