//! The layers: TOML file < `INTEROP_PROXY_*` environment, merged by figment.
//!
//! figment does the layering and the provenance: each source is a provider with metadata
//! naming it (`file PATH`, `env`), and every merged value is tagged with the source it
//! came from, which `check-config` and the error messages report. The environment is a
//! provider over an explicit list of variables rather than figment's `Env`, which only
//! reads the process environment (and tests must not mutate it).
//!
//! Built-in defaults are no layer: a key neither source sets keeps `Config::default()`'s
//! value as it is, so a default never has to survive being printed and parsed again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use toml::Value;

/// Prefix of every configuration variable.
pub const ENV_PREFIX: &str = "INTEROP_PROXY_";
/// Names the configuration file when `--config` is not given; not itself a config key.
pub const CONFIG_FILE_ENV: &str = "INTEROP_PROXY_CONFIG";

/// Variables with the prefix that are not configuration keys: the file's path and the
/// log settings, which must work before (and when) the configuration fails to load.
const NON_CONFIG_ENV: [&str; 3] = [
    CONFIG_FILE_ENV,
    "INTEROP_PROXY_LOG",
    "INTEROP_PROXY_LOG_FORMAT",
];

/// The configuration variables of the process environment.
pub(super) fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            // Values of other programs' variables may be anything; only ours are converted.
            k.starts_with(ENV_PREFIX)
                .then(|| (k, v.to_string_lossy().into_owned()))
        })
        .collect()
}

/// Where a value came from, so each message can point at the line to fix.
#[derive(Clone, Debug)]
pub(super) enum Origin {
    /// The configuration file at this path.
    File(PathBuf),
    /// An environment variable; its name is what the operator has to find and fix.
    Env(String),
}

impl Origin {
    /// Where to look, as a message's closing words.
    pub(super) fn describe(&self) -> String {
        match self {
            Origin::File(p) => format!("in {}", p.display()),
            Origin::Env(var) => format!("from {var}"),
        }
    }
}

/// Metadata name of the environment.
const ENV_SOURCE: &str = "env";
/// The key under which TOML datetimes travel through serde (and so through figment).
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

/// The merged sources before conversion.
pub(super) struct Tree {
    /// The layered sources; its value tags say which source supplied each value.
    figment: Figment,
    /// The merged values, as the key table's parsers read them.
    pub(super) root: toml::Table,
    /// Dotted paths set by environment variables, with the variable that set each.
    env: HashMap<String, EnvVar>,
}

impl Tree {
    /// The source of the value at `path`; `None` when neither source sets it.
    pub(super) fn origin(&self, path: &str) -> Option<Origin> {
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

    /// The merged value at `path`, if a source sets it.
    pub(super) fn lookup(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let mut cur = self.root.get(parts.next()?)?;
        for part in parts {
            cur = cur.as_table()?.get(part)?;
        }
        Some(cur)
    }

    /// The text of the variable that set exactly `path`, before TOML parsing. The
    /// environment is the last layer, so such a variable is where the value came from.
    pub(super) fn raw(&self, path: &str) -> Option<&str> {
        self.env.get(path).map(|var| var.raw.as_str())
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

/// Layers file < environment, reporting a file that cannot be read or parsed. Without
/// `file`, the file is the one `INTEROP_PROXY_CONFIG` names, if any.
pub(super) fn layer(
    file: Option<&Path>,
    env: &[(String, String)],
    errors: &mut Vec<String>,
) -> Tree {
    let env_file = env
        .iter()
        .find(|(k, _)| k == CONFIG_FILE_ENV)
        .map(|(_, v)| PathBuf::from(v));
    let file = file.map(Path::to_path_buf).or(env_file);
    let mut figment = Figment::new();
    if let Some(path) = file.as_deref() {
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
                    toml_error(&text, &e)
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

/// A TOML syntax error on one line, as every problem is: where, then what. toml's own
/// rendering quotes the line with a caret under it, over several lines.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let what: Vec<&str> = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let what = what.join("; ");
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = before[line_start..].chars().count() + 1;
            format!("line {line}, column {column}: {what}")
        }
        None => what,
    }
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
