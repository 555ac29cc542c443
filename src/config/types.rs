//! The validated configuration, as the rest of the proxy sees it.
//!
//! Everything here is already checked: values are in range, keys decode, URLs are https.
//! What may still be absent is what only a real deployment needs (key files, the upstream
//! address, JWT settings); [`Config::check_runnable`] reports those, so that `demo` can run
//! with generated keys from the same type.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use crate::stanza::Encoding;

/// The WhatsApp server's root certificate key, which anchors the upstream certificate chain.
///
/// Hex `142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b`,
/// base64 `FCN1V00KWHFmqucevlFkN8Sii3PjaVxs4ff5VF2o7ms=`.
pub const DEFAULT_ROOT_KEY: [u8; 32] = crate::noise::cert::WHATSAPP_ROOT_KEY;

/// The largest payload a 24-bit frame length prefix can describe.
pub const MAX_FRAME_BYTES_LIMIT: usize = crate::frame::MAX_FRAME_LIMIT;

/// The whole proxy configuration (SPEC §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where clients of the provider connect.
    pub listen: SocketAddr,
    /// The operator-facing HTTP endpoint.
    pub admin: AdminConfig,
    /// What the proxy accepts from the provider's clients.
    pub client: ClientConfig,
    /// The proxy's own Noise identity towards clients.
    pub noise: NoiseConfig,
    /// How the proxy reaches the WhatsApp server.
    pub upstream: UpstreamConfig,
    /// Capability advertisement and handling of unsupported content.
    pub caps: CapsConfig,
    /// How clients prove who they are.
    pub auth: AuthConfig,
    /// Trust settings for the proxy's own outgoing https fetches.
    pub tls: TlsConfig,
    /// Resource bounds that keep one client from exhausting the process.
    pub limits: LimitsConfig,
    /// How stanzas are encoded on both legs.
    pub stanza: StanzaConfig,
    /// Draining behaviour on SIGTERM.
    pub shutdown: ShutdownConfig,
}

/// `[admin]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminConfig {
    /// Address of `/metrics`, `/live`, `/ready`; kept apart from `listen` so scrapes and
    /// probes never compete with client traffic.
    pub listen: SocketAddr,
}

/// `[client]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Protocol versions a client may announce in its `WA` preamble; never empty.
    pub versions: Vec<Version>,
    /// Whether client connections arrive behind a load balancer that prepends PROXY v2,
    /// which is then the only way to learn the real peer address.
    pub proxy_protocol: bool,
}

/// `[noise]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoiseConfig {
    /// File holding the proxy's static Noise private key; a path so the secret never
    /// travels through the environment. Required to run.
    pub static_key_file: Option<PathBuf>,
    /// File holding the base64 `CertChain` protobuf presented to clients. Required to run.
    pub cert_chain_file: Option<PathBuf>,
}

/// `[upstream]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// `host:port` of the WhatsApp server; kept as text because the host is resolved at
    /// connect time, not once at start-up. Required to run.
    pub addr: Option<String>,
    /// Key that must sign the server's certificate chain.
    pub root_key: [u8; 32],
    /// The server's static key, when known in advance; enables the IK pattern.
    pub server_key: Option<[u8; 32]>,
    /// File with the seed from which per-client upstream keys are derived. Required to run.
    pub key_seed_file: Option<PathBuf>,
    /// Whether to prepend a PROXY v2 header to upstream connections.
    pub proxy_protocol: bool,
    /// Whether that header also carries the client's SYN and RTT (SPEC §5).
    pub connection_signals: bool,
    /// Give-up time for TCP connect to the server.
    pub connect_timeout: Duration,
    /// Version announced upstream; `None` forwards the version the client announced.
    pub version: Option<Version>,
}

/// `[caps]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapsConfig {
    /// Capability profile file (node, profiles, rules by platform and version).
    pub file: PathBuf,
    /// What to do with content a client's profile does not support.
    pub unsupported: Unsupported,
    /// Optional https service answering capability look-ups the file cannot.
    pub lookup_url: Option<String>,
    /// How long a looked-up answer may be reused.
    pub cache_ttl: Duration,
}

/// `[auth]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// Whether clients must present a JWT.
    pub mode: AuthMode,
    /// Local JWKS file with the token signing keys.
    pub jwks_file: Option<PathBuf>,
    /// https URL of the JWKS, for providers that rotate keys.
    pub jwks_url: Option<String>,
    /// Required `iss` claim.
    pub issuer: Option<String>,
    /// Required `aud` claim.
    pub audience: Option<String>,
    /// Product codes a token may be issued for.
    pub products: Vec<u32>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
}

/// `[tls]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    /// Extra CA bundle (PEM) for https fetches, for providers with a private PKI.
    pub ca_file: Option<PathBuf>,
}

/// `[limits]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Largest frame accepted in either direction; at most 16 MiB - 1 (24-bit length).
    pub max_frame_bytes: usize,
    /// Largest single stanza the parser will buffer.
    pub max_stanza_bytes: usize,
    /// Deepest XML nesting the parser will follow.
    pub max_depth: usize,
    /// Time allowed from accept to an established session.
    pub handshake_timeout: Duration,
    /// A session with no traffic either way for this long is closed.
    pub idle_timeout: Duration,
    /// Cap on concurrent sessions; `None` derives it from the file-descriptor limit
    /// (see [`Config::effective_max_sessions`]).
    pub max_sessions: Option<usize>,
    /// Devices whose login results are kept for their next login; `None` keeps as
    /// many as there may be sessions (see [`Config::effective_returning_devices`]).
    pub returning_devices: Option<usize>,
}

/// `[stanza]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StanzaConfig {
    /// What both legs speak: `binary` (WhatsApp's token encoding, what the server
    /// speaks) or `xml`; the proxy never translates between them.
    pub encoding: Encoding,
}

/// `[shutdown]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShutdownConfig {
    /// How long sessions may drain after SIGTERM before they are cut.
    pub grace: Duration,
}

/// A protocol version as it appears in the `WA` preamble: two bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    /// First byte.
    pub major: u8,
    /// Second byte.
    pub minor: u8,
}

impl Version {
    /// Builds a version from its two bytes.
    pub const fn new(major: u8, minor: u8) -> Self {
        Version { major, minor }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for Version {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected \"MAJOR.MINOR\" with each part 0-255, found {s:?}");
        let (major, minor) = s.trim().split_once('.').ok_or_else(bad)?;
        let part = |p: &str| {
            // u8::from_str accepts a leading '+'; a version never has one.
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse::<u8>().map_err(|_| bad())
        };
        Ok(Version {
            major: part(major)?,
            minor: part(minor)?,
        })
    }
}

/// What the proxy does with a stanza the recipient's capability profile cannot render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// Relay it with an annotation so the client can show a placeholder.
    Annotate,
    /// Refuse it back to the sender.
    Reject,
}

/// Whether clients must authenticate with a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// No token checked; only for demos and tests behind another authenticating layer.
    None,
    /// A JWT in the client payload, checked against the configured JWKS.
    Jwt,
}

impl Default for Config {
    fn default() -> Self {
        let any = |port| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
        Config {
            listen: any(5222),
            admin: AdminConfig { listen: any(9464) },
            client: ClientConfig {
                versions: vec![Version::new(6, 3)],
                proxy_protocol: false,
            },
            noise: NoiseConfig {
                static_key_file: None,
                cert_chain_file: None,
            },
            upstream: UpstreamConfig {
                addr: None,
                root_key: DEFAULT_ROOT_KEY,
                server_key: None,
                key_seed_file: None,
                proxy_protocol: false,
                connection_signals: true,
                connect_timeout: Duration::from_secs(5),
                version: None,
            },
            caps: CapsConfig {
                file: PathBuf::from("config/capabilities.toml"),
                unsupported: Unsupported::Annotate,
                lookup_url: None,
                cache_ttl: Duration::from_secs(60),
            },
            auth: AuthConfig {
                mode: AuthMode::Jwt,
                jwks_file: None,
                jwks_url: None,
                issuer: None,
                audience: None,
                products: vec![2],
                leeway: Duration::from_secs(60),
            },
            tls: TlsConfig { ca_file: None },
            limits: LimitsConfig {
                max_frame_bytes: 1 << 20,
                max_stanza_bytes: 256 << 10,
                max_depth: 32,
                handshake_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(120),
                max_sessions: None,
                returning_devices: None,
            },
            stanza: StanzaConfig {
                encoding: Encoding::Binary,
            },
            shutdown: ShutdownConfig {
                grace: Duration::from_secs(30),
            },
        }
    }
}
