//! The material sessions share, read and checked from the configuration and the files it
//! names: keys, the chain, the key seed, the authenticator, the capabilities. Start-up
//! and every reload go through here, so both check the same things.

use std::path::Path;
use std::sync::{Arc, RwLock};

use base64::Engine;
use bytes::Bytes;

use crate::auth::{Authenticator, JwtVerifier, KeySet, KeySource};
use crate::caps::Caps;
use crate::config::{AuthMode, Config};
use crate::https::HttpsClient;
use crate::noise::{cert, Keypair, SecretKey};
use crate::session::devices::Devices;
use crate::session::{SessionLimits, Shared, Signals, StanzaSettings, UpstreamSettings};
use crate::stanza::Limits as StanzaLimits;
use crate::transport::resolve::Resolver;
use crate::transport::WireVersion;

/// Reads the key files and turns the configuration into what sessions share.
pub fn load_shared(config: &Config) -> Result<Shared, Vec<String>> {
    load_shared_except(config, &std::collections::BTreeSet::new())
}

/// As [`load_shared`] for a configuration that has problems of its own, so that `run`
/// and `check-config` list the files' problems with them: quiet about the keys in
/// `reported`, whose bad value left them unset or at their default, so that no key is
/// reported twice.
pub fn load_shared_except(
    config: &Config,
    reported: &std::collections::BTreeSet<String>,
) -> Result<Shared, Vec<String>> {
    let mut problems = Problems {
        lines: Vec::new(),
        reported,
    };
    let static_key = read_key(
        config.noise.static_key_file.as_deref(),
        "noise.static_key_file",
        &mut problems,
    )
    .map(Keypair::from_secret);
    let key_seed = read_key(
        config.upstream.key_seed_file.as_deref(),
        "upstream.key_seed_file",
        &mut problems,
    );
    let cert_chain = match config.noise.cert_chain_file.as_deref() {
        _ if !problems.checks(CHAIN) => None,
        None => {
            problems.push(&[CHAIN], "noise.cert_chain_file: not set".into());
            None
        }
        Some(path) => match read_chain(path) {
            Ok(chain) => Some(chain),
            Err(e) => {
                let line = format!("noise.cert_chain_file: {}: {e}", path.display());
                problems.push(&[CHAIN], line);
                None
            }
        },
    };
    // SPEC §6 and §9: a chain the clients would refuse is refused here, at start-up and on
    // every reload, before any client sees it.
    let mut cert_not_after = None;
    if let (Some(key), Some(chain), Some(path)) = (
        &static_key,
        &cert_chain,
        config.noise.cert_chain_file.as_deref(),
    ) {
        match cert::verify_own_chain(chain, &key.public, cert::unix_now()) {
            Ok(not_after) => cert_not_after = Some(not_after),
            Err(e) => {
                let line = format!(
                    "noise.cert_chain_file: {}: not valid for noise.static_key_file: {e}",
                    path.display()
                );
                problems.push(&[CHAIN], line);
            }
        }
    }
    let auth = load_auth(config, &mut problems);
    // A bad `caps.file` left the default path, which is not the file the operator meant.
    let caps = match problems.checks("caps.file") {
        false => None,
        true => match Caps::load(&config.caps, &config.tls) {
            Ok(caps) => Some(Arc::new(caps)),
            Err(caps_problems) => {
                for line in caps_problems {
                    problems.push(&[], line);
                }
                None
            }
        },
    };
    let addr = config.upstream.addr.clone();
    if addr.is_none() {
        problems.push(&["upstream.addr"], "upstream.addr: not set".into());
    }
    let (
        Some(static_key),
        Some(key_seed),
        Some(cert_chain),
        Some(cert_not_after),
        Some(addr),
        Some(auth),
        Some(caps),
        true,
    ) = (
        static_key,
        key_seed,
        cert_chain,
        cert_not_after,
        addr,
        auth,
        caps,
        problems.lines.is_empty(),
    )
    else {
        return Err(problems.lines);
    };
    let version = |v: &crate::config::Version| WireVersion {
        major: v.major,
        minor: v.minor,
    };
    Ok(Shared {
        static_key,
        cert_chain,
        cert_not_after,
        versions: config.client.versions.iter().map(version).collect(),
        client_proxy_protocol: config.client.proxy_protocol,
        upstream: UpstreamSettings {
            addr: Resolver::new(addr),
            root_key: config.upstream.root_key,
            server_key: RwLock::new(config.upstream.server_key),
            key_seed,
            version: config.upstream.version.as_ref().map(version),
            connect_timeout: config.upstream.connect_timeout,
            proxy_protocol: config.upstream.proxy_protocol,
            signals: Signals::new(
                config.upstream.proxy_protocol,
                config.upstream.connection_signals,
                config.client.proxy_protocol,
            ),
        },
        limits: SessionLimits {
            max_frame_bytes: config.limits.max_frame_bytes,
            handshake_timeout: config.limits.handshake_timeout,
            idle_timeout: config.limits.idle_timeout,
        },
        stanzas: StanzaSettings {
            encoding: config.stanza.encoding,
            limits: StanzaLimits {
                max_stanza_bytes: config.limits.max_stanza_bytes,
                max_depth: config.limits.max_depth,
                ..StanzaLimits::default()
            },
        },
        auth,
        caps,
        devices: Devices::new(config.effective_returning_devices()),
    })
}

/// Builds the authenticator; with `auth.mode = "jwt"` the key set is not fetched yet
/// (`App::bind` does that, and a failure there does not stop the proxy).
fn load_auth(config: &Config, problems: &mut Problems<'_>) -> Option<Authenticator> {
    let products = config
        .auth
        .products
        .iter()
        .filter_map(|&p| i32::try_from(p).ok())
        .collect();
    let jwt = match config.auth.mode {
        AuthMode::None => None,
        // A bad `auth.mode` left the default; whether tokens are wanted is unknown.
        AuthMode::Jwt if !problems.checks("auth.mode") => return None,
        AuthMode::Jwt => {
            let source = match (&config.auth.jwks_file, &config.auth.jwks_url) {
                (Some(path), _) => KeySource::File(path.clone()),
                (None, Some(url)) => match HttpsClient::new(config.tls.ca_file.as_deref()) {
                    Ok(client) => KeySource::Url {
                        url: url.clone(),
                        client,
                    },
                    Err(e) => {
                        problems.push(&["tls.ca_file"], format!("tls.ca_file: {e}"));
                        return None;
                    }
                },
                (None, None) => {
                    problems.push(
                        &["auth.jwks_file", "auth.jwks_url"],
                        "auth.jwks_file or auth.jwks_url: not set".into(),
                    );
                    return None;
                }
            };
            let (Some(issuer), Some(audience)) = (&config.auth.issuer, &config.auth.audience)
            else {
                problems.push(
                    &["auth.issuer", "auth.audience"],
                    "auth.issuer and auth.audience: required with auth.mode = \"jwt\"".into(),
                );
                return None;
            };
            Some(JwtVerifier {
                keys: Arc::new(KeySet::new(source)),
                issuer: issuer.clone(),
                audience: audience.clone(),
                leeway: config.auth.leeway,
                verified: crate::auth::Verified::new(config.effective_returning_devices()),
            })
        }
    };
    Some(Authenticator { products, jwt })
}

/// Reads one key file, noting a problem under the key's name.
fn read_key(path: Option<&Path>, key: &str, problems: &mut Problems<'_>) -> Option<SecretKey> {
    if !problems.checks(key) {
        return None;
    }
    let Some(path) = path else {
        problems.push(&[key], format!("{key}: not set"));
        return None;
    };
    SecretKey::read_file(path)
        .map_err(|e| problems.push(&[key], format!("{key}: {e}")))
        .ok()
}

/// The configuration key of the chain file.
const CHAIN: &str = "noise.cert_chain_file";

/// What [`load_shared`] found wrong, one line each.
struct Problems<'a> {
    /// The lines, in the order found, each once: the JWKS and the capability look-up
    /// build their clients from the same `tls.ca_file`, and one bad bundle is one line.
    lines: Vec<String>,
    /// Keys the configuration's own problems already name.
    reported: &'a std::collections::BTreeSet<String>,
}

impl Problems<'_> {
    /// Whether `key` is still to be checked.
    fn checks(&self, key: &str) -> bool {
        !self.reported.contains(key)
    }

    /// Notes `line` about `keys`, unless one of them is already reported. A message that
    /// spans lines (a TOML parser's) is joined, so that each problem stays one line.
    fn push(&mut self, keys: &[&str], line: String) {
        let parts: Vec<&str> = line
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let line = parts.join("; ");
        if keys.iter().all(|k| self.checks(k)) && !self.lines.contains(&line) {
            self.lines.push(line);
        }
    }
}

/// Why a chain file cannot be presented to clients.
#[derive(Debug, thiserror::Error)]
enum ChainFileError {
    /// It cannot be read.
    #[error("{0}")]
    Read(#[from] std::io::Error),
    /// Its text is not base64.
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// Its bytes are not a `CertChain`.
    #[error("not a CertChain: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// Reads a chain file: base64 of the encoded `CertChain`.
fn read_chain(path: &Path) -> Result<Bytes, ChainFileError> {
    let text = std::fs::read_to_string(path)?;
    let raw = base64::engine::general_purpose::STANDARD.decode(text.trim())?;
    <crate::wa_proto::CertChain as prost::Message>::decode(raw.as_slice())?;
    Ok(Bytes::from(raw))
}
