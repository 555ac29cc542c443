//! THE key table: every configuration key once, with its parser, its display and whether
//! a run needs it. Loading, the unknown-key check, `check-config`, the provenance and the
//! "required to run" checks all read this table, so a key added here is known everywhere
//! and a key missing here is known nowhere.
//!
//! A key's path is spelled by its field in [`Config`] (`limits.max_depth` is
//! `config.limits.max_depth`), so the two cannot drift apart. Its default is
//! `Config::default()`'s field, shown by the key's own display.

use toml::Value;

use super::errors::Problems;
use super::explain::{
    bare, base64_key, file, masked_url, named, number_list, span, text, version_list,
};
use super::layers::ENV_PREFIX;
use super::parse::*;
use super::types::*;

/// One configuration key.
pub(super) struct Key {
    /// Dotted path: `listen`, `upstream.addr`.
    pub(super) path: &'static str,
    /// Parses a merged value (and, when a variable set exactly this key, its raw text)
    /// into the key's field; on a problem the field keeps what it had.
    pub(super) set: fn(&mut Config, &Value, Option<&str>) -> Result<(), String>,
    /// The field as TOML text, for `check-config`; `None` for an unset optional key.
    pub(super) show: fn(&Config) -> Option<String>,
    /// Whether the proxy can run without it.
    pub(super) required: Required,
}

/// When a key must be set to run. The text says what the key is for, for the message.
pub(super) enum Required {
    /// Never: it has a default, or the proxy works without it.
    No,
    /// Always.
    ToRun(&'static str),
    /// When clients must present a JWT (`auth.mode = "jwt"`).
    InJwtMode(&'static str),
}

/// One table entry: `key!(section.name: parser => display)`; `name?` for a key that may
/// be unset (an `Option` field); a trailing `Required` for a key a run needs.
macro_rules! key {
    (@required) => { Required::No };
    (@required $required:expr) => { $required };
    ($first:ident $(. $rest:ident)* : $parse:expr => $show:expr $(, $required:expr)?) => {
        Key {
            path: concat!(stringify!($first) $(, ".", stringify!($rest))*),
            set: |c, v, raw| {
                c.$first $(.$rest)* = ($parse)(v, raw)?;
                Ok(())
            },
            show: |c| ($show)(&c.$first $(.$rest)*),
            required: key!(@required $($required)?),
        }
    };
    ($first:ident $(. $rest:ident)* ? : $parse:expr => $show:expr $(, $required:expr)?) => {
        Key {
            path: concat!(stringify!($first) $(, ".", stringify!($rest))*),
            set: |c, v, raw| {
                c.$first $(.$rest)* = Some(($parse)(v, raw)?);
                Ok(())
            },
            show: |c| match &c.$first $(.$rest)* {
                Some(v) => ($show)(v),
                None => None,
            },
            required: key!(@required $($required)?),
        }
    };
}

/// Every key, in the order of `config/interop-proxy.toml` and of `check-config`'s output.
pub(super) static KEYS: &[Key] = &[
    key!(listen: socket_addr => text),
    key!(admin.listen: socket_addr => text),
    key!(client.versions: versions => version_list),
    key!(client.proxy_protocol: boolean => bare),
    key!(noise.static_key_file?: path => file,
        Required::ToRun("path of the proxy's Noise private key")),
    key!(noise.cert_chain_file?: path => file,
        Required::ToRun("path of the certificate chain shown to clients")),
    key!(upstream.addr?: host_port => text,
        Required::ToRun("host:port of the WhatsApp server")),
    key!(upstream.root_key: public_key => base64_key),
    key!(upstream.server_key?: public_key => base64_key),
    key!(upstream.key_seed_file?: path => file,
        Required::ToRun("path of the seed for upstream client keys")),
    key!(upstream.proxy_protocol: boolean => bare),
    key!(upstream.connection_signals: boolean => bare),
    key!(upstream.connect_timeout: duration => span),
    key!(upstream.version?: version => text),
    key!(caps.file: path => file),
    key!(caps.unsupported: |v, r| choice(v, r, UNSUPPORTED) => |u| named(UNSUPPORTED, u)),
    key!(caps.lookup_url?: https_url => masked_url),
    key!(caps.cache_ttl: duration => span),
    key!(auth.mode: |v, r| choice(v, r, AUTH_MODES) => |m| named(AUTH_MODES, m)),
    key!(auth.jwks_file?: path => file),
    key!(auth.jwks_url?: https_url => masked_url),
    key!(auth.issuer?: non_empty_string => text,
        Required::InJwtMode("auth.mode = \"jwt\" checks `iss`")),
    key!(auth.audience?: non_empty_string => text,
        Required::InJwtMode("auth.mode = \"jwt\" checks `aud`")),
    key!(auth.products: products => number_list),
    key!(auth.leeway: duration => span),
    key!(tls.ca_file?: path => file),
    key!(limits.max_frame_bytes:
        |v, r| bounded(v, r, 1, MAX_FRAME_BYTES_LIMIT as u64) => bare),
    key!(limits.max_stanza_bytes: |v, r| bounded(v, r, 1, u32::MAX.into()) => bare),
    key!(limits.max_depth: |v, r| bounded(v, r, 1, u16::MAX.into()) => bare),
    key!(limits.handshake_timeout: positive_duration => span),
    key!(limits.idle_timeout: positive_duration => span),
    key!(limits.max_sessions?: |v, r| bounded(v, r, 1, u32::MAX.into()) => bare),
    key!(limits.returning_devices?: |v, r| bounded(v, r, 0, u32::MAX.into()) => bare),
    key!(stanza.encoding: |v, r| choice(v, r, ENCODINGS) => |e| named(ENCODINGS, e)),
    key!(shutdown.grace: duration => span),
];

/// Keys outside any section.
pub(super) fn top_level() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|k| k.path).filter(|p| !p.contains('.'))
}

/// Each section with its keys, in table order.
pub(super) fn sections() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for (section, name) in KEYS.iter().filter_map(|k| k.path.split_once('.')) {
        match out.iter_mut().find(|(s, _)| *s == section) {
            Some((_, names)) => names.push(name),
            None => out.push((section, vec![name])),
        }
    }
    out
}

/// The variable that sets `path`: `upstream.addr` is `INTEROP_PROXY_UPSTREAM__ADDR`.
pub(super) fn env_var(path: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        path.replace('.', "__").to_ascii_uppercase()
    )
}

/// What a real deployment needs but defaults cannot supply, by the table's `required`,
/// quiet about keys a problem already names.
pub(super) fn missing_for_run(c: &Config, problems: &mut Problems) {
    let jwt = c.auth.mode == AuthMode::Jwt && !problems.names("auth.mode");
    for key in KEYS {
        let what = match key.required {
            Required::No => continue,
            Required::ToRun(what) => what,
            Required::InJwtMode(what) if jwt => what,
            Required::InJwtMode(_) => continue,
        };
        if (key.show)(c).is_none() && !problems.names(key.path) {
            let line = format!(
                "{}: required to run ({what}); set it in the file or {}",
                key.path,
                env_var(key.path)
            );
            problems.about(&[key.path], line);
        }
    }
    // One of two keys, which a row of the table cannot say.
    if jwt
        && c.auth.jwks_file.is_none()
        && c.auth.jwks_url.is_none()
        && !problems.names("auth.jwks_file")
        && !problems.names("auth.jwks_url")
    {
        problems.about(
            &["auth.jwks_file", "auth.jwks_url"],
            "auth.jwks_file, auth.jwks_url: one is required to run with auth.mode = \"jwt\""
                .to_string(),
        );
    }
}

/// Consistency between keys that are each valid alone.
pub(super) fn cross_checks(c: &Config, problems: &mut Problems) {
    if c.stanza.encoding == Encoding::Binary && !problems.names("stanza.encoding") {
        dictionary_checks(c, problems);
    }
    if c.auth.jwks_file.is_some() && c.auth.jwks_url.is_some() {
        problems.about(
            &["auth.jwks_file", "auth.jwks_url"],
            "auth.jwks_file, auth.jwks_url: set one or the other, not both".to_string(),
        );
    }
    if c.listen == c.admin.listen
        && c.listen.port() != 0
        && !problems.names("listen")
        && !problems.names("admin.listen")
    {
        problems.about(
            &["listen", "admin.listen"],
            format!(
                "listen, admin.listen: both are {}; client traffic and the admin endpoint need different ports",
                c.listen
            ),
        );
    }
}

/// With binary stanzas every session is read with the dictionary its client's version
/// names, on both legs (SPEC §2.10): a version without one, or an upstream version
/// naming another, would make the proxy misread strings without noticing.
fn dictionary_checks(c: &Config, problems: &mut Problems) {
    use crate::stanza::dictionary_for;
    let dict = |v: &Version| dictionary_for(v.major, v.minor);
    if !problems.names("client.versions") {
        for v in &c.client.versions {
            if dict(v).is_none() {
                problems.about(&["client.versions"], format!(
                    "client.versions: {v} names no token dictionary, which stanza.encoding = \"binary\" needs (known: 6.2, 6.3)"
                ));
            }
        }
    }
    let Some(up) = c
        .upstream
        .version
        .filter(|_| !problems.names("upstream.version"))
    else {
        return;
    };
    match dict(&up) {
        None => problems.about(&["upstream.version"], format!(
            "upstream.version: {up} names no token dictionary, which stanza.encoding = \"binary\" needs (known: 6.2, 6.3)"
        )),
        Some(d) => {
            for v in &c.client.versions {
                if dict(v).is_some_and(|cd| cd != d) {
                    problems.about(&["upstream.version"], format!(
                        "upstream.version: {up} uses dictionary {d}, but clients of version {v} use dictionary {}; stanzas are never translated, so the two must match",
                        dict(v).unwrap_or(0)
                    ));
                }
            }
        }
    }
}
