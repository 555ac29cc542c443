//! `check-config` output: the effective configuration as TOML, each key followed by where
//! its value came from (built-in default, the file, or the environment variable's name).
//!
//! Secrets are never configuration values (key material is read from files, and only
//! their paths are shown), but URLs can carry credentials in their user-info or query
//! (`https://user:pass@host/jwks?token=...`); those parts are masked.
//!
//! The display functions here are the ones the key table names, one per shape of value;
//! each gives the TOML text of a value, so the output reads back as a configuration file.

use std::fmt::{Display, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;

use super::keys::KEYS;
use super::parse::name_of;
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

impl Display for Source {
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

impl Config {
    /// The effective configuration as TOML with a `# source` comment on every key, for
    /// `check-config`. Unset optional keys are shown commented out.
    pub fn explain(&self, provenance: &Provenance) -> String {
        let mut out = String::from(
            "# Effective configuration; after each value, where it came from\n\
             # (default, file PATH, or env VARIABLE).\n",
        );
        let mut section = "";
        for key in KEYS {
            let value = (key.show)(self);
            let (sect, name) = key.path.split_once('.').unwrap_or(("", key.path));
            if sect != section {
                section = sect;
                let _ = write!(out, "\n[{sect}]\n");
            }
            let line = match &value {
                Some(v) => format!("{name} = {v}"),
                None => format!("# {name} = (unset)"),
            };
            let _ = writeln!(out, "{line:<52} # {}", provenance.source(key.path));
            if key.path == "limits.max_sessions" && value.is_none() {
                let _ = writeln!(
                    out,
                    "# effective max_sessions = {} (from the open-file limit)",
                    self.effective_max_sessions()
                );
            }
            if key.path == "limits.returning_devices" && value.is_none() {
                let _ = writeln!(
                    out,
                    "# effective returning_devices = {} (one per session)",
                    self.effective_returning_devices()
                );
            }
        }
        out
    }
}

/// Text, as a TOML string: addresses, versions, claims.
pub(super) fn text(v: &impl Display) -> Option<String> {
    Some(quote(&v.to_string()))
}

/// A number or a boolean, bare.
pub(super) fn bare(v: &impl Display) -> Option<String> {
    Some(v.to_string())
}

/// A path, as a TOML string.
pub(super) fn file(p: &Path) -> Option<String> {
    Some(path(p))
}

/// A duration as humantime writes it, which its parser reads back.
pub(super) fn span(d: &Duration) -> Option<String> {
    Some(quote(&humantime::format_duration(*d).to_string()))
}

/// A public key in base64.
pub(super) fn base64_key(k: &[u8; 32]) -> Option<String> {
    text(&base64::engine::general_purpose::STANDARD.encode(k))
}

/// Versions, as an array of strings.
pub(super) fn version_list(vs: &[Version]) -> Option<String> {
    list(vs.iter().map(|v| quote(&v.to_string())))
}

/// Numbers, as an array.
pub(super) fn number_list(ns: &[u32]) -> Option<String> {
    list(ns.iter().map(u32::to_string))
}

/// The name of one of a choice's values, as a TOML string.
pub(super) fn named<T: PartialEq>(options: &[(&'static str, T)], v: &T) -> Option<String> {
    name_of(options, v).map(quote)
}

/// A URL with user-info and query masked: they are where credentials hide.
pub(super) fn masked_url(u: &str) -> Option<String> {
    Some(url(u))
}

fn list(items: impl Iterator<Item = String>) -> Option<String> {
    Some(format!("[{}]", items.collect::<Vec<_>>().join(", ")))
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn path(p: &Path) -> String {
    quote(&p.display().to_string())
}

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
