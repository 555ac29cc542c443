//! Loading: the layered sources read through the key table, key by key.
//!
//! Each key is parsed on its own, with its own error, so one bad value does not hide the
//! next (figment's extraction stops at the first serde error), and a bad value leaves
//! its key at the default, so the rest of the configuration can still be checked.

use std::collections::BTreeSet;
use std::path::Path;

use super::errors::{ConfigErrors, Problems};
use super::explain::{Provenance, Source};
use super::keys::{self, KEYS};
use super::layers::{self, Origin, Tree};
use super::parse::type_name;
use super::types::*;

/// Fds kept back from the session budget for listeners, admin connections (at most
/// [`crate::admin::MAX_CONNECTIONS`]), the capability file, JWKS fetches and logging.
const FD_RESERVE: usize = 128;
/// What `RLIMIT_NOFILE` usually is when `/proc` is unavailable.
const FALLBACK_NOFILE: usize = 1024;
/// Stands in for "unlimited" so the arithmetic stays finite.
const UNLIMITED_NOFILE: usize = 1 << 20;

/// A configuration read as far as it goes, with every problem found on the way, so that
/// the files it names can be checked in the same run and reported in the same list.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The configuration; a key whose value was bad keeps its default.
    pub config: Config,
    /// Where each value came from.
    pub provenance: Provenance,
    /// Every problem, one line each; empty when the configuration is good.
    pub problems: Vec<String>,
    /// The keys those problems name: a later check of the files stays quiet about them,
    /// so a key is never reported twice.
    pub reported: BTreeSet<String>,
}

impl Loaded {
    /// The configuration and its provenance, or every problem.
    pub fn into_result(self) -> Result<(Config, Provenance), ConfigErrors> {
        if self.problems.is_empty() {
            Ok((self.config, self.provenance))
        } else {
            Err(ConfigErrors(self.problems))
        }
    }
}

impl Config {
    /// Loads from `file` (or, when `None`, the file named by `INTEROP_PROXY_CONFIG`; no
    /// file at all is fine) and the process environment. Only bad values are errors here;
    /// missing deployment settings are [`Config::check_runnable`]'s business, so `demo`
    /// can load the same way.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigErrors> {
        Self::load_from(file, &layers::process_env())
    }

    /// As [`Config::load`], with the environment given explicitly.
    pub fn load_from(
        file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Config, ConfigErrors> {
        read(file, env, false).into_result().map(|(c, _)| c)
    }

    /// [`Config::load`] followed by [`Config::check_runnable`], reporting the problems of
    /// both in one list; what `run` wants, while `demo` wants plain `load`.
    pub fn load_runnable(file: Option<&Path>) -> Result<Config, ConfigErrors> {
        Self::load_runnable_from(file, &layers::process_env())
    }

    /// As [`Config::load_runnable`], with the environment given explicitly.
    pub fn load_runnable_from(
        file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Config, ConfigErrors> {
        read(file, env, true).into_result().map(|(c, _)| c)
    }

    /// [`Config::load_runnable`] that also says where each value came from, for
    /// `check-config`.
    pub fn load_explained(file: Option<&Path>) -> Result<(Config, Provenance), ConfigErrors> {
        Self::load_explained_from(file, &layers::process_env())
    }

    /// As [`Config::load_explained`], with the environment given explicitly.
    pub fn load_explained_from(
        file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<(Config, Provenance), ConfigErrors> {
        read(file, env, true).into_result()
    }

    /// [`Config::load_explained`] that returns the configuration even when it has
    /// problems, with the problems and the keys they name: `run` and `check-config` go on
    /// to check the key, chain and capability files, and list those problems too.
    pub fn load_all(file: Option<&Path>) -> Loaded {
        Self::load_all_from(file, &layers::process_env())
    }

    /// As [`Config::load_all`], with the environment given explicitly.
    pub fn load_all_from(file: Option<&Path>, env: &[(String, String)]) -> Loaded {
        read(file, env, true)
    }

    /// Lists what a real deployment needs but defaults cannot supply: key files, the
    /// upstream address and, in JWT mode, the token settings.
    pub fn check_runnable(&self) -> Result<(), ConfigErrors> {
        let mut problems = Problems::default();
        keys::missing_for_run(self, &mut problems);
        if problems.lines.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(problems.lines))
        }
    }

    /// How many devices the returning-device cache holds: `limits.returning_devices` if
    /// set, otherwise one per session the proxy may hold, since the devices that come
    /// back after a server restart are the ones that were connected.
    pub fn effective_returning_devices(&self) -> usize {
        self.limits
            .returning_devices
            .unwrap_or_else(|| self.effective_max_sessions())
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

/// Layers the sources, parses every key of the table, then checks the keys together and,
/// with `runnable`, what a run needs.
fn read(file: Option<&Path>, env: &[(String, String)], runnable: bool) -> Loaded {
    let mut problems = Problems::default();
    let tree = layers::layer(file, env, &mut problems.lines);
    check_names(&tree, &mut problems);
    let mut config = Config::default();
    for key in KEYS {
        let Some(value) = tree.lookup(key.path) else {
            continue;
        };
        if let Err(problem) = (key.set)(&mut config, value, tree.raw(key.path)) {
            problems.value(&tree, key.path, problem);
        }
    }
    keys::cross_checks(&config, &mut problems);
    if runnable {
        keys::missing_for_run(&config, &mut problems);
    }
    Loaded {
        config,
        provenance: provenance(&tree),
        problems: problems.lines,
        reported: problems.keys,
    }
}

/// The explained load of `check-config` without the "required to run" checks.
#[cfg(test)]
pub(super) fn load_explained_for_test(env: &[(String, String)]) -> (Config, Provenance) {
    read(None, env, false).into_result().expect("valid")
}

/// Refuses sections and keys the table does not know: a typo would otherwise be a
/// setting silently not applied.
fn check_names(tree: &Tree, problems: &mut Problems) {
    let top: Vec<&str> = keys::top_level().collect();
    let sections = keys::sections();
    let mut found = Vec::new();
    for (key, value) in &tree.root {
        if top.contains(&key.as_str()) {
            continue;
        }
        match sections.iter().find(|(s, _)| s == key) {
            None => {
                let known: Vec<&str> = top
                    .iter()
                    .copied()
                    .chain(sections.iter().map(|(s, _)| *s))
                    .collect();
                found.push((
                    key.clone(),
                    format!("unknown key; known top-level keys: {}", known.join(", ")),
                ));
            }
            Some((_, names)) => match value.as_table() {
                None => found.push((
                    key.clone(),
                    format!("expected a table ([{key}]), found {}", type_name(value)),
                )),
                Some(table) => {
                    for k in table.keys() {
                        if !names.contains(&k.as_str()) {
                            found.push((
                                format!("{key}.{k}"),
                                format!("unknown key; known keys in [{key}]: {}", names.join(", ")),
                            ));
                        }
                    }
                }
            },
        }
    }
    for (path, problem) in found {
        problems.value(tree, &path, problem);
    }
}

/// Where every key's value came from; a key no source sets is the built-in default.
fn provenance(tree: &Tree) -> Provenance {
    let sources = KEYS
        .iter()
        .map(|key| {
            let source = match tree.origin(key.path) {
                Some(Origin::Env(var)) => Source::Env(var),
                Some(Origin::File(path)) => Source::File(path),
                None => Source::Default,
            };
            (key.path.to_string(), source)
        })
        .collect();
    Provenance(sources)
}
