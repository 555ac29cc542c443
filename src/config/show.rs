//! `check-config` output: the effective configuration as TOML, each key followed by where
//! its value came from (built-in default, the file, or the environment variable's name).
//!
//! Secrets are never configuration values (key material is read from files, and only
//! their paths are shown), but URLs can carry credentials in their user-info or query
//! (`https://user:pass@host/jwks?token=...`); those parts are masked.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;

use super::types::*;

/// Where one value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The built-in default (or unset, for optional keys).
    Default,
    /// The configuration file at this path.
    File(PathBuf),
    /// The environment variable of this name.
    Env(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(var) => write!(f, "env {var}"),
        }
    }
}

/// Every known key, dotted (`upstream.addr`), in file order, with its source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Provenance(pub Vec<(String, Source)>);

impl Provenance {
    /// The source of one dotted key; `Default` for keys not listed.
    pub fn source(&self, key: &str) -> Source {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, s)| s.clone())
            .unwrap_or(Source::Default)
    }
}

/// The TOML text of each key's effective value; `None` for an unset optional key.
pub(super) fn values(c: &Config) -> Vec<(&'static str, Option<String>)> {
    let s = |v: &str| Some(quote(v));
    let p = |v: &Option<PathBuf>| v.as_deref().map(path);
    let d = |v: Duration| Some(quote(&humantime::format_duration(v).to_string()));
    let key = |k: &[u8; 32]| s(&base64::engine::general_purpose::STANDARD.encode(k));
    let list = |items: Vec<String>| Some(format!("[{}]", items.join(", ")));
    vec![
        ("listen", s(&c.listen.to_string())),
        ("admin.listen", s(&c.admin.listen.to_string())),
        (
            "client.versions",
            list(
                c.client
                    .versions
                    .iter()
                    .map(|v| quote(&v.to_string()))
                    .collect(),
            ),
        ),
        (
            "client.proxy_protocol",
            Some(c.client.proxy_protocol.to_string()),
        ),
        ("noise.static_key_file", p(&c.noise.static_key_file)),
        ("noise.cert_chain_file", p(&c.noise.cert_chain_file)),
        ("upstream.addr", c.upstream.addr.as_deref().and_then(s)),
        ("upstream.root_key", key(&c.upstream.root_key)),
        (
            "upstream.server_key",
            c.upstream.server_key.as_ref().and_then(key),
        ),
        ("upstream.key_seed_file", p(&c.upstream.key_seed_file)),
        (
            "upstream.proxy_protocol",
            Some(c.upstream.proxy_protocol.to_string()),
        ),
        (
            "upstream.connection_signals",
            Some(c.upstream.connection_signals.to_string()),
        ),
        ("upstream.connect_timeout", d(c.upstream.connect_timeout)),
        (
            "upstream.version",
            c.upstream.version.map(|v| quote(&v.to_string())),
        ),
        ("caps.file", Some(path(&c.caps.file))),
        (
            "caps.unsupported",
            s(match c.caps.unsupported {
                Unsupported::Annotate => "annotate",
                Unsupported::Reject => "reject",
            }),
        ),
        ("caps.lookup_url", c.caps.lookup_url.as_deref().map(url)),
        ("caps.cache_ttl", d(c.caps.cache_ttl)),
        (
            "auth.mode",
            s(match c.auth.mode {
                AuthMode::Jwt => "jwt",
                AuthMode::None => "none",
            }),
        ),
        ("auth.jwks_file", p(&c.auth.jwks_file)),
        ("auth.jwks_url", c.auth.jwks_url.as_deref().map(url)),
        ("auth.issuer", c.auth.issuer.as_deref().and_then(s)),
        ("auth.audience", c.auth.audience.as_deref().and_then(s)),
        (
            "auth.products",
            list(c.auth.products.iter().map(u32::to_string).collect()),
        ),
        ("auth.leeway", d(c.auth.leeway)),
        ("tls.ca_file", p(&c.tls.ca_file)),
        (
            "limits.max_frame_bytes",
            Some(c.limits.max_frame_bytes.to_string()),
        ),
        (
            "limits.max_stanza_bytes",
            Some(c.limits.max_stanza_bytes.to_string()),
        ),
        ("limits.max_depth", Some(c.limits.max_depth.to_string())),
        ("limits.handshake_timeout", d(c.limits.handshake_timeout)),
        ("limits.idle_timeout", d(c.limits.idle_timeout)),
        (
            "limits.max_sessions",
            c.limits.max_sessions.map(|n| n.to_string()),
        ),
        ("stanza.encoding", s(c.stanza.encoding.label())),
        ("shutdown.grace", d(c.shutdown.grace)),
    ]
}

impl Config {
    /// The effective configuration as TOML with a `# source` comment on every key, for
    /// `check-config`. Unset optional keys are shown commented out.
    pub fn explain(&self, provenance: &Provenance) -> String {
        let mut out = String::from(
            "# Effective configuration; after each value, where it came from\n\
             # (default, file PATH, or env VARIABLE).\n",
        );
        let mut section = "";
        for (key, value) in values(self) {
            let (sect, name) = key.split_once('.').unwrap_or(("", key));
            if sect != section {
                section = sect;
                let _ = write!(out, "\n[{sect}]\n");
            }
            let line = match &value {
                Some(v) => format!("{name} = {v}"),
                None => format!("# {name} = (unset)"),
            };
            let _ = writeln!(out, "{line:<52} # {}", provenance.source(key));
            if key == "limits.max_sessions" && value.is_none() {
                let _ = writeln!(
                    out,
                    "# effective max_sessions = {} (from the open-file limit)",
                    self.effective_max_sessions()
                );
            }
        }
        out
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn path(p: &Path) -> String {
    quote(&p.display().to_string())
}

/// A URL with user-info and query masked: they are where credentials hide.
fn url(u: &str) -> String {
    let (scheme, rest) = u.split_once("://").unwrap_or(("", u));
    let (rest, query) = match rest.split_once('?') {
        Some((r, _)) => (r, "?***"),
        None => (rest, ""),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    quote(&format!("{scheme}://{host}{path}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_shown() {
        let shown: Vec<String> = values(&Config::default())
            .into_iter()
            .map(|(k, _)| k.to_string())
            .collect();
        let known: Vec<String> = super::super::load::SECTIONS
            .iter()
            .flat_map(|(s, keys)| keys.iter().map(move |k| format!("{s}.{k}")))
            .collect();
        assert_eq!(shown[0], "listen");
        assert_eq!(shown[1..], known[..]);
    }

    #[test]
    fn urls_lose_credentials() {
        assert_eq!(
            url("https://user:pw@idp.example/jwks?token=abc"),
            "\"https://***@idp.example/jwks?***\""
        );
        assert_eq!(
            url("https://idp.example/jwks"),
            "\"https://idp.example/jwks\""
        );
    }

    #[test]
    fn explained_output_names_sources() {
        let env = vec![(
            "INTEROP_PROXY_LIMITS__MAX_DEPTH".to_string(),
            "8".to_string(),
        )];
        let (config, provenance) = super::super::load::load_explained_for_test(&env);
        let text = config.explain(&provenance);
        assert!(text.contains("max_depth = 8"), "{text}");
        assert!(
            text.contains("# env INTEROP_PROXY_LIMITS__MAX_DEPTH"),
            "{text}"
        );
        assert!(text.contains("# default"), "{text}");
        assert!(text.contains("# static_key_file = (unset)"), "{text}");
        // The output is itself TOML.
        text.parse::<toml::Table>().unwrap();
    }
}
