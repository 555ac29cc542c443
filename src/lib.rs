//! `interop-proxy`: a sidecar between a messaging provider's clients and the WhatsApp
//! server, under the EU Digital Markets Act interoperability scheme.
//!
//! # Layout
//!
//! The modules follow a stanza's trip through the proxy:
//!
//! - [`transport`]: the one accept loop (proxy and admin), dialling upstream, PROXY v2,
//!   the `WA` preamble, the connection-level signals.
//! - [`frame`]: 24-bit length-prefixed frames; "need more bytes" is a value.
//! - [`wa_proto`]: the protobuf messages: handshake, `ClientPayload` view, `CertChain`.
//! - [`noise`]: the WhatsApp dialect of Noise (`handshake/`: initiator and responder),
//!   the transport cipher, the leg's writing end (`leg`), certificate chains, keys.
//! - [`stanza`]: the stanza both encodings share, the opaque payload type, and the two
//!   codecs with their limits: WhatsApp's binary tokens (`stanza::binary`, per-session
//!   dictionary) and XML text (`stanza::xml`).
//! - [`pipeline`]: the steps every stanza passes, one chain per direction (`step` is
//!   the contract).
//! - `session`: one session, in the order it runs: accept the client, authorize it,
//!   connect upstream, relay, close; `close` is the one mapping from an error to its
//!   reason, code and closing stanza.
//!
//! Around the data path:
//!
//! - [`caps`]: capability profiles, rules, XEP-0115 verification strings, the lookup.
//! - `auth`: the client's JWT and product, checked before any upstream exists.
//! - `bounded`: the bounded LRU behind what is kept of returning devices and tokens.
//! - [`config`]: defaults, the TOML file and `INTEROP_PROXY_*` variables, validated.
//! - [`metrics`]: every metric, described in one place.
//! - `admin`: `/metrics`, `/live`, `/ready`.
//! - `lifecycle`: the process's phase (starting, ready, draining, stopped), which
//!   readiness and the drain both read.
//! - `material`: the keys, chain and files sessions share, read and checked; start-up
//!   and reloads both go through it.
//! - `reload`: new keys, chain and files on SIGHUP or a change on disk.
//! - [`app`]: wiring: keys, listeners, sessions, admin, reloads, drain.
//! - [`https`]: the outbound HTTPS client (capability lookup, JWKS).
//!
//! Behind the default-on `demo` feature, left out of a production build:
//!
//! - `sim`: a reference WhatsApp-side server and client for tests, demo and benches.
//! - `demo`: the whole deployment on loopback, for `interop-proxy demo` and tests.
//!
//! The side-by-side benchmark is its own binary, `src/bin/interop-proxy-bench` (feature
//! `bench`).
// `deny`, not `forbid`: `noise::x25519` calls AWS-LC's X25519 directly, which the
// README's performance section shows is worth it; it is the one module that allows it.
#![deny(unsafe_code)]

pub(crate) mod admin;
pub mod app;
pub(crate) mod auth;
pub(crate) mod bounded;
pub mod caps;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod frame;
pub mod https;
pub(crate) mod lifecycle;
pub(crate) mod material;
pub mod metrics;
pub mod noise;
pub mod pipeline;
pub(crate) mod reload;
pub(crate) mod session;
#[cfg(feature = "demo")]
pub mod sim;
pub mod stanza;
pub mod transport;
pub mod wa_proto;
