//! `interop-proxy`: a sidecar between a messaging provider's clients and the WhatsApp
//! server, under the EU Digital Markets Act interoperability scheme.
//!
//! # Layout
//!
//! The modules follow a stanza's trip through the proxy:
//!
//! - [`transport`]: accept, PROXY v2, the `WA` preamble; dialling upstream.
//! - [`codec`]: 24-bit length-prefixed frames.
//! - [`handshake`]: the protobuf handshake messages and the `ClientPayload` view.
//! - [`noise`]: the WhatsApp dialect of Noise (XX, IK, XXfallback), the transport
//!   cipher, certificate chains.
//! - [`stanza`]: the stanza both encodings share, the opaque payload type, and the two
//!   codecs with their limits: WhatsApp's binary tokens (`stanza::binary`, per-session
//!   dictionary) and XML text (`stanza::xml`).
//! - [`caps`]: capability profiles, rules, XEP-0115 verification strings, the lookup.
//! - [`auth`]: the client's JWT and product, checked before any upstream exists.
//! - [`pipeline`]: the chain of steps every stanza passes, one per direction.
//! - [`proxy`]: one session: the client half and the upstream half, joined; the one
//!   mapping from errors to closing stanzas and metric reasons.
//!
//! Around the data path:
//!
//! - [`config`]: defaults, the TOML file and `INTEROP_PROXY_*` variables, validated.
//! - [`metrics`]: every metric, described in one place.
//! - [`admin`]: `/metrics`, `/live`, `/ready`.
//! - [`app`]: wiring: listeners, pipeline, admin, drain.
//! - [`https`]: the outbound HTTPS client (capability lookup, JWKS).
//! - [`sim`]: a reference WhatsApp-side server and client for tests, demo and benches.
//! - [`demo`]: the whole deployment on loopback, for `interop-proxy demo` and tests.
//! - [`bench`]: `interop-proxy bench`, the proxy against a direct connection and a
//!   plain TCP relay.
// `deny`, not `forbid`: `noise::x25519` calls AWS-LC's X25519 directly, which the
// README's performance section shows is worth it; it is the one module that allows it.
#![deny(unsafe_code)]

pub(crate) mod admin;
pub mod app;
pub(crate) mod auth;
#[cfg(feature = "demo")]
pub mod bench;
pub mod caps;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod frame;
pub mod https;
pub(crate) mod lifecycle;
pub mod metrics;
pub mod noise;
pub mod pipeline;
pub(crate) mod session;
#[cfg(feature = "demo")]
pub mod sim;
pub mod stanza;
pub mod transport;
pub mod wa_proto;
