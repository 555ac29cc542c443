//! Layering and validation: defaults < TOML file < `INTEROP_PROXY_*` environment.
//!
//! figment does the layering and the provenance: each source is a provider with metadata
//! naming it (`default`, `file PATH`, `env`), and every merged value is tagged with the
//! source it came from, which `check-config` and the error messages report. The
//! environment is a provider over an explicit list of variables rather than figment's
//! `Env`, which only reads the process environment (and tests must not mutate it).
//!
//! Per-key conversion stays ours: the merged tree is converted key by key, each with its
//! own error, so one bad value does not hide the next (figment's extraction stops at the
//! first serde error). An operator whose pod crash-loops should see every problem in the
//! first log, not one per restart.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use toml::Value;

use super::show::{Provenance, Source};
use super::types::*;

/// Prefix of every configuration variable.
pub const ENV_PREFIX: &str = "INTEROP_PROXY_";
/// Names the configuration file when `--config` is not given; not itself a config key.
pub const CONFIG_FILE_ENV: &str = "INTEROP_PROXY_CONFIG";

/// Variables with the prefix that are not configuration keys: the file's path and the
/// log settings, which must work before (and when) the configuration fails to load.
pub const NON_CONFIG_ENV: [&str; 3] = [
    CONFIG_FILE_ENV,
    "INTEROP_PROXY_LOG",
    "INTEROP_PROXY_LOG_FORMAT",
];

/// Fds kept back from the session budget for listeners, admin connections (at most
/// [`crate::admin::MAX_CONNECTIONS`]), the capability file, JWKS fetches and logging.
const FD_RESERVE: usize = 128;
/// What `RLIMIT_NOFILE` usually is when `/proc` is unavailable.
const FALLBACK_NOFILE: usize = 1024;
/// Stands in for "unlimited" so the arithmetic stays finite.
const UNLIMITED_NOFILE: usize = 1 << 20;

/// Every key, per section, in file order; the single source for "unknown key" checks.
pub(super) const SECTIONS: &[(&str, &[&str])] = &[
    ("admin", &["listen"]),
    ("client", &["versions", "proxy_protocol"]),
    ("noise", &["static_key_file", "cert_chain_file"]),
    (
        "upstream",
        &[
            "addr",
            "root_key",
            "server_key",
            "key_seed_file",
            "proxy_protocol",
            "connection_signals",
            "connect_timeout",
            "version",
        ],
    ),
    ("caps", &["file", "unsupported", "lookup_url", "cache_ttl"]),
    (
        "auth",
        &[
            "mode",
            "jwks_file",
            "jwks_url",
            "issuer",
            "audience",
            "products",
            "leeway",
        ],
    ),
    ("tls", &["ca_file"]),
    (
        "limits",
        &[
            "max_frame_bytes",
            "max_stanza_bytes",
            "max_depth",
            "handshake_timeout",
            "idle_timeout",
            "max_sessions",
        ],
    ),
    ("stanza", &["encoding"]),
    ("shutdown", &["grace"]),
];

/// Top-level keys that are values rather than sections.
const TOP_LEVEL_KEYS: &[&str] = &["listen"];

impl Config {
    /// Loads from `file` (or, when `None`, the file named by `INTEROP_PROXY_CONFIG`; no
    /// file at all is fine) and the process environment. Only bad values are errors here;
    /// missing deployment settings are [`Config::check_runnable`]'s business, so `demo`
    /// can load the same way.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigErrors> {
        Self::load_from(file, &process_env())
    }

    /// As [`Config::load`], with the environment given explicitly.
    pub fn load_from(
        file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Config, ConfigErrors> {
        load_inner(file, env, false)
    }

    /// [`Config::load`] followed by [`Config::check_runnable`], reporting the problems of
    /// both in one list; what `run` wants, while `demo` wants plain `load`.
    pub fn load_runnable(file: Option<&Path>) -> Result<Config, ConfigErrors> {
        Self::load_runnable_from(file, &process_env())
    }

    /// As [`Config::load_runnable`], with the environment given explicitly.
    pub fn load_runnable_from(
        file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Config, ConfigErrors> {
        load_inner(file, env, true)
    }

    /// [`Config::load_runnable`] that also says where each value came from, for
    /// `check-config`.
    pub fn load_explained(file: Option<&Path>) -> Result<(Config, Provenance), ConfigErrors> {
        Self::load_explained_from(file, &process_env())
    }

    /// As [`Config::load_explained`], with the environment given explicitly.
    pub fn load_explained_from(
        file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<(Config, Provenance), ConfigErrors> {
        load_tree(file, env, true)
    }

    /// Lists what a real deployment needs but defaults cannot supply: key files, the
    /// upstream address and, in JWT mode, the token settings.
    pub fn check_runnable(&self) -> Result<(), ConfigErrors> {
        let problems = missing_for_run(self, &BTreeSet::new());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(problems))
        }
    }

    /// The session cap: `limits.max_sessions` if set, otherwise half of what the fd limit
    /// leaves after a reserve, since every session holds two sockets (client and upstream).
    pub fn effective_max_sessions(&self) -> usize {
        match self.limits.max_sessions {
            Some(n) => n,
            None => sessions_for_nofile(nofile_soft_limit()),
        }
    }
}

fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            // Values of other programs' variables may be anything; only ours are converted.
            k.starts_with(ENV_PREFIX)
                .then(|| (k, v.to_string_lossy().into_owned()))
        })
        .collect()
}

pub(super) fn sessions_for_nofile(nofile: usize) -> usize {
    (nofile.saturating_sub(FD_RESERVE) / 2).max(1)
}

/// Reads the soft `RLIMIT_NOFILE` from `/proc/self/limits`, which needs no `unsafe`
/// `getrlimit` call.
fn nofile_soft_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| parse_nofile_soft(&text))
        .unwrap_or(FALLBACK_NOFILE)
}

pub(super) fn parse_nofile_soft(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(UNLIMITED_NOFILE);
    }
    soft.parse().ok()
}

/// Where a value came from, so each message can point at the line to fix.
#[derive(Clone, Debug)]
enum Origin {
    /// The configuration file at this path.
    File(PathBuf),
    /// An environment variable; its name is what the operator has to find and fix.
    Env(String),
}

impl Origin {
    fn describe(&self) -> String {
        match self {
            Origin::File(p) => format!("in {}", p.display()),
            Origin::Env(var) => format!("from {var}"),
        }
    }
}

/// Metadata name of the built-in defaults.
const DEFAULT_SOURCE: &str = "default";
/// Metadata name of the environment.
const ENV_SOURCE: &str = "env";
/// The key under which TOML datetimes travel through serde (and so through figment).
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

/// The merged sources before conversion.
struct Tree {
    /// The layered sources; its value tags say which source supplied each value.
    figment: Figment,
    /// The merged values, as the per-key converters read them.
    root: toml::Table,
    /// Dotted paths set by environment variables, with the variable that set each.
    env: HashMap<String, EnvVar>,
}

impl Tree {
    /// The source of the value at `path`; `None` for a built-in default.
    fn origin(&self, path: &str) -> Option<Origin> {
        let metadata = self.figment.find_metadata(path)?;
        if metadata.name == ENV_SOURCE {
            // A value inside a table given whole by one variable came from that variable.
            let mut prefix = path;
            loop {
                if let Some(var) = self.env.get(prefix) {
                    return Some(Origin::Env(var.name.clone()));
                }
                prefix = prefix.rsplit_once('.')?.0;
            }
        }
        let file = metadata.source.as_ref()?.file_path()?;
        Some(Origin::File(file.to_path_buf()))
    }

    fn lookup(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let mut cur = self.root.get(parts.next()?)?;
        for part in parts {
            cur = cur.as_table()?.get(part)?;
        }
        Some(cur)
    }
}

/// A provider under a metadata of our choosing, so messages name the source plainly.
struct Named<P> {
    metadata: Metadata,
    inner: P,
}

impl<P: Provider> Provider for Named<P> {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        self.inner.data()
    }
}

/// The built-in defaults, as the TOML `check-config` would print for them.
struct Defaults;

impl Provider for Defaults {
    fn metadata(&self) -> Metadata {
        Metadata::named(DEFAULT_SOURCE)
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        let mut dict = Dict::new();
        for (key, text) in super::show::values(&Config::default()) {
            let Some(text) = text else { continue };
            let parts: Vec<String> = key.split('.').map(str::to_string).collect();
            insert_path(&mut dict, &parts, to_figment(&parse_env_value(&text)));
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// One configuration variable, with its dotted path.
#[derive(Clone, Debug)]
struct EnvVar {
    /// Its name.
    name: String,
    /// The lowercased key path its name spells.
    path: Vec<String>,
    /// Its text before TOML parsing, for keys that want text where TOML saw a number.
    raw: String,
}

/// The environment as a figment provider over an explicit list of variables.
struct EnvVars(Vec<EnvVar>);

impl EnvVars {
    /// Picks the configuration variables out of `env`; malformed names are problems.
    fn parse(env: &[(String, String)], errors: &mut Vec<String>) -> EnvVars {
        let mut vars: Vec<&(String, String)> = env
            .iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && !NON_CONFIG_ENV.contains(&k.as_str()))
            .collect();
        // Deterministic order, so a section variable and a key variable combine the same
        // way on every start.
        vars.sort();
        let mut out = Vec::new();
        for (var, raw) in vars {
            let rest = &var[ENV_PREFIX.len()..];
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            if path.iter().any(String::is_empty) {
                errors.push(format!(
                    "{var}: malformed name; expected {ENV_PREFIX}KEY or {ENV_PREFIX}SECTION__KEY"
                ));
                continue;
            }
            out.push(EnvVar {
                name: var.clone(),
                path,
                raw: raw.clone(),
            });
        }
        EnvVars(out)
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_SOURCE)
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        let mut dict = Dict::new();
        for var in &self.0 {
            insert_path(&mut dict, &var.path, to_figment(&parse_env_value(&var.raw)));
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Sets `parts` (a key path) in `dict`, making tables on the way and replacing non-tables.
fn insert_path(dict: &mut Dict, parts: &[String], value: figment::value::Value) {
    let Some((last, sections)) = parts.split_last() else {
        return;
    };
    let mut table = dict;
    for part in sections {
        let entry = table
            .entry(part.clone())
            .or_insert_with(|| Dict::new().into());
        if entry.as_dict().is_none() {
            *entry = Dict::new().into();
        }
        let figment::value::Value::Dict(_, inner) = entry else {
            unreachable!("just made a table")
        };
        table = inner;
    }
    table.insert(last.clone(), value);
}

/// A TOML value as figment holds it (datetimes as serde carries them).
fn to_figment(v: &Value) -> figment::value::Value {
    use figment::value::Value as F;
    match v {
        Value::String(s) => F::from(s.clone()),
        Value::Integer(n) => F::from(*n),
        Value::Float(x) => F::from(*x),
        Value::Boolean(b) => F::from(*b),
        Value::Datetime(d) => {
            let mut dict = Dict::new();
            dict.insert(TOML_DATETIME_KEY.to_string(), F::from(d.to_string()));
            F::from(dict)
        }
        Value::Array(items) => F::from(items.iter().map(to_figment).collect::<Vec<_>>()),
        Value::Table(t) => F::from(
            t.iter()
                .map(|(k, v)| (k.clone(), to_figment(v)))
                .collect::<Dict>(),
        ),
    }
}

/// A figment value back as TOML, the shape the per-key converters read.
fn to_toml(v: &figment::value::Value) -> Value {
    use figment::value::{Num, Value as F};
    match v {
        F::String(_, s) => Value::String(s.clone()),
        F::Char(_, c) => Value::String(c.to_string()),
        F::Bool(_, b) => Value::Boolean(*b),
        F::Num(_, n @ (Num::F32(_) | Num::F64(_))) => Value::Float(n.to_f64().unwrap_or(f64::NAN)),
        F::Num(_, n) => match n.to_i128().and_then(|i| i64::try_from(i).ok()) {
            Some(i) => Value::Integer(i),
            None => Value::Float(n.to_f64().unwrap_or(f64::NAN)),
        },
        F::Empty(..) => Value::Table(toml::Table::new()),
        F::Dict(_, d) => {
            if let (1, Some(F::String(_, s))) = (d.len(), d.get(TOML_DATETIME_KEY)) {
                if let Ok(dt) = s.parse::<toml::value::Datetime>() {
                    return Value::Datetime(dt);
                }
            }
            Value::Table(d.iter().map(|(k, v)| (k.clone(), to_toml(v))).collect())
        }
        F::Array(_, items) => Value::Array(items.iter().map(to_toml).collect()),
    }
}

/// Layers defaults < file < environment, reporting a file that cannot be read or parsed.
fn layer(file: Option<&Path>, env: &[(String, String)], errors: &mut Vec<String>) -> Tree {
    let mut figment = Figment::from(Defaults);
    if let Some(path) = file {
        match std::fs::read_to_string(path) {
            // Parsed here first so the message keeps the file's name and line.
            Ok(text) => match text.parse::<toml::Table>() {
                Ok(_) => {
                    figment = figment.merge(Named {
                        metadata: Metadata::from(
                            format!("file {}", path.display()),
                            figment::Source::File(path.to_path_buf()),
                        ),
                        inner: Toml::string(&text),
                    })
                }
                Err(e) => errors.push(format!(
                    "{}: not valid TOML: {}",
                    path.display(),
                    e.to_string().trim_end()
                )),
            },
            Err(e) => errors.push(format!("{}: cannot read: {e}", path.display())),
        }
    }
    let vars = EnvVars::parse(env, errors);
    let env_paths = vars
        .0
        .iter()
        .map(|v| (v.path.join("."), v.clone()))
        .collect();
    let figment = figment.merge(vars);
    let root = match figment.extract::<figment::value::Value>() {
        Ok(v) => match to_toml(&v) {
            Value::Table(t) => t,
            _ => toml::Table::new(),
        },
        Err(e) => {
            errors.push(format!("configuration: {e}"));
            toml::Table::new()
        }
    };
    Tree {
        figment,
        root,
        env: env_paths,
    }
}

fn load_inner(
    file: Option<&Path>,
    env: &[(String, String)],
    runnable: bool,
) -> Result<Config, ConfigErrors> {
    load_tree(file, env, runnable).map(|(config, _)| config)
}

fn load_tree(
    file: Option<&Path>,
    env: &[(String, String)],
    runnable: bool,
) -> Result<(Config, Provenance), ConfigErrors> {
    let mut errors = Vec::new();
    let env_file = env
        .iter()
        .find(|(k, _)| k == CONFIG_FILE_ENV)
        .map(|(_, v)| PathBuf::from(v));
    let file = file.map(Path::to_path_buf).or(env_file);
    let tree = layer(file.as_deref(), env, &mut errors);

    let mut conv = Converter {
        tree: &tree,
        errors,
        bad: BTreeSet::new(),
    };
    let config = conv.config();
    let mut errors = conv.errors;
    let bad = conv.bad;
    errors.extend(cross_checks(&config, &bad));
    if runnable {
        errors.extend(missing_for_run(&config, &bad));
    }
    if errors.is_empty() {
        Ok((config, provenance(&tree)))
    } else {
        Err(ConfigErrors(errors))
    }
}

/// The explained load of `check-config` without the "required to run" checks.
#[cfg(test)]
pub(super) fn load_explained_for_test(env: &[(String, String)]) -> (Config, Provenance) {
    load_tree(None, env, false).expect("valid")
}

/// Where every known key's value came from.
fn provenance(tree: &Tree) -> Provenance {
    let mut sources = Vec::new();
    let keys = TOP_LEVEL_KEYS.iter().map(|k| k.to_string()).chain(
        SECTIONS
            .iter()
            .flat_map(|(s, keys)| keys.iter().map(move |k| format!("{s}.{k}"))),
    );
    for key in keys {
        let source = match tree.origin(&key) {
            Some(Origin::Env(var)) => Source::Env(var),
            Some(Origin::File(path)) => Source::File(path),
            None => Source::Default,
        };
        sources.push((key, source));
    }
    Provenance(sources)
}

/// Reads an environment value as a TOML value (so `["6.3","5.2"]`, `true`, `42` work),
/// falling back to the literal text (so `127.0.0.1:5222` and `5s` need no quotes).
fn parse_env_value(raw: &str) -> Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        // A value with a newline could smuggle in more keys; then it is just text.
        Ok(mut t) if t.len() == 1 => t.remove("v").unwrap_or_else(|| Value::String(raw.into())),
        _ => Value::String(raw.to_string()),
    }
}

fn type_name(v: &Value) -> &'static str {
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

struct Converter<'a> {
    /// The merged sources.
    tree: &'a Tree,
    /// Problems found so far, in key order.
    errors: Vec<String>,
    /// Keys already reported, so "required" checks do not pile on a second message.
    bad: BTreeSet<String>,
}

impl Converter<'_> {
    fn report(&mut self, path: &str, problem: String) {
        let msg = match self.tree.origin(path) {
            Some(o) => format!("{path}: {problem} ({})", o.describe()),
            None => format!("{path}: {problem}"),
        };
        self.errors.push(msg);
        self.bad.insert(path.to_string());
    }

    /// Converts one key; `None` when absent or invalid (the problem is recorded).
    fn get<T>(
        &mut self,
        path: &str,
        conv: impl FnOnce(&Value, Option<&str>) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.tree.lookup(path)?;
        // The environment is the last layer, so a variable for exactly this key set it.
        let raw = self.tree.env.get(path).map(|var| var.raw.as_str());
        match conv(value, raw) {
            Ok(v) => Some(v),
            Err(problem) => {
                self.report(path, problem);
                None
            }
        }
    }

    fn check_keys(&mut self) {
        let root = &self.tree.root;
        let mut problems = Vec::new();
        for (key, value) in root {
            if TOP_LEVEL_KEYS.contains(&key.as_str()) {
                continue;
            }
            match SECTIONS.iter().find(|(s, _)| s == key) {
                None => {
                    let known: Vec<&str> = TOP_LEVEL_KEYS
                        .iter()
                        .copied()
                        .chain(SECTIONS.iter().map(|(s, _)| *s))
                        .collect();
                    problems.push((
                        key.clone(),
                        format!("unknown key; known top-level keys: {}", known.join(", ")),
                    ));
                }
                Some((_, keys)) => match value.as_table() {
                    None => problems.push((
                        key.clone(),
                        format!("expected a table ([{key}]), found {}", type_name(value)),
                    )),
                    Some(table) => {
                        for k in table.keys() {
                            if !keys.contains(&k.as_str()) {
                                problems.push((
                                    format!("{key}.{k}"),
                                    format!(
                                        "unknown key; known keys in [{key}]: {}",
                                        keys.join(", ")
                                    ),
                                ));
                            }
                        }
                    }
                },
            }
        }
        for (path, problem) in problems {
            self.report(&path, problem);
        }
    }

    fn config(&mut self) -> Config {
        self.check_keys();
        let d = Config::default();
        Config {
            listen: self.get("listen", socket_addr).unwrap_or(d.listen),
            admin: AdminConfig {
                listen: self
                    .get("admin.listen", socket_addr)
                    .unwrap_or(d.admin.listen),
            },
            client: ClientConfig {
                versions: self
                    .get("client.versions", versions)
                    .unwrap_or(d.client.versions),
                proxy_protocol: self
                    .get("client.proxy_protocol", boolean)
                    .unwrap_or(d.client.proxy_protocol),
            },
            noise: NoiseConfig {
                static_key_file: self.get("noise.static_key_file", path),
                cert_chain_file: self.get("noise.cert_chain_file", path),
            },
            upstream: UpstreamConfig {
                addr: self.get("upstream.addr", host_port),
                root_key: self
                    .get("upstream.root_key", public_key)
                    .unwrap_or(d.upstream.root_key),
                server_key: self.get("upstream.server_key", public_key),
                key_seed_file: self.get("upstream.key_seed_file", path),
                proxy_protocol: self
                    .get("upstream.proxy_protocol", boolean)
                    .unwrap_or(d.upstream.proxy_protocol),
                connection_signals: self
                    .get("upstream.connection_signals", boolean)
                    .unwrap_or(d.upstream.connection_signals),
                connect_timeout: self
                    .get("upstream.connect_timeout", duration)
                    .unwrap_or(d.upstream.connect_timeout),
                version: self.get("upstream.version", version),
            },
            caps: CapsConfig {
                file: self.get("caps.file", path).unwrap_or(d.caps.file),
                unsupported: self
                    .get("caps.unsupported", unsupported)
                    .unwrap_or(d.caps.unsupported),
                lookup_url: self.get("caps.lookup_url", https_url),
                cache_ttl: self
                    .get("caps.cache_ttl", duration)
                    .unwrap_or(d.caps.cache_ttl),
            },
            auth: AuthConfig {
                mode: self.get("auth.mode", auth_mode).unwrap_or(d.auth.mode),
                jwks_file: self.get("auth.jwks_file", path),
                jwks_url: self.get("auth.jwks_url", https_url),
                issuer: self.get("auth.issuer", non_empty_string),
                audience: self.get("auth.audience", non_empty_string),
                products: self
                    .get("auth.products", products)
                    .unwrap_or(d.auth.products),
                leeway: self.get("auth.leeway", duration).unwrap_or(d.auth.leeway),
            },
            tls: TlsConfig {
                ca_file: self.get("tls.ca_file", path),
            },
            limits: LimitsConfig {
                max_frame_bytes: self
                    .get("limits.max_frame_bytes", |v, r| {
                        bounded(v, r, 1, MAX_FRAME_BYTES_LIMIT as u64)
                    })
                    .unwrap_or(d.limits.max_frame_bytes),
                max_stanza_bytes: self
                    .get("limits.max_stanza_bytes", |v, r| {
                        bounded(v, r, 1, u32::MAX.into())
                    })
                    .unwrap_or(d.limits.max_stanza_bytes),
                max_depth: self
                    .get("limits.max_depth", |v, r| bounded(v, r, 1, u16::MAX.into()))
                    .unwrap_or(d.limits.max_depth),
                handshake_timeout: self
                    .get("limits.handshake_timeout", positive_duration)
                    .unwrap_or(d.limits.handshake_timeout),
                idle_timeout: self
                    .get("limits.idle_timeout", positive_duration)
                    .unwrap_or(d.limits.idle_timeout),
                max_sessions: self.get("limits.max_sessions", |v, r| {
                    bounded(v, r, 1, u32::MAX.into())
                }),
            },
            stanza: StanzaConfig {
                encoding: self
                    .get("stanza.encoding", encoding)
                    .unwrap_or(d.stanza.encoding),
            },
            shutdown: ShutdownConfig {
                grace: self
                    .get("shutdown.grace", duration)
                    .unwrap_or(d.shutdown.grace),
            },
        }
    }
}

/// Consistency between keys that are each valid alone.
fn cross_checks(c: &Config, bad: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    if c.stanza.encoding == Encoding::Binary && !bad.contains("stanza.encoding") {
        out.extend(dictionary_checks(c, bad));
    }
    if c.auth.jwks_file.is_some() && c.auth.jwks_url.is_some() {
        out.push("auth.jwks_file, auth.jwks_url: set one or the other, not both".to_string());
    }
    if c.listen == c.admin.listen
        && c.listen.port() != 0
        && !bad.contains("listen")
        && !bad.contains("admin.listen")
    {
        out.push(format!(
            "listen, admin.listen: both are {}; client traffic and the admin endpoint need different ports",
            c.listen
        ));
    }
    out
}

/// With binary stanzas every session is read with the dictionary its client's version
/// names, on both legs (SPEC §2.10): a version without one, or an upstream version
/// naming another, would make the proxy misread strings without noticing.
fn dictionary_checks(c: &Config, bad: &BTreeSet<String>) -> Vec<String> {
    use crate::stanza::dictionary_for;
    let mut out = Vec::new();
    let dict = |v: &Version| dictionary_for(v.major, v.minor);
    if !bad.contains("client.versions") {
        for v in &c.client.versions {
            if dict(v).is_none() {
                out.push(format!(
                    "client.versions: {v} names no token dictionary, which stanza.encoding = \"binary\" needs (known: 6.2, 6.3)"
                ));
            }
        }
    }
    if let (Some(up), false) = (&c.upstream.version, bad.contains("upstream.version")) {
        match dict(up) {
            None => out.push(format!(
                "upstream.version: {up} names no token dictionary, which stanza.encoding = \"binary\" needs (known: 6.2, 6.3)"
            )),
            Some(d) => {
                for v in &c.client.versions {
                    if dict(v).is_some_and(|cd| cd != d) {
                        out.push(format!(
                            "upstream.version: {up} uses dictionary {d}, but clients of version {v} use dictionary {}; stanzas are never translated, so the two must match",
                            dict(v).unwrap_or(0)
                        ));
                    }
                }
            }
        }
    }
    out
}

fn missing_for_run(c: &Config, bad: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut need = |present: bool, key: &str, what: &str| {
        if !present && !bad.contains(key) {
            let var = format!(
                "{ENV_PREFIX}{}",
                key.replace('.', "__").to_ascii_uppercase()
            );
            out.push(format!(
                "{key}: required to run ({what}); set it in the file or {var}"
            ));
        }
    };
    need(
        c.noise.static_key_file.is_some(),
        "noise.static_key_file",
        "path of the proxy's Noise private key",
    );
    need(
        c.noise.cert_chain_file.is_some(),
        "noise.cert_chain_file",
        "path of the certificate chain shown to clients",
    );
    need(
        c.upstream.addr.is_some(),
        "upstream.addr",
        "host:port of the WhatsApp server",
    );
    need(
        c.upstream.key_seed_file.is_some(),
        "upstream.key_seed_file",
        "path of the seed for upstream client keys",
    );
    if c.auth.mode == AuthMode::Jwt && !bad.contains("auth.mode") {
        need(
            c.auth.issuer.is_some(),
            "auth.issuer",
            "auth.mode = \"jwt\" checks `iss`",
        );
        need(
            c.auth.audience.is_some(),
            "auth.audience",
            "auth.mode = \"jwt\" checks `aud`",
        );
        if c.auth.jwks_file.is_none()
            && c.auth.jwks_url.is_none()
            && !bad.contains("auth.jwks_file")
            && !bad.contains("auth.jwks_url")
        {
            out.push(
                "auth.jwks_file, auth.jwks_url: one is required to run with auth.mode = \"jwt\""
                    .to_string(),
            );
        }
    }
    out
}

// ---- converters: one per value shape; each message says what was expected ----

fn string(v: &Value, raw: Option<&str>) -> Result<String, String> {
    match (v, raw) {
        (Value::String(s), _) => Ok(s.clone()),
        // From the environment, `6.3` or `true` were meant as text when text is expected.
        (_, Some(raw)) => Ok(raw.to_string()),
        (other, None) => Err(format!("expected a string, found {}", type_name(other))),
    }
}

fn non_empty_string(v: &Value, raw: Option<&str>) -> Result<String, String> {
    let s = string(v, raw)?;
    if s.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(s)
}

fn path(v: &Value, raw: Option<&str>) -> Result<PathBuf, String> {
    non_empty_string(v, raw).map(PathBuf::from)
}

fn boolean(v: &Value, _raw: Option<&str>) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("expected true or false, found {}", type_name(v)))
}

fn bounded(v: &Value, _raw: Option<&str>, min: u64, max: u64) -> Result<usize, String> {
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

fn duration(v: &Value, raw: Option<&str>) -> Result<Duration, String> {
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

fn positive_duration(v: &Value, raw: Option<&str>) -> Result<Duration, String> {
    let d = duration(v, raw)?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

fn socket_addr(v: &Value, raw: Option<&str>) -> Result<SocketAddr, String> {
    let s = string(v, raw)?;
    s.trim()
        .parse()
        .map_err(|_| format!("expected IP:PORT such as \"0.0.0.0:5222\", found {s:?}"))
}

fn host_port(v: &Value, raw: Option<&str>) -> Result<String, String> {
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

fn https_url(v: &Value, raw: Option<&str>) -> Result<String, String> {
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

fn public_key(v: &Value, raw: Option<&str>) -> Result<[u8; 32], String> {
    let s = string(v, raw)?;
    crate::noise::keys::public_key_from_base64(&s)
        .map_err(|e| format!("expected a base64 32-byte public key: {e}"))
}

fn version(v: &Value, raw: Option<&str>) -> Result<Version, String> {
    match (v, raw) {
        (Value::Float(_), None) => {
            Err("expected a string such as \"6.3\" (quoted: a bare 6.3 is a TOML float)".into())
        }
        _ => string(v, raw)?.parse(),
    }
}

fn versions(v: &Value, _raw: Option<&str>) -> Result<Vec<Version>, String> {
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

fn products(v: &Value, _raw: Option<&str>) -> Result<Vec<u32>, String> {
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

fn choice<T: Copy>(v: &Value, raw: Option<&str>, options: &[(&str, T)]) -> Result<T, String> {
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

fn unsupported(v: &Value, raw: Option<&str>) -> Result<Unsupported, String> {
    choice(
        v,
        raw,
        &[
            ("annotate", Unsupported::Annotate),
            ("reject", Unsupported::Reject),
        ],
    )
}

fn encoding(v: &Value, raw: Option<&str>) -> Result<Encoding, String> {
    choice(
        v,
        raw,
        &[("binary", Encoding::Binary), ("xml", Encoding::Xml)],
    )
}

fn auth_mode(v: &Value, raw: Option<&str>) -> Result<AuthMode, String> {
    choice(v, raw, &[("jwt", AuthMode::Jwt), ("none", AuthMode::None)])
}
