//! What every session shares, fixed when the proxy starts: keys, the upstream's
//! settings, the bounds, the encoding, the authenticator and the capabilities.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;

use crate::auth::Authenticator;
use crate::caps::Caps;
use crate::noise::{Keypair, SecretKey};
use crate::stanza::{Encoding, Limits as StanzaLimits, SessionCodecs};
use crate::transport::resolve::Resolver;
use crate::transport::WireVersion;

use super::devices::Devices;

/// Everything a session needs that is the same for every session.
pub struct Shared {
    /// The proxy's Noise static key on the client leg.
    pub static_key: Keypair,
    /// The encoded `CertChain` presented to clients.
    pub cert_chain: Bytes,
    /// When that chain stops being valid (Unix seconds), as its check found.
    pub cert_not_after: u64,
    /// Versions accepted in the client's intro header.
    pub versions: Vec<WireVersion>,
    /// Whether clients arrive behind a load balancer that sends PROXY v2.
    pub client_proxy_protocol: bool,
    /// How to reach and trust the server.
    pub upstream: UpstreamSettings,
    /// Bounds on sizes and times.
    pub limits: SessionLimits,
    /// `stanza.encoding`, and the limits every stanza is read within.
    pub stanzas: StanzaSettings,
    /// Decides whether a client may pass.
    pub auth: Authenticator,
    /// Capability profiles, rules and the provider lookup.
    pub caps: Arc<Caps>,
    /// What returning devices' logins reuse; computed with `static_key` and
    /// `upstream.key_seed`.
    pub devices: Devices,
}

/// The upstream half's settings.
pub struct UpstreamSettings {
    /// `host:port` of the WhatsApp server, and its addresses.
    pub addr: Resolver,
    /// The key that signs intermediates of the server's chain.
    pub root_key: [u8; 32],
    /// The server's static key for IK: configured, or learnt from the last verified chain.
    pub server_key: RwLock<Option<[u8; 32]>>,
    /// The secret from which per-device upstream static keys are derived.
    pub key_seed: SecretKey,
    /// The version sent upstream; `None` repeats the client's.
    pub version: Option<WireVersion>,
    /// Bound on the TCP connect.
    pub connect_timeout: Duration,
    /// Send a PROXY v2 header with the client's address.
    pub proxy_protocol: bool,
    /// What else that header says about the client's connection.
    pub signals: Signals,
}

/// Where the connection-level signals of the upstream PROXY header come from (SPEC §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signals {
    /// None are sent: `upstream.connection_signals` or `upstream.proxy_protocol` is off.
    Off,
    /// This proxy's kernel: the client's SYN and its connection's RTT.
    Own,
    /// The load balancer's header: its SYN and RTT TLVs, unchanged. The proxy's own
    /// would describe the balancer's connection, not the client's.
    Forwarded,
}

impl Signals {
    /// The source for a configuration.
    pub fn new(
        proxy_protocol: bool,
        connection_signals: bool,
        client_proxy_protocol: bool,
    ) -> Self {
        match (proxy_protocol && connection_signals, client_proxy_protocol) {
            (false, _) => Signals::Off,
            (true, false) => Signals::Own,
            (true, true) => Signals::Forwarded,
        }
    }
}

/// Bounds that apply to each session.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    /// Largest frame accepted from either side.
    pub max_frame_bytes: usize,
    /// From accept to the start of the relay.
    pub handshake_timeout: Duration,
    /// Longest time with no frame in either direction.
    pub idle_timeout: Duration,
}

/// How stanzas are read and written.
#[derive(Clone, Copy, Debug)]
pub struct StanzaSettings {
    /// What both legs speak.
    pub encoding: Encoding,
    /// Bounds on each stanza.
    pub limits: StanzaLimits,
}

impl Shared {
    /// Takes over what `old`'s sessions kept of their devices, when it was computed with
    /// the same keys as this material's; otherwise it is dropped (and wiped) with `old`.
    pub fn adopt_devices(&self, old: &Shared) {
        let same_keys = self.static_key.public == old.static_key.public
            && self.upstream.key_seed.expose() == old.upstream.key_seed.expose();
        if same_keys {
            self.devices.adopt(&old.devices);
        }
    }

    /// The codecs of a session whose client sent `version`. Configuration checks that
    /// every accepted version names a dictionary; one that does not is malformed input.
    pub fn codecs(&self, version: WireVersion) -> Option<SessionCodecs> {
        SessionCodecs::new(
            self.stanzas.encoding,
            version.major,
            version.minor,
            self.stanzas.limits,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_own_forwarded_or_off() {
        assert_eq!(Signals::new(true, true, false), Signals::Own);
        assert_eq!(Signals::new(true, true, true), Signals::Forwarded);
        assert_eq!(Signals::new(true, false, false), Signals::Off);
        assert_eq!(Signals::new(true, false, true), Signals::Off);
        assert_eq!(Signals::new(false, true, false), Signals::Off);
        assert_eq!(Signals::new(false, true, true), Signals::Off);
    }
}
