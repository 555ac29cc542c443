//! The value parsers: one per shape of value, each saying in its message what it expected.
//!
//! Every parser takes the merged TOML value and, when an environment variable set exactly
//! this key, the variable's text before TOML parsing: `6.3` or `true` in a variable were
//! meant as text wherever text is expected, although TOML reads them as a float or a bool.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use toml::Value;

use super::types::{AuthMode, Encoding, Unsupported, Version};

/// `caps.unsupported`'s names, for its parser and its display alike.
pub(super) const UNSUPPORTED: &[(&str, Unsupported)] = &[
    ("annotate", Unsupported::Annotate),
    ("reject", Unsupported::Reject),
];

/// `stanza.encoding`'s names.
pub(super) const ENCODINGS: &[(&str, Encoding)] =
    &[("binary", Encoding::Binary), ("xml", Encoding::Xml)];

/// `auth.mode`'s names.
pub(super) const AUTH_MODES: &[(&str, AuthMode)] =
    &[("jwt", AuthMode::Jwt), ("none", AuthMode::None)];

pub(super) fn string(v: &Value, raw: Option<&str>) -> Result<String, String> {
    match (v, raw) {
        (Value::String(s), _) => Ok(s.clone()),
        // From the environment, `6.3` or `true` were meant as text when text is expected.
        (_, Some(raw)) => Ok(raw.to_string()),
        (other, None) => Err(format!("expected a string, found {}", type_name(other))),
    }
}

pub(super) fn non_empty_string(v: &Value, raw: Option<&str>) -> Result<String, String> {
    let s = string(v, raw)?;
    if s.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(s)
}

pub(super) fn path(v: &Value, raw: Option<&str>) -> Result<PathBuf, String> {
    non_empty_string(v, raw).map(PathBuf::from)
}

pub(super) fn boolean(v: &Value, _raw: Option<&str>) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("expected true or false, found {}", type_name(v)))
}

pub(super) fn bounded(v: &Value, _raw: Option<&str>, min: u64, max: u64) -> Result<usize, String> {
    let n = v
        .as_integer()
        .ok_or_else(|| format!("expected an integer, found {}", type_name(v)))?;
    match u64::try_from(n) {
        Ok(n) if (min..=max).contains(&n) => {
            usize::try_from(n).map_err(|_| format!("{n} does not fit this platform"))
        }
        _ => Err(format!("{n} is out of range {min}..={max}")),
    }
}

pub(super) fn duration(v: &Value, raw: Option<&str>) -> Result<Duration, String> {
    let s = match v {
        Value::String(s) => s.as_str(),
        _ => match raw {
            Some(r) => r,
            None => {
                return Err(format!(
                    "expected a duration string such as \"5s\", found {}",
                    type_name(v)
                ))
            }
        },
    };
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?} ({e}); write e.g. \"500ms\", \"5s\", \"2m\""))
}

pub(super) fn positive_duration(v: &Value, raw: Option<&str>) -> Result<Duration, String> {
    let d = duration(v, raw)?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

pub(super) fn socket_addr(v: &Value, raw: Option<&str>) -> Result<SocketAddr, String> {
    let s = string(v, raw)?;
    s.trim()
        .parse()
        .map_err(|_| format!("expected IP:PORT such as \"0.0.0.0:5222\", found {s:?}"))
}

pub(super) fn host_port(v: &Value, raw: Option<&str>) -> Result<String, String> {
    let s = string(v, raw)?;
    let bad = || format!("expected HOST:PORT such as \"g.whatsapp.net:443\", found {s:?}");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port_ok = matches!(port.parse::<u16>(), Ok(p) if p != 0) && !port.starts_with('+');
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    };
    if port_ok && host_ok {
        Ok(s)
    } else {
        Err(bad())
    }
}

pub(super) fn https_url(v: &Value, raw: Option<&str>) -> Result<String, String> {
    let s = string(v, raw)?;
    let rest = s
        .get(.."https://".len())
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map(|_| &s["https://".len()..]);
    let ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !s.chars().any(char::is_whitespace);
    if ok {
        Ok(s)
    } else {
        Err(format!("expected an https:// URL, found {s:?}"))
    }
}

pub(super) fn public_key(v: &Value, raw: Option<&str>) -> Result<[u8; 32], String> {
    let s = string(v, raw)?;
    crate::noise::keys::public_key_from_base64(&s)
        .map_err(|e| format!("expected a base64 32-byte public key: {e}"))
}

pub(super) fn version(v: &Value, raw: Option<&str>) -> Result<Version, String> {
    match (v, raw) {
        (Value::Float(_), None) => {
            Err("expected a string such as \"6.3\" (quoted: a bare 6.3 is a TOML float)".into())
        }
        _ => string(v, raw)?.parse(),
    }
}

pub(super) fn versions(v: &Value, _raw: Option<&str>) -> Result<Vec<Version>, String> {
    let items = v.as_array().ok_or_else(|| {
        format!(
            "expected an array such as [\"6.3\"], found {}",
            type_name(v)
        )
    })?;
    if items.is_empty() {
        return Err("must list at least one version".into());
    }
    let mut out = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match version(item, None) {
            Ok(v) => out.push(v),
            Err(e) => problems.push(format!("[{i}]: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.join("; "))
    }
}

pub(super) fn products(v: &Value, _raw: Option<&str>) -> Result<Vec<u32>, String> {
    let items = v.as_array().ok_or_else(|| {
        format!(
            "expected an array of integers such as [2], found {}",
            type_name(v)
        )
    })?;
    if items.is_empty() {
        return Err("must list at least one product".into());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_integer()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("[{i}]: expected a non-negative integer"))
        })
        .collect()
}

pub(super) fn choice<T: Copy>(
    v: &Value,
    raw: Option<&str>,
    options: &[(&str, T)],
) -> Result<T, String> {
    let s = string(v, raw)?;
    options
        .iter()
        .find(|(name, _)| *name == s)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<String> = options.iter().map(|(n, _)| format!("{n:?}")).collect();
            format!("expected one of {}, found {s:?}", names.join(", "))
        })
}

/// The name of `v` among `options`, for display.
pub(super) fn name_of<T: PartialEq>(options: &[(&'static str, T)], v: &T) -> Option<&'static str> {
    options.iter().find(|(_, t)| t == v).map(|(n, _)| *n)
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}
